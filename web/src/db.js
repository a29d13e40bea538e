// The local cache in IndexedDB, one database per user: conversations,
// messages, profiles, receipts and the outbox of messages not yet `sent`.
// What is stored here is what a reload shows before the server answers.
import { openDB, deleteDB } from 'idb';

const VERSION = 1;

export async function openCache(userId) {
  return openDB(`natter-${userId}`, VERSION, {
    upgrade(db) {
      db.createObjectStore('conversations', { keyPath: 'id' });
      const messages = db.createObjectStore('messages', { keyPath: 'message_id' });
      messages.createIndex('bySeq', ['conversation_id', 'seq']);
      db.createObjectStore('outbox', { keyPath: 'client_msg_id' });
      db.createObjectStore('users', { keyPath: 'user_id' });
      db.createObjectStore('receipts', { keyPath: 'conversation_id' });
    },
    blocking() {
      // Another tab upgrades the schema: let it.
    },
  });
}

export function dropCache(userId) {
  return deleteDB(`natter-${userId}`);
}

// The newest `limit` messages of a conversation with seq < before (all when
// before is Infinity), oldest first.
export async function messagesBefore(db, conversationId, before, limit) {
  const upper = Number.isFinite(before) ? before - 1 : Number.MAX_SAFE_INTEGER;
  if (upper < 1) return [];
  const range = IDBKeyRange.bound([conversationId, 0], [conversationId, upper]);
  const out = [];
  let cursor = await db.transaction('messages').store.index('bySeq').openCursor(range, 'prev');
  while (cursor && out.length < limit) {
    out.push(cursor.value);
    cursor = await cursor.continue();
  }
  return out.reverse();
}

export async function putMessages(db, messages) {
  const tx = db.transaction('messages', 'readwrite');
  await Promise.all([...messages.map((m) => tx.store.put(m)), tx.done]);
}

// A limit on the cache: the newest `keep` messages of each conversation stay
// (older ones are read from the server's history when scrolled to).
export async function pruneMessages(db, conversationIds, keep) {
  for (const id of conversationIds) {
    const range = IDBKeyRange.bound([id, 0], [id, Number.MAX_SAFE_INTEGER]);
    const tx = db.transaction('messages', 'readwrite');
    const index = tx.store.index('bySeq');
    const count = await index.count(range);
    let excess = count - keep;
    let cursor = excess > 0 ? await index.openCursor(range, 'next') : null;
    while (cursor && excess > 0) {
      await cursor.delete();
      excess -= 1;
      cursor = await cursor.continue();
    }
    await tx.done;
  }
}
