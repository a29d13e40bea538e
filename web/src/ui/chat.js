// The open conversation: header, the message log, the composer.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html, Avatar, Ticks, icon } from './common.js';
import { systemText } from './text.js';
import { clockTime, fullTime, isGroup, lastSeenText, peerOf } from '../util.js';
import { IMAGE_TYPES, MAX_BODY } from '../client.js';

export function ChatPane({ client, state, onBack, onGroupInfo, onOpenImage }) {
  const id = state.openId;
  if (!id) {
    return html`
      <main class="chat empty">
        <div class="empty-chat">
          <svg viewBox="0 0 64 64" class="brand-mark big" aria-hidden="true"><rect width="64" height="64" rx="14" /><path d="M16 18h32a6 6 0 0 1 6 6v14a6 6 0 0 1-6 6H30l-10 8v-8h-4a6 6 0 0 1-6-6V24a6 6 0 0 1 6-6z" /></svg>
          <h2>natter</h2>
          <p>Pick a chat on the left, or start a new one.</p>
        </div>
      </main>`;
  }
  const c = state.conversations.get(id);
  return html`
    <main class="chat" key=${id}>
      <${ChatHeader} client=${client} state=${state} id=${id} onBack=${onBack} onGroupInfo=${onGroupInfo} />
      <${MessageLog} client=${client} state=${state} id=${id} onOpenImage=${onOpenImage} />
      ${c?.left
        ? html`<p class="left-note">You are no longer a member of this group.</p>`
        : state.connection === 'replaced'
          ? html`<p class="left-note">natter is open in another tab. <button type="button" class="link" onClick=${() => client.takeOver()}>Use here</button></p>`
          : html`<${Composer} client=${client} id=${id} />`}
    </main>`;
}

function ChatHeader({ client, state, id, onBack, onGroupInfo }) {
  const me = state.me.user_id;
  const group = isGroup(id);
  const peer = group ? null : peerOf(id, me);
  const title = client.title(id);
  const typists = client.typists(id);
  let status = '';
  if (typists.length) {
    status = group ? `${typists.map((u) => client.displayName(u)).join(', ')} typing…` : 'typing…';
  } else if (group && state.conversations.get(id)?.left) {
    status = 'You are no longer a member';
  } else if (group) {
    const g = state.groups.get(id.slice(2));
    const n = g?.members.length;
    status = g ? `${n} ${n === 1 ? 'member' : 'members'}: ${g.members.map((m) => client.displayName(m.user_id)).join(', ')}` : '';
  } else if (peer === me) {
    status = 'Notes to yourself';
  } else {
    const p = state.connection === 'online' ? state.presence.get(peer) : null;
    status = p ? (p.status === 'online' ? 'online' : lastSeenText(p.last_seen)) : '';
  }
  return html`
    <header class="chat-head">
      <button type="button" class="icon-button back" onClick=${onBack} aria-label="Back">${icon('back')}</button>
      <${Avatar} client=${client} user=${peer ? state.users.get(peer) : null} name=${title} id=${peer || id} size=${40} />
      <div class="chat-title">
        <h2>${title}</h2>
        <p class=${`chat-status${typists.length ? ' typing' : ''}`} data-testid="chat-status" aria-live="polite">${status}</p>
      </div>
      ${group ? html`<button type="button" class="icon-button" onClick=${onGroupInfo} aria-label="Group info" title="Group info">${icon('info')}</button>` : null}
    </header>`;
}

function dayLabel(ts) {
  const d = new Date(ts);
  const today = new Date();
  const yesterday = new Date(Date.now() - 86_400_000);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
}

