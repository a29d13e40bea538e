// The list pane: who I am, the connection, my conversations.
import { html, Avatar, icon } from './common.js';
import { preview } from './text.js';
import { isGroup, peerOf, shortTime } from '../util.js';

export function ConnectionBar({ client, state }) {
  const s = state.connection;
  const text = {
    online: state.syncing ? 'Syncing…' : 'Connected',
    connecting: 'Connecting…',
    offline: 'You are offline. Messages will be sent when you reconnect.',
    replaced: 'natter is open in another tab or window.',
  }[s];
  const quiet = s === 'online' && !state.syncing;
  return html`
    <div class=${`connection ${s}${quiet ? ' quiet' : ''}`} data-testid="connection" data-state=${s === 'replaced' ? 'offline' : s} role="status">
      <span class=${quiet ? 'visually-hidden' : ''}>${text}</span>
      ${s === 'replaced' ? html`<button type="button" class="link" onClick=${() => client.takeOver()}>Use here</button>` : null}
    </div>`;
}

export function Sidebar({ client, state, onNewChat, onNewGroup, onSettings }) {
  const me = state.me;
  const list = client.sortedConversations();
  return html`
    <aside class="sidebar" aria-label="Chats">
      <h1 class="visually-hidden">natter</h1>
      <header class="sidebar-head">
        <div class="me">
          <${Avatar} client=${client} user=${state.users.get(me.user_id) || me} name=${me.display_name} id=${me.user_id} size=${40} />
          <span class="me-name">${me.display_name}</span>
        </div>
        <div class="head-actions">
          <button type="button" class="icon-button" onClick=${onNewChat} aria-label="New chat" title="New chat">${icon('chat')}</button>
          <button type="button" class="icon-button" onClick=${onNewGroup} aria-label="New group" title="New group">${icon('group')}</button>
          <button type="button" class="icon-button" onClick=${onSettings} aria-label="Settings" title="Settings: profile, devices, log out">${icon('settings')}</button>
        </div>
      </header>
      <${ConnectionBar} client=${client} state=${state} />
      <nav class="conversations" aria-label="Conversations">
        ${list.length === 0 ? html`
          <div class="empty-list">
            <p>No chats yet.</p>
            <button type="button" class="primary" onClick=${onNewChat}>Start a chat</button>
          </div>` : html`
          <ul>
            ${list.map((c) => html`<${ConversationItem} key=${c.id} client=${client} state=${state} c=${c} />`)}
          </ul>`}
      </nav>
    </aside>`;
}

function ConversationItem({ client, state, c }) {
  const me = state.me.user_id;
  const group = isGroup(c.id);
  const peer = group ? null : peerOf(c.id, me);
  const title = client.title(c.id);
  const typists = client.typists(c.id);
  const pending = client.outboxFor(c.id);
  let line = preview(client, c.last_message);
  if (pending.length) line = `You: ${pending.at(-1).body || '📷 Photo'}`;
  if (typists.length) line = group ? `${client.displayName(typists[0])} is typing…` : 'typing…';
  const online = peer && peer !== me && state.connection === 'online' && state.presence.get(peer)?.status === 'online';
  const selected = state.openId === c.id;
  return html`
    <li>
      <button type="button" class=${`conversation${selected ? ' selected' : ''}`} aria-current=${selected ? 'true' : undefined}
        onClick=${() => client.open(c.id)}>
        <span class="avatar-wrap">
          <${Avatar} client=${client} user=${peer ? state.users.get(peer) : null} name=${title} id=${peer || c.id} size=${48} />
          ${online ? html`<span class="online-dot"><span class="visually-hidden">online</span></span>` : null}
        </span>
        <span class="conversation-main">
          <span class="conversation-top">
            <span class="conversation-title">${title}</span>
            <span class="conversation-time">${shortTime(pending.length ? pending.at(-1).created : c.last_message?.ts)}</span>
          </span>
          <span class="conversation-bottom">
            <span class=${`conversation-preview${typists.length ? ' typing' : ''}`}>${c.left ? 'You are no longer a member' : line}</span>
            ${c.unread ? html`<span class="unread">${c.unread}<span class="visually-hidden"> unread</span></span>` : null}
          </span>
        </span>
      </button>
    </li>`;
}
