// How messages read in the list and the log.

export function systemText(client, m) {
  const e = m.event || {};
  const name = (id) => client.displayName(id);
  const object = (id) => (id === client.state.me?.user_id ? 'you' : name(id));
  let text;
  switch (e.type) {
    case 'created': text = `${name(e.by)} created the group “${e.name}”`; break;
    case 'added': text = `${name(e.by)} added ${object(e.user)}`; break;
    case 'removed': text = `${name(e.by)} removed ${object(e.user)}`; break;
    case 'left': text = `${name(e.user)} left`; break;
    default: text = 'The group changed';
  }
  if (e.new_admin) text += ` · ${e.new_admin === client.state.me?.user_id ? 'you are' : `${name(e.new_admin)} is`} now an admin`;
  return text;
}

export function preview(client, m) {
  if (!m) return '';
  if (m.kind === 'system') return systemText(client, m);
  const me = client.state.me?.user_id;
  let who = '';
  if (m.from?.user === me) who = 'You: ';
  else if (m.conversation_id.startsWith('g:')) who = `${client.displayName(m.from.user)}: `;
  const body = m.kind === 'image' ? `📷 ${m.body || 'Photo'}` : m.body || '';
  return who + body;
}