function MessageLog({ client, state, id, onOpenImage }) {
  const ref = useRef(null);
  const atBottom = useRef(true);
  const lastHeight = useRef(0);
  const me = state.me.user_id;
  const group = isGroup(id);
  const messages = state.messages;
  const pending = client.outboxFor(id);
  const firstId = messages[0]?.message_id;
  const lastKey = `${messages.at(-1)?.message_id}|${pending.length}`;
  // One's own new message is followed even from higher up.
  const pendingCount = useRef(pending.length);
  if (pending.length > pendingCount.current) atBottom.current = true;
  pendingCount.current = pending.length;

  // Older messages went on top: keep what the reader sees in place.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (atBottom.current) el.scrollTop = el.scrollHeight;
    else if (lastHeight.current) el.scrollTop += el.scrollHeight - lastHeight.current;
    lastHeight.current = el.scrollHeight;
  }, [firstId]);

  // New messages at the bottom: follow them when the reader was there.
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
    if (el) lastHeight.current = el.scrollHeight;
  }, [lastKey]);

  // A short history does not fill the log: load more until it does.
  useEffect(() => {
    const el = ref.current;
    if (el && el.scrollHeight <= el.clientHeight + 40 && !state.history.complete && !state.history.loading) client.loadOlder();
  });

  const onScroll = () => {
    const el = ref.current;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    lastHeight.current = el.scrollHeight;
    if (el.scrollTop < 120) client.loadOlder();
  };

  const items = [];
  let day = '';
  let prevFrom = null;
  for (const m of messages) {
    const d = dayLabel(m.ts);
    if (d !== day) {
      items.push(html`<li class="day" key=${`day-${m.seq}`}><span>${d}</span></li>`);
      day = d;
      prevFrom = null;
    }
    if (m.kind === 'system') {
      items.push(html`<li class="system" data-testid="system-message" data-seq=${m.seq} key=${m.message_id}><span>${systemText(client, m)}</span></li>`);
      prevFrom = null;
      continue;
    }
    const mine = m.from.user === me;
    const showName = group && !mine && prevFrom !== m.from.user;
    prevFrom = m.from.user;
    items.push(html`<${Message} key=${m.message_id} client=${client} m=${m} mine=${mine} showName=${showName}
      status=${mine ? client.statusOf(m) : null} onOpenImage=${onOpenImage} />`);
  }
  for (const o of pending) {
    items.push(html`<${PendingMessage} key=${o.client_msg_id} client=${client} o=${o} />`);
  }
  const h = state.history;
  return html`
    <div class="log-scroll" ref=${ref} onScroll=${onScroll} role="log" aria-label="Messages" aria-busy=${h.loading ? 'true' : 'false'}>
      <ul class="log">
        <li class="history-edge" key="edge">
          ${h.loading ? html`<span>Loading older messages…</span>` : h.complete ? html`<span>Beginning of the conversation</span>` : null}
        </li>
        ${items}
      </ul>
    </div>`;
}

// Web addresses in a message become links (http and https only: nothing
// else can become an href); the rest stays text, escaped by Preact.
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/g;
function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    const trail = /[.,;:!?)\]'"]+$/.exec(url); // punctuation after a link is the sentence's
    if (trail) url = url.slice(0, -trail[0].length);
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(html`<a href=${url} target="_blank" rel="noopener noreferrer nofollow">${url}</a>`);
    last = match.index + url.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function Message({ client, m, mine, showName, status, onOpenImage }) {
  const name = client.displayName(m.from.user);
  return html`
    <li class=${`message ${mine ? 'mine' : 'theirs'}`} data-testid="message" data-mine=${mine ? 'true' : 'false'}
      data-seq=${m.seq} data-status=${mine ? status : undefined}>
      <div class=${`bubble${m.kind === 'image' ? ' has-image' : ''}`}>
        ${showName ? html`<span class="sender">${name}</span>` : null}
        ${!showName && !mine ? html`<span class="visually-hidden">${name}: </span>` : null}
        ${m.kind === 'image' ? html`<${MessageImage} client=${client} a=${m.attachment} caption=${m.body} onOpen=${onOpenImage} />` : null}
        ${m.body ? html`<p class="text" data-testid="message-text">${linkify(m.body)}</p>` : null}
        <span class="meta">
          <time datetime=${new Date(m.ts).toISOString()} title=${fullTime(m.ts)}>${clockTime(m.ts)}</time>
          ${mine ? html`<${Ticks} status=${status} />` : null}
        </span>
      </div>
    </li>`;
}

function PendingMessage({ client, o }) {
  const localUrl = useMemo(() => (o.image?.blob ? URL.createObjectURL(o.image.blob) : null), [o.client_msg_id]);
  useEffect(() => () => localUrl && URL.revokeObjectURL(localUrl), [localUrl]);
  return html`
    <li class="message mine" data-testid="message" data-mine="true" data-status="pending">
      <div class=${`bubble${o.image ? ' has-image' : ''}`}>
        ${o.image ? html`
          <div class="image-frame" style=${frameStyle(o.image)}>
            <img src=${localUrl} alt=${o.body || 'Image'} />
            ${o.progress !== null && o.progress !== undefined && !o.attachment ? html`
              <progress aria-label="Uploading image" max="100" value=${Math.round(o.progress * 100)}></progress>` : null}
          </div>` : null}
        ${o.body ? html`<p class="text" data-testid="message-text">${o.body}</p>` : null}
        <span class="meta">
          ${o.error ? null : html`<time>${clockTime(o.created)}</time>`}
          <${Ticks} status="pending" />
        </span>
        ${o.error ? html`
          <div class="send-failed" role="alert">
            <span>Not sent: ${o.error}</span>
            <button type="button" class="link" onClick=${() => client.retry(o.client_msg_id)}>Retry</button>
            <button type="button" class="link" onClick=${() => client.discard(o.client_msg_id)}>Delete</button>
          </div>` : null}
      </div>
    </li>`;
}

