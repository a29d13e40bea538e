// Shared pieces of the screens: the htm binding, avatars, dialogs.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { colourOf, initials } from '../util.js';

export const html = htm.bind(h);

// A picture when the user has one, else initials on a colour of their own.
export function Avatar({ client, user, name, id, size = 40 }) {
  const mediaId = user?.avatar_media_id;
  const [url, setUrl] = useState(null);
  useEffect(() => {
    let live = true;
    setUrl(null);
    if (mediaId) client.mediaUrl(mediaId).then((u) => live && setUrl(u)).catch(() => {});
    return () => { live = false; };
  }, [mediaId]);
  const label = name || user?.display_name || '';
  const cls = `avatar s${size}`;
  if (url) return html`<img class=${cls} src=${url} alt="" />`;
  return html`<span class=${cls} aria-hidden="true" style=${{ background: colourOf(id || user?.user_id || label) }}>${initials(label)}</span>`;
}

// A modal <dialog>: focus stays inside, Escape closes, named by its heading.
export function Dialog({ title, onClose, children, wide, returnFocus = true }) {
  const ref = useRef(null);
  const returnFocusRef = useRef(returnFocus);
  returnFocusRef.current = returnFocus;
  const titleId = useRef(`d${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    const d = ref.current;
    const before = document.activeElement;
    if (!d.open) d.showModal();
    // The first field, if there is one, rather than the Close button.
    d.querySelector('.dialog-body input:not([type=file]), .dialog-body textarea')?.focus();
    const cancel = (e) => { e.preventDefault(); onClose(); };
    d.addEventListener('cancel', cancel);
    return () => {
      d.removeEventListener('cancel', cancel);
      // Back to where the keyboard was, as a closed native dialog would.
      if (returnFocusRef.current && before && before.isConnected && typeof before.focus === 'function') before.focus();
    };
  }, []);
  const backdrop = (e) => { if (e.target === ref.current) onClose(); };
  return html`
    <dialog ref=${ref} class=${wide ? 'dialog wide' : 'dialog'} aria-labelledby=${titleId} onClick=${backdrop}>
      <header class="dialog-head">
        <h2 id=${titleId}>${title}</h2>
        <button type="button" class="icon-button" onClick=${onClose} aria-label="Close">${icon('close')}</button>
      </header>
      <div class="dialog-body">${children}</div>
    </dialog>`;
}

export function ErrorText({ error }) {
  return error ? html`<p class="form-error" role="alert">${error}</p>` : null;
}

// Inline SVG icons (no icon font: everything is served by natterd).
const paths = {
  close: 'M6 6l12 12M18 6L6 18',
  back: 'M15 5l-7 7 7 7',
  send: 'M4 12l16-8-6 16-3-7-7-1z',
  attach: 'M16.5 6.5l-7.8 7.8a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.7-5.6l-8 8a6 6 0 0 0 8.5 8.5l7-7',
  chat: 'M4 5h16v11H9l-5 4z',
  group: 'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm7 0a3 3 0 1 0 0-6M3 19c0-3 3-5 6-5s6 2 6 5m1-5c3 0 5 2 5 5',
  settings: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm7.4-3a7.4 7.4 0 0 0-.1-1.3l2-1.6-2-3.4-2.4 1a7 7 0 0 0-2.2-1.3L14.3 3h-4.6l-.4 2.4a7 7 0 0 0-2.2 1.3l-2.4-1-2 3.4 2 1.6a7.4 7.4 0 0 0 0 2.6l-2 1.6 2 3.4 2.4-1a7 7 0 0 0 2.2 1.3l.4 2.4h4.6l.4-2.4a7 7 0 0 0 2.2-1.3l2.4 1 2-3.4-2-1.6c.1-.4.1-.9.1-1.3z',
  info: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zm0-11v6m0-10v.5',
  clock: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zm0-13v5l3 2',
};

export function icon(name) {
  return html`<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d=${paths[name]} /></svg>`;
}

// ✓ sent, ✓✓ delivered, blue ✓✓ read, a clock while waiting.
export function Ticks({ status }) {
  const label = { pending: 'Waiting to send', sent: 'Sent', delivered: 'Delivered', read: 'Read' }[status];
  if (status === 'pending') return html`<span class="ticks pending" role="img" aria-label=${label} title=${label}>${icon('clock')}</span>`;
  const two = status !== 'sent';
  return html`<span class=${`ticks ${status}`} role="img" aria-label=${label} title=${label}>
    <svg viewBox="0 0 20 12" aria-hidden="true" focusable="false">
      <path d="M1 6.5l3.5 3.5L11 2.5" />${two ? html`<path d="M7 9l1 1 7.5-7.5" />` : null}
    </svg></span>`;
}
