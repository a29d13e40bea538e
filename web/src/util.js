// Small helpers shared by the client's modules: ids, conversation ids, text.

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Ids are decimal strings of 64-bit numbers: compare them as numbers.
export function idLess(a, b) {
  return BigInt(a) < BigInt(b);
}

// d:<low>:<high> for a 1:1 chat (PROTOCOL.md, "Conversations and history").
export function directId(a, b) {
  return idLess(a, b) ? `d:${a}:${b}` : `d:${b}:${a}`;
}

export function groupConversationId(groupId) {
  return `g:${groupId}`;
}

export function isGroup(conversationId) {
  return conversationId.startsWith('g:');
}

export function groupIdOf(conversationId) {
  return conversationId.slice(2);
}

// The other participant of a 1:1 chat (oneself for a chat with oneself).
export function peerOf(conversationId, me) {
  const [, a, b] = conversationId.split(':');
  return a === me ? b : a;
}

export function targetOf(conversationId, me) {
  return isGroup(conversationId) ? { group: groupIdOf(conversationId) } : { user: peerOf(conversationId, me) };
}

export function conversationOfTarget(to, me) {
  return to.group ? groupConversationId(to.group) : directId(me, to.user);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function shortTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return timeFormat.format(d);
  return dayFormat.format(d);
}

export function clockTime(ts) {
  return ts ? timeFormat.format(new Date(ts)) : '';
}

export function fullTime(ts) {
  return ts ? fullFormat.format(new Date(ts)) : '';
}

export function lastSeenText(ts) {
  if (!ts) return 'offline';
  const d = new Date(ts);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return `last seen today at ${timeFormat.format(d)}`;
  return `last seen ${fullFormat.format(d)}`;
}

export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = parts.slice(0, 2).map((p) => [...p][0]);
  return (letters.join('') || '?').toUpperCase();
}

// A stable colour per id, dark enough for white text (WCAG AA at 4.5:1).
const palette = ['#0f766e', '#1d4ed8', '#7c3aed', '#b91c1c', '#a21caf', '#15803d', '#c2410c', '#0369a1', '#4d7c0f', '#be185d'];
export function colourOf(id) {
  let h = 0;
  for (const c of String(id)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return palette[h % palette.length];
}

export function sleepUntil(ms, signal) {
  // A timer the connection manager can cancel: used for its backoff only.
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
