// The client's model: session, cache, WebSocket, outbox and everything the
// screens show. The UI reads `client.state` and calls the actions below;
// every change calls `changed()`, which re-renders once per task.
import { Api, ApiError, loadSession } from './api.js';
import { openCache, dropCache, messagesBefore, putMessages, pruneMessages } from './db.js';
import {
  uuid, directId, groupConversationId, isGroup, groupIdOf, peerOf, targetOf, conversationOfTarget,
} from './util.js';

const PAGE = 50;
const CACHE_PER_CONVERSATION = 2000;
const ACK_BATCH = 64;
const ACK_DELAY_MS = 100;
const KEEPALIVE_MS = 25_000;
const PONG_DEADLINE_MS = 10_000;
const TYPING_EVERY_MS = 3_000;
const TYPING_SHOWN_MS = 6_000;
const MAX_BACKOFF_MS = 30_000;
export const MAX_BODY = 500;
export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];
export const MAX_IMAGE_BYTES = 16 * 1024 * 1024;

function codePoints(s) {
  return [...s].length;
}

export class Client {
  constructor() {
    this.api = new Api();
    this.api.onSignedOut = (reason) => this.ended(reason);
    this.listeners = new Set();
    this.scheduled = false;
    this.state = this.emptyState();
    this.ws = null;
    this.connecting = false;
    this.db = null;
    this.backoff = 0;
    this.reconnectTimer = null;
    this.ackIds = [];
    this.ackTimer = null;
    this.inflight = null;
    this.lastRead = new Map();
    this.typingSent = new Map();
    this.mediaUrls = new Map();
    this.profileRequests = new Map();
    this.groupRequests = new Map();
    this.uploads = new Map();
    this.pingTimer = null;
    this.pongDeadline = null;
    this.watchKey = '';
    window.addEventListener('online', () => this.connectSoon(0));
    window.addEventListener('offline', () => this.wentOffline());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        if (!this.ws && this.state.phase === 'ready' && this.state.connection !== 'replaced') this.connectSoon(0);
        this.markRead();
      }
    });
  }

  emptyState() {
    return {
      phase: 'loading', // loading | signedOut | ready
      notice: '',
      me: null,
      connection: 'connecting', // connecting | online | offline | replaced
      syncing: true,
      conversations: new Map(),
      users: new Map(),
      groups: new Map(),
      openId: null,
      messages: [],
      history: { loading: false, complete: false },
      receipts: new Map(),
      presence: new Map(),
      typing: new Map(),
      outbox: new Map(),
      toast: null,
    };
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn(this.state);
    }, 0);
  }

  toast(text, kind = 'error') {
    this.state.toast = { text, kind, at: Date.now() };
    this.changed();
  }

  // ---- session ------------------------------------------------------------

  async start() {
    if (!loadSession()) {
      this.state.phase = 'signedOut';
      this.changed();
      return;
    }
    await this.enter();
  }

  async register(username, password, displayName) {
    await Api.register(username, password, displayName);
    await this.signIn(username, password);
  }

  async signIn(username, password) {
    await this.api.signIn(username, password);
    this.state = this.emptyState();
    await this.enter();
  }

  // Everything remembered about the previous session of this tab goes.
  resetCaches() {
    this.lastRead.clear();
    this.typingSent.clear();
    this.mediaUrls.clear();
    this.profileRequests.clear();
    this.groupRequests.clear();
    this.uploads.clear();
    this.watchKey = '';
    this.ackIds = [];
    this.inflight = null;
  }

  async enter() {
    this.resetCaches();
    const me = this.api.session;
    this.db = await openCache(me.user_id);
    this.state.me = { user_id: me.user_id, username: me.username, display_name: me.username };
    const [convs, users, outbox, receipts] = await Promise.all([
      this.db.getAll('conversations'), this.db.getAll('users'), this.db.getAll('outbox'), this.db.getAll('receipts'),
    ]);
    for (const c of convs) this.state.conversations.set(c.id, c);
    for (const u of users) this.state.users.set(u.user_id, u);
    for (const o of outbox) this.state.outbox.set(o.client_msg_id, { ...o, progress: null });
    for (const r of receipts) this.state.receipts.set(r.conversation_id, new Map(Object.entries(r.members)));
    const self = this.state.users.get(me.user_id);
    if (self) this.state.me = { ...this.state.me, ...self };
    this.state.phase = 'ready';
    this.changed();
    const reopen = sessionStorage.getItem('natter.open');
    if (reopen && this.state.conversations.has(reopen)) this.open(reopen);
    this.connectSoon(0);
    pruneMessages(this.db, [...this.state.conversations.keys()], CACHE_PER_CONVERSATION).catch(() => {});
    this.refreshMe();
    this.loadConversations();
  }

  // Log out: the device's tokens are revoked and this browser forgets the
  // user's data (drafts, the open chat, the cache, the outbox).
  async signOut() {
    const userId = this.api.userId;
    this.closeSocket();
    await this.api.signOut();
    this.db?.close();
    this.db = null;
    if (userId) await dropCache(userId).catch(() => {});
    forgetTabState();
    this.resetCaches();
    this.state = this.emptyState();
    this.state.phase = 'signedOut';
    this.changed();
  }

  // The server ended the session (device removed, refresh refused). The
  // cache stays, outbox included: signing in again as this user sends what
  // was typed (a new device may send it: client_msg_id is per user).
  ended(reason) {
    const unsent = this.state.outbox.size;
    this.closeSocket();
    this.db?.close();
    this.db = null;
    forgetTabState();
    this.resetCaches();
    this.state = this.emptyState();
    this.state.phase = 'signedOut';
    this.state.notice = unsent
      ? `${reason} ${unsent} unsent message${unsent === 1 ? '' : 's'} will be sent when you sign in again.`
      : reason;
    this.changed();
  }

  async refreshMe() {
    try {
      const me = await this.api.get('/v1/users/me');
      this.state.me = { ...this.state.me, ...me };
      this.storeUser(me);
    } catch (e) {
      if (e.status !== 0) console.warn('profile:', e.message);
    }
  }

  // ---- conversations -------------------------------------------------------

  conversation(id) {
    let c = this.state.conversations.get(id);
    if (!c) {
      c = { id, last_seq: 0, unread: 0, last_message: null, updated: Date.now() };
      this.state.conversations.set(id, c);
      this.saveConversation(c);
      this.fetchTitleData(id);
    }
    return c;
  }

  saveConversation(c) {
    this.db?.put('conversations', c).catch((e) => console.warn('cache:', e));
  }

  sortedConversations() {
    const list = [...this.state.conversations.values()];
    const key = (c) => c.last_message?.ts || c.updated || 0;
    return list.sort((a, b) => key(b) - key(a));
  }

  async loadConversations() {
    let r;
    try {
      r = await this.api.get('/v1/conversations?limit=500');
    } catch (e) {
      return;
    }
    const seen = new Set();
    for (const s of r.conversations) {
      seen.add(s.conversation_id);
      const c = this.conversation(s.conversation_id);
      c.last_seq = Math.max(c.last_seq || 0, s.last_seq);
      c.unread = s.conversation_id === this.state.openId && document.visibilityState === 'visible' ? 0 : s.unread;
      if (s.last_message && (!c.last_message || (c.last_message.seq || 0) <= s.last_message.seq)) c.last_message = s.last_message;
      c.left = false;
      this.saveConversation(c);
      this.fetchTitleData(c.id);
    }
    for (const c of this.state.conversations.values()) {
      if (isGroup(c.id) && !seen.has(c.id) && !c.left && c.last_seq > 0) {
        c.left = true;
        this.saveConversation(c);
      }
    }
    this.changed();
    this.updateWatch();
    if (this.state.openId) this.markRead();
  }

  title(id) {
    const me = this.state.me?.user_id;
    if (isGroup(id)) return this.state.groups.get(groupIdOf(id))?.name || this.state.conversations.get(id)?.name || 'Group';
    const peer = peerOf(id, me);
    if (peer === me) return `${this.state.me?.display_name || 'You'} (you)`;
    return this.displayName(peer);
  }

  displayName(userId) {
    if (userId === this.state.me?.user_id) return 'You';
    const u = this.state.users.get(userId);
    if (!u) this.profile(userId);
    // A deleted account's id stays on its messages; the server answers a tombstone for it.
    if (u?.deleted) return 'Deleted account';
    return u?.display_name || u?.username || '…';
  }

  fetchTitleData(id) {
    if (isGroup(id)) {
      if (!this.state.groups.has(groupIdOf(id))) this.group(groupIdOf(id));
    } else {
      this.profile(peerOf(id, this.state.me?.user_id));
    }
  }

  storeUser(u) {
    this.state.users.set(u.user_id, u);
    this.db?.put('users', u).catch(() => {});
    this.changed();
  }

  profile(userId, { fresh = false } = {}) {
    if (!fresh && this.profileRequests.has(userId)) return this.profileRequests.get(userId);
    const p = this.api.get(`/v1/users/${userId}`).then((u) => { this.storeUser(u); return u; }).catch(() => null);
    this.profileRequests.set(userId, p);
    return p;
  }

  group(groupId, { fresh = false, members = false } = {}) {
    if (!fresh && this.groupRequests.has(groupId)) return this.groupRequests.get(groupId);
    const p = this.api.get(`/v1/groups/${groupId}`).then((g) => {
      this.state.groups.set(groupId, g);
      const c = this.state.conversations.get(groupConversationId(groupId));
      if (c && c.name !== g.name) { c.name = g.name; this.saveConversation(c); }
      for (const m of g.members) {
        if (members && m.user_id !== this.state.me.user_id) this.profile(m.user_id, { fresh: true });
        else if (!this.state.users.has(m.user_id)) this.profile(m.user_id);
      }
      this.changed();
      return g;
    }).catch((e) => {
      if (e.status === 403 || e.status === 404) {
        const c = this.state.conversations.get(groupConversationId(groupId));
        if (c && !c.left) { c.left = true; this.saveConversation(c); this.changed(); }
      }
      this.groupRequests.delete(groupId);
      return null;
    });
    this.groupRequests.set(groupId, p);
    return p;
  }

  async findUser(username) {
    const name = username.trim().replace(/^@/, '').toLowerCase();
    if (!name) throw new ApiError(400, 'invalid', 'Enter a username.');
    try {
      const u = await this.api.get(`/v1/users?username=${encodeURIComponent(name)}`);
      this.storeUser(u);
      return u;
    } catch (e) {
      if (e.status === 404 || e.status === 400) throw new ApiError(404, 'not_found', `No user called “${name}”.`);
      throw e;
    }
  }

  async startChat(username) {
    const u = await this.findUser(username);
    const id = directId(this.state.me.user_id, u.user_id);
    this.conversation(id);
    await this.open(id);
    return id;
  }

  async createGroup(name, usernames) {
    const members = [];
    for (const n of usernames) {
      const u = await this.findUser(n);
      if (u.user_id !== this.state.me.user_id) members.push(u.user_id);
    }
    const r = await this.api.post('/v1/groups', { name, members });
    const c = this.conversation(r.conversation_id);
    c.name = name;
    this.saveConversation(c);
    await this.group(r.group_id, { fresh: true });
    await this.open(r.conversation_id);
    return r.conversation_id;
  }

  async addMember(groupId, username) {
    const u = await this.findUser(username);
    await this.api.post(`/v1/groups/${groupId}/members`, { user_id: u.user_id });
    await this.group(groupId, { fresh: true });
  }

  async removeMember(groupId, userId) {
    await this.api.del(`/v1/groups/${groupId}/members/${userId}`);
    if (userId === this.state.me.user_id) {
      const c = this.state.conversations.get(groupConversationId(groupId));
      if (c) { c.left = true; this.saveConversation(c); }
      this.changed();
    } else {
      await this.group(groupId, { fresh: true });
    }
  }

  // ---- the open conversation ----------------------------------------------

  async open(id) {
    if (this.state.openId !== id) {
      this.state.openId = id;
      sessionStorage.setItem('natter.open', id);
      this.state.messages = [];
      this.state.history = { loading: false, complete: false };
      this.changed();
      if (this.db) {
        const cached = await messagesBefore(this.db, id, Infinity, PAGE);
        if (this.state.openId !== id) return;
        this.mergeMessages(cached);
      }
    }
    const c = this.conversation(id);
    if (c.unread) { c.unread = 0; this.saveConversation(c); }
    this.changed();
    if (!isGroup(id)) this.profile(peerOf(id, this.state.me.user_id), { fresh: true }); // names and pictures change
    if (c.left) return; // the server answers a former member 403: the cache is all there is
    this.loadNewest(id);
    this.loadReceipts(id);
    if (isGroup(id)) this.group(groupIdOf(id), { fresh: true, members: true });
  }

  close() {
    this.state.openId = null;
    sessionStorage.removeItem('natter.open');
    this.state.messages = [];
    this.changed();
  }

  mergeMessages(list) {
    if (!list.length) return;
    const byId = new Map(this.state.messages.map((m) => [m.message_id, m]));
    for (const m of list) if (m.conversation_id === this.state.openId) byId.set(m.message_id, m);
    this.state.messages = [...byId.values()].sort((a, b) => a.seq - b.seq);
    this.changed();
  }

  // The lowest seq of the unbroken run that ends at the newest message held.
  contiguousFrom() {
    const ms = this.state.messages;
    if (!ms.length) return Infinity;
    let i = ms.length - 1;
    while (i > 0 && ms[i - 1].seq === ms[i].seq - 1) i--;
    return ms[i].seq;
  }

  historyFloor(id) {
    if (!isGroup(id)) return 1;
    const g = this.state.groups.get(groupIdOf(id));
    return g?.members.find((m) => m.user_id === this.state.me.user_id)?.joined_seq || 1;
  }

  async loadNewest(id) {
    try {
      const r = await this.api.get(`/v1/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE}`);
      await this.storeHistory(id, r.messages);
      if (this.state.openId === id) {
        // Newest first: the last is the oldest of the page.
        const oldest = r.messages.at(-1)?.seq ?? Infinity;
        this.state.history.complete = r.messages.length < PAGE && this.contiguousFrom() <= oldest;
        this.changed();
      }
      this.markRead();
    } catch (e) {
      if (e.status === 403 && isGroup(id)) this.group(groupIdOf(id), { fresh: true });
    }
  }

  async storeHistory(id, messages) {
    if (!messages.length) return;
    if (this.db) await putMessages(this.db, messages);
    const c = this.conversation(id);
    const newest = messages.reduce((a, m) => (m.seq > (a?.seq || 0) ? m : a), null);
    if (newest && newest.seq >= (c.last_message?.seq || 0)) {
      c.last_message = newest;
      c.last_seq = Math.max(c.last_seq, newest.seq);
      this.saveConversation(c);
    }
    if (this.state.openId === id) this.mergeMessages(messages);
  }

  // Older messages as the log is scrolled up: the cache first, the server
  // for what the cache does not have.
  async loadOlder() {
    const id = this.state.openId;
    const h = this.state.history;
    if (!id || h.loading || h.complete) return;
    const from = this.contiguousFrom();
    if (!Number.isFinite(from)) return; // nothing yet: the newest page comes first
    if (from <= this.historyFloor(id)) {
      h.complete = true;
      this.changed();
      return;
    }
    h.loading = true;
    this.changed();
    try {
      const cached = this.db ? await messagesBefore(this.db, id, from, PAGE) : [];
      if (cached.length && cached.at(-1).seq === from - 1 && cached.length === PAGE) {
        this.mergeMessages(cached);
      } else if (this.state.conversations.get(id)?.left) {
        this.mergeMessages(cached); // a former member may not read the server's history
        h.complete = true;
      } else {
        this.mergeMessages(cached);
        const r = await this.api.get(`/v1/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE}&before_seq=${from}`);
        await this.storeHistory(id, r.messages);
        if (this.state.openId === id && r.messages.length === 0) h.complete = true;
      }
    } catch (e) {
      if (e.status !== 0) this.toast(`Could not load older messages: ${e.message}`);
    } finally {
      h.loading = false;
      if (this.state.openId === id && this.contiguousFrom() <= this.historyFloor(id)) h.complete = true;
      this.changed();
    }
  }

  async loadReceipts(id) {
    try {
      const r = await this.api.get(`/v1/conversations/${encodeURIComponent(id)}/receipts`);
      // The server's members now: someone who left no longer holds ticks back.
      const before = this.state.receipts.get(id) || new Map();
      const map = new Map();
      for (const m of r.members) {
        const old = before.get(m.user_id) || {};
        map.set(m.user_id, {
          delivered_seq: Math.max(old.delivered_seq || 0, m.delivered_seq),
          read_seq: Math.max(old.read_seq || 0, m.read_seq),
          joined_seq: m.joined_seq ?? old.joined_seq ?? 1,
        });
      }
      this.state.receipts.set(id, map);
      this.saveReceipts(id);
      this.changed();
    } catch {
      // Ticks stay as they were; the live receipts still come.
    }
  }

  saveReceipts(id) {
    const map = this.state.receipts.get(id);
    if (map) this.db?.put('receipts', { conversation_id: id, members: Object.fromEntries(map) }).catch(() => {});
  }

  // sent → delivered → read, from the other members' watermarks.
  statusOf(m) {
    if (!m.seq) return 'pending';
    const map = this.state.receipts.get(m.conversation_id);
    if (!map) return 'sent';
    const me = this.state.me.user_id;
    const others = [...map.entries()].filter(([uid, r]) => uid !== me && (r.joined_seq || 1) <= m.seq);
    if (!others.length) return isGroup(m.conversation_id) ? 'sent' : (peerOf(m.conversation_id, me) === me ? 'read' : 'sent');
    if (others.every(([, r]) => r.read_seq >= m.seq)) return 'read';
    if (others.every(([, r]) => r.delivered_seq >= m.seq)) return 'delivered';
    return 'sent';
  }

  markRead() {
    const id = this.state.openId;
    if (!id || document.visibilityState !== 'visible' || !this.ws || this.state.connection !== 'online') return;
    const newest = this.state.messages.at(-1)?.seq || 0;
    const c = this.state.conversations.get(id);
    const upTo = newest;
    if (upTo < 1 || (this.lastRead.get(id) || 0) >= upTo) return;
    if (c && c.last_seq && upTo > c.last_seq) c.last_seq = upTo;
    this.lastRead.set(id, upTo);
    this.frame({ type: 'read', conversation_id: id, up_to_seq: upTo });
    if (c && c.unread) { c.unread = 0; this.saveConversation(c); this.changed(); }
  }

  // ---- sending -------------------------------------------------------------

  outboxFor(id) {
    return [...this.state.outbox.values()].filter((o) => o.conversation_id === id).sort((a, b) => a.created - b.created);
  }

  async sendText(id, text) {
    const body = text.trim();
    if (!body) return;
    if (codePoints(body) > MAX_BODY) throw new ApiError(413, 'too_large', `A message is at most ${MAX_BODY} characters.`);
    await this.enqueue({ conversation_id: id, to: targetOf(id, this.state.me.user_id), body });
  }

  async sendImage(id, file, caption) {
    if (!IMAGE_TYPES.includes(file.type)) throw new ApiError(400, 'invalid', 'Send a JPEG, PNG, WebP or GIF image.');
    if (file.size > MAX_IMAGE_BYTES) throw new ApiError(413, 'too_large', 'An image is at most 16 MiB.');
    if (caption && codePoints(caption) > MAX_BODY) throw new ApiError(413, 'too_large', `A caption is at most ${MAX_BODY} characters.`);
    const meta = await imageMeta(file);
    if (!meta) throw new ApiError(400, 'invalid', 'This file is not an image natter can send (JPEG, PNG, WebP or GIF).');
    const blob = file.slice(0, file.size, file.type);
    await this.enqueue({
      conversation_id: id,
      to: targetOf(id, this.state.me.user_id),
      body: caption?.trim() || undefined,
      image: { blob, mime: file.type, size: file.size, ...meta },
    });
  }

  async enqueue(entry) {
    const o = { ...entry, client_msg_id: uuid(), created: Date.now() + Math.random() / 1000, error: null };
    if (this.db) await this.db.put('outbox', o);
    this.state.outbox.set(o.client_msg_id, { ...o, progress: null });
    const c = this.conversation(o.conversation_id);
    c.updated = Date.now();
    this.saveConversation(c);
    this.sendTyping(o.conversation_id, 'stop');
    this.changed();
    this.flushOutbox();
  }

  retry(clientMsgId) {
    const o = this.state.outbox.get(clientMsgId);
    if (!o) return;
    o.error = null;
    this.db?.put('outbox', strip(o));
    this.changed();
    this.flushOutbox();
  }

  async discard(clientMsgId) {
    this.state.outbox.delete(clientMsgId);
    await this.db?.delete('outbox', clientMsgId);
    this.changed();
    this.flushOutbox();
  }

  // One send in flight at a time, oldest first: a refused send is retried
  // before the next goes, so the order typed is the order stored.
  flushOutbox() {
    if (this.inflight || !this.ws || this.state.connection !== 'online') return;
    const next = [...this.state.outbox.values()].filter((o) => !o.error).sort((a, b) => a.created - b.created)[0];
    if (!next) return;
    if (next.image && !next.attachment) {
      this.uploadImage(next);
      return;
    }
    this.inflight = next.client_msg_id;
    const f = { type: 'send', id: next.client_msg_id, client_msg_id: next.client_msg_id, to: next.to };
    if (next.body) f.body = next.body;
    if (next.attachment) f.attachment = next.attachment;
    this.frame(f);
  }

  async uploadImage(o) {
    if (this.uploads.has(o.client_msg_id)) return;
    const ctl = new AbortController();
    this.uploads.set(o.client_msg_id, ctl);
    try {
      o.progress = 0;
      this.changed();
      const { image } = o;
      const m = await this.api.post('/v1/media', { mime: image.mime, size: image.size });
      await this.api.upload(m.upload, image.blob, (p) => { o.progress = p; this.changed(); }, ctl.signal);
      o.attachment = { media_id: m.media_id, mime: image.mime, size: image.size };
      if (image.width) { o.attachment.width = image.width; o.attachment.height = image.height; }
      if (image.thumbnail) o.attachment.thumbnail = image.thumbnail;
      o.progress = 1;
      if (this.db) await this.db.put('outbox', strip(o));
    } catch (e) {
      if (e.status === 0 && e.code === 'network') {
        // Offline: the upload starts again on reconnect.
      } else if (e.status === 429 || e.status === 503) {
        // Slow down, or the server is briefly unable: try again when it says.
        setTimeout(() => this.flushOutbox(), e.retryAfterMs || 2000);
      } else {
        o.error = e.message;
        if (this.db) await this.db.put('outbox', strip(o));
      }
      o.progress = null;
    } finally {
      this.uploads.delete(o.client_msg_id);
      this.changed();
    }
    if (o.attachment) this.flushOutbox();
  }

  async onSent(f) {
    const o = this.state.outbox.get(f.client_msg_id);
    if (this.inflight === f.id) this.inflight = null;
    if (o) {
      const m = {
        message_id: f.message_id, conversation_id: f.conversation_id, seq: f.seq, ts: f.ts,
        prev_message_id: f.prev_message_id, client_msg_id: f.client_msg_id,
        from: { user: this.state.me.user_id, device: this.api.deviceId }, to: o.to,
        kind: o.attachment ? 'image' : 'text',
      };
      if (o.body) m.body = o.body;
      if (o.attachment) m.attachment = o.attachment;
      if (o.image?.blob) this.mediaUrls.set(o.attachment.media_id, { url: URL.createObjectURL(o.image.blob), expires_at: Infinity });
      this.state.outbox.delete(f.client_msg_id);
      if (this.db) {
        const tx = this.db.transaction(['messages', 'outbox'], 'readwrite');
        await Promise.all([tx.objectStore('messages').put(m), tx.objectStore('outbox').delete(f.client_msg_id), tx.done]);
      }
      this.noteMessage(m, { mine: true });
    }
    this.flushOutbox();
  }

  async onSendError(f) {
    const o = this.state.outbox.get(f.id);
    if (this.inflight === f.id) this.inflight = null;
    if (!o) return;
    if (f.code === 'rate_limited' || f.code === 'unavailable') {
      this.inflight = f.id;
      setTimeout(() => {
        if (this.inflight === f.id) this.inflight = null;
        this.flushOutbox();
      }, Math.max(200, f.retry_after_ms || 1000));
      return;
    }
    if (f.code === 'not_found' && o.attachment && /media/.test(f.message)) {
      delete o.attachment; // the upload expired: upload again
    } else {
      o.error = f.message;
    }
    if (this.db) await this.db.put('outbox', strip(o));
    this.changed();
    this.flushOutbox();
  }

  // ---- typing and presence ---------------------------------------------------

  typing(id) {
    const c = this.state.conversations.get(id);
    if (!c || !c.last_seq || c.left) return;
    const last = this.typingSent.get(id) || 0;
    if (Date.now() - last < TYPING_EVERY_MS) return;
    this.sendTyping(id, 'start');
  }

  sendTyping(id, state) {
    const c = this.state.conversations.get(id);
    if (!c || !c.last_seq || !this.ws || this.state.connection !== 'online') return;
    if (state === 'stop') {
      if (!this.typingSent.get(id)) return;
      this.typingSent.delete(id);
    } else {
      this.typingSent.set(id, Date.now());
    }
    this.frame({ type: 'typing', conversation_id: id, state });
  }

  typists(id) {
    const m = this.state.typing.get(id);
    if (!m) return [];
    const now = Date.now();
    return [...m.entries()].filter(([, until]) => until > now).map(([uid]) => uid);
  }

  // Watch the people of this user's 1:1 chats (contacts only: the server
  // refuses users it shares no conversation with).
  updateWatch(force = false) {
    if (!this.ws || this.state.connection !== 'online' || this.state.syncing) return;
    const me = this.state.me.user_id;
    const users = [...this.state.conversations.values()]
      .filter((c) => !isGroup(c.id) && c.last_seq > 0)
      .map((c) => peerOf(c.id, me)).filter((u) => u !== me).slice(0, 500).sort();
    const key = users.join(',');
    if (!force && key === this.watchKey) return;
    this.watchKey = key;
    this.frame({ type: 'presence', id: 'watch', users });
  }

  // ---- the WebSocket -------------------------------------------------------

  frame(f) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(f));
  }

  connectSoon(delay) {
    clearTimeout(this.reconnectTimer);
    if (this.state.phase !== 'ready') return;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  setConnection(s) {
    if (this.state.connection !== s) {
      this.state.connection = s;
      this.changed();
    }
  }

  wentOffline() {
    this.setConnection('offline');
    this.closeSocket();
  }

  closeSocket() {
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongDeadline);
    const ws = this.ws;
    this.ws = null;
    this.inflight = null;
    this.flushAcks(ws);
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = null;
      try { ws.close(1000); } catch { /* closing anyway */ }
    }
  }

  async connect() {
    if (this.ws || this.connecting || this.state.phase !== 'ready') return;
    if (!navigator.onLine) {
      this.setConnection('offline');
      return;
    }
    this.setConnection('connecting');
    let ticket;
    this.connecting = true;
    try {
      ticket = (await this.api.post('/v1/ws-tickets')).ticket;
    } catch (e) {
      if (this.state.phase === 'ready') this.retryLater();
      return;
    } finally {
      this.connecting = false;
    }
    if (this.ws || this.state.phase !== 'ready') return;
    if (!navigator.onLine) {
      this.setConnection('offline');
      return;
    }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws?user=${this.api.userId}&ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    this.state.syncing = true;
    ws.onopen = () => {
      this.setConnection('online');
      this.watchKey = '';
      this.lastRead.clear();
      this.pingTimer = setInterval(() => this.keepalive(), KEEPALIVE_MS);
      this.flushOutbox();
    };
    ws.onmessage = (e) => this.onFrame(e.data);
    ws.onclose = (e) => this.onClose(e);
  }

  retryLater() {
    this.ws = null;
    this.setConnection(navigator.onLine ? 'connecting' : 'offline');
    if (!navigator.onLine) return;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.backoff);
    this.backoff = Math.min(this.backoff + 1, 10);
    this.connectSoon(base / 2 + Math.random() * base / 2);
  }

  keepalive() {
    this.frame({ type: 'ping', id: 'keepalive' });
    clearTimeout(this.pongDeadline);
    this.pongDeadline = setTimeout(() => {
      // No answer: the connection is dead (sleep, a changed network).
      this.closeSocket();
      this.retryLater();
    }, PONG_DEADLINE_MS);
  }

  onClose(e) {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongDeadline);
    this.ws = null;
    this.inflight = null;
    this.ackIds = [];
    if (e.code === 4001) {
      this.api.expire('This device was signed out. Sign in again.');
      return;
    }
    if (e.code === 4002) {
      this.setConnection('replaced');
      return;
    }
    this.retryLater();
  }

  takeOver() {
    this.backoff = 0;
    this.connectSoon(0);
  }

  onFrame(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    switch (f.type) {
      case 'message': this.onMessage(f); break;
      case 'sent': this.onSent(f); break;
      case 'error': this.onError(f); break;
      case 'sync_done': this.onSyncDone(f); break;
      case 'receipt': this.onReceipt(f); break;
      case 'presence': this.onPresence(f); break;
      case 'typing': this.onTyping(f); break;
      case 'pong': clearTimeout(this.pongDeadline); break;
      default: break;
    }
  }

  onError(f) {
    if (f.id && this.state.outbox.has(f.id)) {
      this.onSendError(f);
    } else if (f.id === 'watch' && f.code === 'forbidden') {
      // A contact we no longer share a chat with: watch the rest.
      const m = /user (\d+)/.exec(f.message);
      if (m) {
        const users = this.watchKey.split(',').filter((u) => u && u !== m[1]);
        this.watchKey = users.join(',');
        this.frame({ type: 'presence', id: 'watch', users });
      }
    } else if (f.code !== 'forbidden' && f.code !== 'not_found') {
      console.warn('server:', f.code, f.message);
    }
  }

  async reloadOutbox() {
    if (!this.db) return;
    for (const o of await this.db.getAll('outbox')) {
      if (!this.state.outbox.has(o.client_msg_id)) this.state.outbox.set(o.client_msg_id, { ...o, progress: null });
    }
  }

  async onSyncDone(f) {
    await this.reloadOutbox(); // what another tab of this device left unsent
    this.profileRequests.clear(); // profiles may have changed while away: fetched again as shown
    this.backoff = 0;
    if (f.truncated) this.toast('Some messages were older than the server keeps and are gone.', 'info');
    this.changed();
    this.loadConversations();
    if (this.state.openId) {
      this.loadNewest(this.state.openId);
      this.loadReceipts(this.state.openId);
    }
    this.state.syncing = false;
    this.state.presence.clear(); // the new watch answers every status afresh
    this.updateWatch(true);
    this.flushOutbox();
  }

  async onMessage(f) {
    delete f.type;
    const ws = this.ws;
    let fresh = true;
    if (this.db) {
      fresh = !(await this.db.get('messages', f.message_id));
      if (fresh) await this.db.put('messages', f);
    }
    if (ws === this.ws) this.queueAck(f.message_id);
    if (fresh) this.noteMessage(f, { mine: f.from.user === this.state.me.user_id });
  }

  noteMessage(m, { mine }) {
    const c = this.conversation(m.conversation_id);
    // The server's list already counts what it had: only newer ones are news.
    const news = m.seq > (c.last_seq || 0);
    if (!c.last_message || m.seq >= (c.last_message.seq || 0)) c.last_message = m;
    c.last_seq = Math.max(c.last_seq || 0, m.seq);
    const open = this.state.openId === m.conversation_id && document.visibilityState === 'visible';
    if (news && !mine && m.kind !== 'system' && !open) c.unread = (c.unread || 0) + 1;
    if (m.kind === 'system') this.onSystem(m, c);
    const t = this.state.typing.get(m.conversation_id);
    if (t) t.delete(m.from.user);
    this.saveConversation(c);
    if (this.state.openId === m.conversation_id) {
      this.mergeMessages([m]);
      this.markRead();
    }
    if (!isGroup(c.id) && c.last_seq === 1) this.updateWatch();
    this.changed();
  }

  onSystem(m, c) {
    const e = m.event || {};
    const me = this.state.me.user_id;
    if (e.type === 'created' && e.name) c.name = e.name;
    if ((e.type === 'removed' || e.type === 'left') && e.user === me) c.left = true;
    if ((e.type === 'added' && e.user === me) || e.type === 'created') c.left = false;
    this.group(groupIdOf(m.conversation_id), { fresh: true });
    if (this.state.openId === c.id) this.loadReceipts(c.id);
  }

  queueAck(id) {
    this.ackIds.push(id);
    if (this.ackIds.length >= ACK_BATCH) this.flushAcks(this.ws);
    else if (!this.ackTimer) this.ackTimer = setTimeout(() => this.flushAcks(this.ws), ACK_DELAY_MS);
  }

  flushAcks(ws) {
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (!this.ackIds.length || ws?.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: 'ack', message_ids: this.ackIds.splice(0, 1024) }));
  }

  onReceipt(f) {
    const map = this.state.receipts.get(f.conversation_id) || new Map();
    const r = { delivered_seq: 0, read_seq: 0, joined_seq: 1, ...map.get(f.by) };
    if (f.status === 'read') {
      r.read_seq = Math.max(r.read_seq, f.up_to_seq);
      r.delivered_seq = Math.max(r.delivered_seq, f.up_to_seq);
    } else {
      r.delivered_seq = Math.max(r.delivered_seq, f.up_to_seq);
    }
    map.set(f.by, r);
    this.state.receipts.set(f.conversation_id, map);
    this.saveReceipts(f.conversation_id);
    if (f.by === this.state.me.user_id && f.status === 'read') {
      const c = this.state.conversations.get(f.conversation_id);
      if (c && c.unread && f.up_to_seq >= c.last_seq) { c.unread = 0; this.saveConversation(c); }
    }
    this.changed();
  }

  onPresence(f) {
    const p = { status: f.status };
    if (f.last_seen) p.last_seen = f.last_seen;
    this.state.presence.set(f.user, p);
    this.changed();
  }

  onTyping(f) {
    let m = this.state.typing.get(f.conversation_id);
    if (!m) this.state.typing.set(f.conversation_id, (m = new Map()));
    if (f.state === 'start') {
      m.set(f.user, Date.now() + TYPING_SHOWN_MS);
      setTimeout(() => this.changed(), TYPING_SHOWN_MS + 50);
    } else {
      m.delete(f.user);
    }
    this.changed();
  }

  // ---- profile, media, devices ------------------------------------------

  async saveName(name) {
    const me = await this.api.patch('/v1/users/me', { display_name: name.trim() });
    this.state.me = { ...this.state.me, ...me };
    this.storeUser(me);
  }

  async setAvatar(file) {
    if (!IMAGE_TYPES.includes(file.type)) throw new ApiError(400, 'invalid', 'Choose a JPEG, PNG, WebP or GIF image.');
    if (file.size > MAX_IMAGE_BYTES) throw new ApiError(413, 'too_large', 'An image is at most 16 MiB.');
    const m = await this.api.post('/v1/media', { mime: file.type, size: file.size });
    await this.api.upload(m.upload, file);
    const me = await this.api.patch('/v1/users/me', { avatar_media_id: m.media_id });
    this.mediaUrls.set(m.media_id, { url: URL.createObjectURL(file), expires_at: Infinity });
    this.state.me = { ...this.state.me, ...me };
    this.storeUser(me);
  }

  // A short-lived download URL for an image (GET /v1/media/{id}), cached
  // until shortly before it expires.
  async mediaUrl(mediaId) {
    const cached = this.mediaUrls.get(mediaId);
    if (cached && (cached.expires_at - Date.now() > 30_000)) return cached.promise || cached.url;
    const promise = this.api.get(`/v1/media/${mediaId}`).then((r) => {
      const url = new URL(r.download_url, location.href).href;
      this.mediaUrls.set(mediaId, { url, expires_at: r.expires_at });
      return url;
    }).catch((e) => {
      this.mediaUrls.delete(mediaId);
      throw e;
    });
    this.mediaUrls.set(mediaId, { promise, expires_at: Date.now() + 60_000 });
    return promise;
  }

  devices() {
    return this.api.get('/v1/devices').then((r) => r.devices);
  }

  removeDevice(deviceId) {
    return this.api.del(`/v1/devices/${deviceId}`);
  }
}

// This tab's drafts and open chat belong to the user who signed out.
function forgetTabState() {
  for (const k of Object.keys(sessionStorage)) if (k.startsWith('natter.')) sessionStorage.removeItem(k);
}

// An outbox entry as stored: no transient fields.
function strip(o) {
  const { progress, ...rest } = o;
  return rest;
}

// Width, height and a small JPEG thumbnail (≤ 8 KiB, PROTOCOL.md §5.3).
async function imageMeta(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const { width, height } = bitmap;
    const scale = Math.min(1, 64 / Math.max(width, height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close?.();
    let thumbnail = null;
    for (const q of [0.7, 0.5, 0.3]) {
      const b64 = canvas.toDataURL('image/jpeg', q).split(',')[1];
      if (b64 && b64.length * 0.75 <= 8000) { thumbnail = b64; break; }
    }
    const meta = { width: Math.min(width, 100000), height: Math.min(height, 100000) };
    if (thumbnail) meta.thumbnail = thumbnail;
    return meta;
  } catch {
    return null; // not an image the browser can decode
  }
}

export { conversationOfTarget };