function frameStyle(a) {
  if (!a.width || !a.height) return { width: '240px', aspectRatio: '4 / 3' };
  const w = Math.min(280, a.width);
  return { width: `${w}px`, aspectRatio: `${a.width} / ${a.height}` };
}

function thumbnailUri(b64) {
  if (!b64) return null;
  const type = b64.startsWith('/9j/') ? 'image/jpeg' : b64.startsWith('iVBOR') ? 'image/png' : b64.startsWith('R0lG') ? 'image/gif' : b64.startsWith('UklG') ? 'image/webp' : null;
  return type ? `data:${type};base64,${b64}` : null;
}

function MessageImage({ client, a, caption, onOpen }) {
  const [url, setUrl] = useState(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    client.mediaUrl(a.media_id).then((u) => live && setUrl(u)).catch(() => live && setFailed(true));
    return () => { live = false; };
  }, [a.media_id]);
  const thumb = thumbnailUri(a.thumbnail);
  const alt = caption || 'Image';
  return html`
    <button type="button" class="image-frame" style=${frameStyle(a)} aria-label="Open image" disabled=${!url}
      onClick=${() => url && onOpen({ url, alt, a })}>
      ${url ? html`<img src=${url} alt=${alt} width=${a.width} height=${a.height} />`
        : thumb ? html`<img class="thumb" src=${thumb} alt=${alt} />`
        : html`<span class="image-placeholder">${failed ? 'Image unavailable' : 'Loading image…'}</span>`}
    </button>`;
}

function Composer({ client, id }) {
  const [text, setText] = useState(() => sessionStorage.getItem(`natter.draft.${id}`) || '');
  const area = useRef(null);
  const file = useRef(null);
  const length = [...text].length;
  const over = length > MAX_BODY;

  useEffect(() => { area.current?.focus({ preventScroll: true }); }, [id]);
  useLayoutEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }, [text]);

  const update = (v) => {
    setText(v);
    if (v) sessionStorage.setItem(`natter.draft.${id}`, v);
    else sessionStorage.removeItem(`natter.draft.${id}`);
    if (v.trim()) client.typing(id);
    else client.sendTyping(id, 'stop');
  };

  const send = async (e) => {
    e?.preventDefault();
    const value = area.current?.value ?? text;
    if (!value.trim() || [...value].length > MAX_BODY) return;
    update(''); // cleared at once: the outbox has it now
    try {
      await client.sendText(id, value);
    } catch (err) {
      update(value);
      client.toast(err.message);
    }
  };

  const onKey = (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) send(e);
  };

  const pick = async (e) => {
    const f = e.currentTarget.files?.[0];
    e.currentTarget.value = '';
    if (!f) return;
    const caption = area.current?.value ?? '';
    const useCaption = [...caption].length <= MAX_BODY;
    if (useCaption) update('');
    try {
      await client.sendImage(id, f, useCaption ? caption : '');
    } catch (err) {
      if (useCaption) update(caption);
      client.toast(err.message);
    }
  };

  return html`
    <form class="composer" aria-label="Send a message" onSubmit=${send}>
      <label class="icon-button attach" title="Attach image">
        ${icon('attach')}
        <span class="visually-hidden">Attach image</span>
        <input ref=${file} type="file" class="visually-hidden" accept=${IMAGE_TYPES.join(',')} onChange=${pick} />
      </label>
      <label class="visually-hidden" for=${`composer-${id}`}>Message</label>
      <textarea id=${`composer-${id}`} ref=${area} rows="1" placeholder="Message" value=${text}
        onInput=${(e) => update(e.currentTarget.value)} onKeyDown=${onKey} onBlur=${() => client.sendTyping(id, 'stop')}
        aria-describedby=${over ? `count-${id}` : undefined}></textarea>
      ${length > MAX_BODY - 50 ? html`<span id=${`count-${id}`} class=${`count${over ? ' over' : ''}`}
        title=${`A message is at most ${MAX_BODY} characters`}>${over ? `${length - MAX_BODY} over the ${MAX_BODY}-character limit` : MAX_BODY - length}</span>` : null}
      <button type="submit" class="icon-button send" aria-label="Send" title="Send" disabled=${!text.trim() || over}>${icon('send')}</button>
    </form>`;
}
