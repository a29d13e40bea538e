// Sending while offline: messages wait as pending and go out when the
// network (or natterd) is back, each exactly once and in order, as the
// recipient's page and the server's history both show.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  RECONNECT_TIMEOUT, account, api, assertMonotonic, browserTest, directConversationId, eventually, history,
  messageTexts, openConversation, prerequisites, recordStatuses, registerViaUI, sendText, signInViaAPI,
  startChat, statusHistory, ui, waitForConnection, waitForStatus,
} from './harness.mjs';

before(() => prerequisites());

const DONE = ['sent', 'delivered', 'read'];

async function twoInAChat(world) {
  const alice = account('alice', 'Alice');
  const bob = account('bob', 'Bob');
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);
  await startChat(A.page, 'bob', 'Bob');
  await sendText(A.page, 'first');
  await waitForStatus(A.page, 'first', DONE);
  await openConversation(B.page, 'Alice');
  await ui.message(B.page, 'first').waitFor();
  await recordStatuses(A.page);
  return { A, B, alice, bob };
}

// Bob's conversation with Alice, read over HTTP by a new device of Bob's.
async function bodiesInHistory(world, alice, bob) {
  const s = await signInViaAPI(world.url, bob, 'history check');
  const me = s.user_id;
  const { user_id: aliceId } = await api(world.url, 'GET', `/v1/users?username=${alice.username}`, { token: s.access_token });
  const msgs = await history(world.url, s.access_token, directConversationId(me, aliceId));
  return msgs.filter((m) => m.kind === 'text').map((m) => m.body);
}

async function expectOnceInOrder(world, { A, B, alice, bob }, expected) {
  for (const text of expected) await waitForStatus(A.page, text, DONE, RECONNECT_TIMEOUT);
  await ui.message(B.page, expected[expected.length - 1]).waitFor({ timeout: RECONNECT_TIMEOUT });
  await eventually(async () => (await messageTexts(B.page)).length >= expected.length,
    { message: "Bob's log holds every message" });
  assert.deepEqual(await messageTexts(B.page), expected, "Bob's page: each message once, in order");
  assert.deepEqual(await messageTexts(A.page), expected, "Alice's page: each message once, in order");
  assert.deepEqual(await bodiesInHistory(world, alice, bob), expected, 'the server\'s history: each message once, in order');
  for (const text of expected.slice(1)) assertMonotonic(await statusHistory(A.page, text), `"${text}"`);
}

browserTest('messages written offline show as pending and arrive once each, in order, when back online', async (world) => {
  const t = await twoInAChat(world);
  const { A, B } = t;

  await A.context.setOffline(true);
  await waitForConnection(A.page, 'offline');
  const offline = ['offline one', 'offline two', 'offline three'];
  for (const text of offline) {
    await sendText(A.page, text);
    await waitForStatus(A.page, text, 'pending');
  }
  for (const text of offline) assert.equal(await ui.mine(A.page, text).getAttribute('data-status'), 'pending');
  assert.equal(await ui.message(B.page, 'offline one').count(), 0, 'nothing reached Bob while Alice is offline');

  await A.context.setOffline(false);
  await waitForConnection(A.page, 'online');
  await expectOnceInOrder(world, t, ['first', ...offline]);
  for (const text of offline) {
    const h = await statusHistory(A.page, text);
    assert.equal(h[0], 'pending', `"${text}" was pending first: ${h.join(' → ')}`);
  }
});

browserTest('a message pending across a natterd restart, and one written while natterd is down, arrive once each', async (world) => {
  const t = await twoInAChat(world);
  const { A } = t;

  // Pending (offline) while natterd restarts.
  await A.context.setOffline(true);
  await waitForConnection(A.page, 'offline');
  await sendText(A.page, 'pending over a restart');
  await waitForStatus(A.page, 'pending over a restart', 'pending');
  await world.server.restart();
  await A.context.setOffline(false);
  await waitForConnection(A.page, 'online');
  await waitForStatus(A.page, 'pending over a restart', DONE, RECONNECT_TIMEOUT);

  // Written while natterd is down: the app sees its socket close and retries.
  await world.server.stop();
  await eventually(async () => (await ui.connection(A.page).getAttribute('data-state')) !== 'online',
    { message: 'the connection indicator leaves "online" when natterd stops' });
  await sendText(A.page, 'written while the server is down');
  await waitForStatus(A.page, 'written while the server is down', 'pending');
  await world.server.start();
  await waitForConnection(A.page, 'online');
  await waitForConnection(t.B.page, 'online');

  await expectOnceInOrder(world, t, ['first', 'pending over a restart', 'written while the server is down']);
});
