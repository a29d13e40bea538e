// New chat, new group, group info, settings and the image viewer.
import { useEffect, useState } from 'preact/hooks';
import { html, Avatar, Dialog, ErrorText } from './common.js';
import { fullTime } from '../util.js';

function useBusy() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const run = async (fn) => {
    setBusy(true);
    setError('');
    try {
      await fn();
      return true;
    } catch (e) {
      setError(e.status === 0 ? 'Cannot reach the server. Try again when you are online.' : e.message);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

export function NewChatDialog({ client, onClose, onDone }) {
  const [username, setUsername] = useState('');
  const [done, setDone] = useState(false);
  const { busy, error, run } = useBusy();
  const submit = async (e) => {
    e.preventDefault();
    if (await run(() => client.startChat(username))) { setDone(true); onDone(); }
  };
  return html`
    <${Dialog} title="New chat" onClose=${onClose} returnFocus=${!done}>
      <form onSubmit=${submit}>
        <label class="field">
          <span>Username</span>
          <input autocapitalize="none" spellcheck="false" autocomplete="off" value=${username}
            onInput=${(e) => setUsername(e.currentTarget.value)} />
        </label>
        <${ErrorText} error=${error} />
        <div class="actions"><button class="primary" type="submit" disabled=${busy || !username.trim()}>Start chat</button></div>
      </form>
    </${Dialog}>`;
}

export function NewGroupDialog({ client, onClose, onDone }) {
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const [done, setDone] = useState(false);
  const { busy, error, run, setError } = useBusy();
  const submit = async (e) => {
    e.preventDefault();
    const names = members.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
    if (!name.trim()) { setError('Give the group a name.'); return; }
    if ([...name.trim()].length > 100) { setError('A group name is at most 100 characters.'); return; }
    if (await run(() => client.createGroup(name.trim(), names))) { setDone(true); onDone(); }
  };
  return html`
    <${Dialog} title="New group" onClose=${onClose} returnFocus=${!done}>
      <form onSubmit=${submit}>
        <label class="field">
          <span>Group name</span>
          <input maxlength="100" value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Members</span>
          <input autocapitalize="none" spellcheck="false" aria-describedby="members-hint" value=${members}
            onInput=${(e) => setMembers(e.currentTarget.value)} />
          <small id="members-hint">Usernames, separated by commas or spaces.</small>
        </label>
        <${ErrorText} error=${error} />
        <div class="actions"><button class="primary" type="submit" disabled=${busy}>Create group</button></div>
      </form>
    </${Dialog}>`;
}

export function GroupInfoDialog({ client, state, groupId, onClose }) {
  const left = state.conversations.get(`g:${groupId}`)?.left;
  const g = left ? null : state.groups.get(groupId);
  const me = state.me.user_id;
  const [username, setUsername] = useState('');
  const { busy, error, run } = useBusy();
  useEffect(() => { if (!left) client.group(groupId, { fresh: true, members: true }); }, [groupId, left]);
  const admin = g?.members.find((m) => m.user_id === me)?.role === 'admin';
  const add = async (e) => {
    e.preventDefault();
    if (await run(() => client.addMember(groupId, username))) setUsername('');
  };
  const leave = async () => {
    if (await run(() => client.removeMember(groupId, me))) onClose();
  };
  return html`
    <${Dialog} title="Group info" onClose=${onClose}>
      ${g ? html`
        <p class="group-name">${g.name}</p>
        <p class="muted">Created ${fullTime(g.created_at)} · ${g.members.length} ${g.members.length === 1 ? 'member' : 'members'}</p>
        <h3>Members</h3>
        <ul class="members" aria-label="Members">
          ${g.members.map((m) => {
            const u = state.users.get(m.user_id);
            const name = m.user_id === me ? 'You' : client.displayName(m.user_id);
            return html`
              <li key=${m.user_id}>
                <${Avatar} client=${client} user=${u} name=${u?.display_name || name} id=${m.user_id} size=${32} />
                <span class="member-name">${name}${u && m.user_id !== me ? html` <span class="muted">@${u.username}</span>` : null}</span>
                ${m.role === 'admin' ? html`<span class="badge">admin</span>` : null}
                ${admin && m.user_id !== me ? html`
                  <button type="button" class="link danger" disabled=${busy} aria-label=${`Remove ${name}`}
                    onClick=${() => run(() => client.removeMember(groupId, m.user_id))}>Remove</button>` : null}
              </li>`;
          })}
        </ul>
        ${admin ? html`
          <form class="inline-form" onSubmit=${add}>
            <label class="field grow">
              <span>Add member</span>
              <input autocapitalize="none" spellcheck="false" placeholder="username" value=${username}
                onInput=${(e) => setUsername(e.currentTarget.value)} />
            </label>
            <button class="primary" type="submit" disabled=${busy || !username.trim()}>Add</button>
          </form>` : null}
        <${ErrorText} error=${error} />
        <div class="actions"><button type="button" class="danger-button" disabled=${busy} onClick=${leave}>Leave group</button></div>`
        : html`<p class="muted">${left ? 'You are no longer a member of this group.' : error || 'Loading…'}</p>`}
    </${Dialog}>`;
}

export function SettingsDialog({ client, state, onClose }) {
  const me = state.me;
  const [name, setName] = useState(me.display_name || '');
  const [edited, setEdited] = useState(false);
  // The profile may arrive after the dialog opened: show it until edited.
  useEffect(() => { if (!edited) setName(me.display_name || ''); }, [me.display_name]);
  const [devices, setDevices] = useState(null);
  const [saved, setSaved] = useState('');
  const { busy, error, run } = useBusy();
  const loadDevices = () => client.devices().then(setDevices).catch(() => setDevices([]));
  useEffect(() => { loadDevices(); }, []);
  const saveName = async (e) => {
    e.preventDefault();
    setSaved('');
    if (await run(() => client.saveName(name))) setSaved('Name saved.');
  };
  const avatar = async (e) => {
    const f = e.currentTarget.files?.[0];
    e.currentTarget.value = '';
    setSaved('');
    if (f && await run(() => client.setAvatar(f))) setSaved('Profile picture updated.');
  };
  return html`
    <${Dialog} title="Settings" onClose=${onClose}>
      <div class="profile">
        <${Avatar} client=${client} user=${state.users.get(me.user_id) || me} name=${me.display_name} id=${me.user_id} size=${72} />
        <div>
          <p class="profile-name">${me.display_name}</p>
          <p class="muted">@${me.username}</p>
          <label class="file-button">
            <span>Profile picture</span>
            <input type="file" class="visually-hidden" accept="image/jpeg,image/png,image/webp,image/gif" onChange=${avatar} />
          </label>
        </div>
      </div>
      <form class="inline-form" onSubmit=${saveName}>
        <label class="field grow">
          <span>Display name</span>
          <input maxlength="50" value=${name} onInput=${(e) => { setEdited(true); setName(e.currentTarget.value); }} />
        </label>
        <button class="primary" type="submit" disabled=${busy || !name.trim() || name.trim() === me.display_name}>Save name</button>
      </form>
      <${ErrorText} error=${error} />
      ${saved ? html`<p class="ok" role="status">${saved}</p>` : null}
      <h3>Devices</h3>
      ${devices === null ? html`<p class="muted">Loading…</p>` : html`
        <ul class="devices" aria-label="Devices">
          ${devices.map((d) => html`
            <li key=${d.device_id}>
              <span class="device-name">${d.device_name}${d.current ? html` <span class="badge">this device</span>` : null}</span>
              <span class="muted">last seen ${fullTime(d.last_seen)}</span>
              ${d.current ? null : html`
                <button type="button" class="link danger" aria-label=${`Remove ${d.device_name}`} disabled=${busy}
                  onClick=${async () => { if (await run(() => client.removeDevice(d.device_id))) loadDevices(); }}>Remove</button>`}
            </li>`)}
        </ul>`}
      <div class="actions"><button type="button" class="danger-button" onClick=${() => client.signOut()}>Log out</button></div>
    </${Dialog}>`;
}

export function ImageDialog({ image, onClose }) {
  return html`
    <${Dialog} title="Image" onClose=${onClose} wide>
      <figure class="full-image">
        <img src=${image.url} alt="Full image" />
        ${image.alt && image.alt !== 'Image' ? html`<figcaption>${image.alt}</figcaption>` : null}
      </figure>
      <div class="actions"><a class="link" href=${image.url} target="_blank" rel="noopener">Open in a new tab</a></div>
    </${Dialog}>`;
}
