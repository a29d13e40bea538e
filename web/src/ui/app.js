// The whole page: sign-in, or the two panes (one at a time on a phone).
import { useEffect, useState } from 'preact/hooks';
import { html } from './common.js';
import { AuthScreen } from './auth.js';
import { Sidebar } from './sidebar.js';
import { ChatPane } from './chat.js';
import { GroupInfoDialog, ImageDialog, NewChatDialog, NewGroupDialog, SettingsDialog } from './dialogs.js';
import { isGroup } from '../util.js';

function useClientState(client) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const off = client.subscribe(() => setTick((t) => t + 1));
    setTick((t) => t + 1); // a change made before this subscription
    return off;
  }, []);
  return client.state;
}

export function App({ client }) {
  const state = useClientState(client);
  const [dialog, setDialog] = useState(null);
  const [image, setImage] = useState(null);

  useEffect(() => {
    const title = state.phase === 'ready' ? [...state.conversations.values()].reduce((n, c) => n + (c.unread || 0), 0) : 0;
    document.title = title ? `(${title}) natter` : 'natter';
  });

  // A dialog belongs to the session it was opened in.
  const session = state.phase === 'ready' ? state.me?.user_id : null;
  useEffect(() => { setDialog(null); setImage(null); }, [session]);

  if (state.phase === 'loading') return html`<div class="loading" role="status">Loading…</div>`;
  if (state.phase === 'signedOut') return html`<${AuthScreen} client=${client} notice=${state.notice} />`;

  const close = () => setDialog(null);
  // After a new chat or group the keyboard goes to its composer.
  const closeToComposer = () => {
    setDialog(null);
    setTimeout(() => document.querySelector('.composer textarea')?.focus(), 0);
  };
  const open = state.openId;
  return html`
    <div class=${`shell${open ? ' has-open' : ''}`}>
      <${Sidebar} client=${client} state=${state} onNewChat=${() => setDialog('chat')}
        onNewGroup=${() => setDialog('group')} onSettings=${() => setDialog('settings')} />
      <${ChatPane} client=${client} state=${state} onBack=${() => client.close()}
        onGroupInfo=${() => setDialog('info')} onOpenImage=${setImage} />
      ${dialog === 'chat' ? html`<${NewChatDialog} client=${client} onClose=${close} onDone=${closeToComposer} />` : null}
      ${dialog === 'group' ? html`<${NewGroupDialog} client=${client} onClose=${close} onDone=${closeToComposer} />` : null}
      ${dialog === 'settings' ? html`<${SettingsDialog} client=${client} state=${state} onClose=${close} />` : null}
      ${dialog === 'info' && open && isGroup(open) ? html`<${GroupInfoDialog} client=${client} state=${state} groupId=${open.slice(2)} onClose=${close} />` : null}
      ${image ? html`<${ImageDialog} image=${image} onClose=${() => setImage(null)} />` : null}
      <${Toast} client=${client} toast=${state.toast} />
    </div>`;
}

function Toast({ client, toast }) {
  useEffect(() => {
    if (!toast) return undefined;
    const t = setTimeout(() => { if (client.state.toast === toast) { client.state.toast = null; client.changed(); } }, 6000);
    return () => clearTimeout(t);
  }, [toast]);
  if (!toast) return null;
  return html`<div class=${`toast ${toast.kind}`} role=${toast.kind === 'error' ? 'alert' : 'status'}>${toast.text}</div>`;
}
