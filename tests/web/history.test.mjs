// History: 120 messages seeded before the device existed load page by page
// as the log is scrolled up; a reload keeps the list and the open chat.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  account, browserTest, eventually, messageTexts, openConversation, prerequisites, registerViaAPI,
  sendViaWebSocket, signInViaAPI, signInViaUI, ui, waitForMainScreen, waitForText,
} from './harness.mjs';

before(() => prerequisites());

const SEEDED = Array.from({ length: 120 }, (_, i) => `seed ${String(i + 1).padStart(3, '0')}`);

// Bob writes 120 messages to Alice before Alice's browser signs in: they are
// in history, not in the new device's inbox.
async function seeded(world) {
  const alice = account('alice', 'Alice');
  const bob = account('bob', 'Bob');
  const aliceId = await registerViaAPI(world.url, alice);
  await registerViaAPI(world.url, bob);
  const bobDevice = await signInViaAPI(world.url, bob, 'seeder');
  const sent = await sendViaWebSocket(world, bobDevice, { user: aliceId }, SEEDED);
  assert.equal(sent.length, SEEDED.length);
  assert.deepEqual(sent.map((s) => s.seq), SEEDED.map((_, i) => i + 1));
  const A = await world.newUser('alice');
  await signInViaUI(A.page, world.url, alice);
  return { A, alice, bob };
}

// Scrolls the message log to its top (the log, or the element around it that
// scrolls) until `until()` holds; returns how many scrolls it took.
async function scrollUpUntil(page, until, { max = 20 } = {}) {
  for (let i = 1; i <= max; i++) {
    const before = (await messageTexts(page)).length;
    await ui.log(page).evaluate((log) => {
      let el = log;
      while (el && el !== document.body && !(el.scrollHeight > el.clientHeight && /(auto|scroll)/.test(getComputedStyle(el).overflowY))) el = el.parentElement;
      (el && el !== document.body ? el : document.scrollingElement).scrollTop = 0;
      (el && el !== document.body ? el : window).dispatchEvent(new Event('scroll'));
    });
    if (await until()) return i;
    await eventually(async () => (await messageTexts(page)).length > before || until(),
      { message: `older messages appear after scrolling to the top (had ${before})` });
    if (await until()) return i;
  }
  throw new Error(`still not there after ${max} scrolls to the top`);
}

browserTest('older history loads as the log is scrolled up, and a reload keeps the list and the open chat', async (world) => {
  const { A } = await seeded(world);
  await waitForText(ui.conversation(A.page, 'Bob'), /\b120\s+unread/, { message: "Alice's list shows the 120 messages unread" });
  await openConversation(A.page, 'Bob');
  await ui.message(A.page, 'seed 120').waitFor();
  const first = await messageTexts(A.page);
  assert.ok(first.length < SEEDED.length, `the chat opens on a page of recent messages, not all ${SEEDED.length} (got ${first.length})`);
  assert.deepEqual(first, SEEDED.slice(-first.length), 'the newest messages, in order');

  const scrolls = await scrollUpUntil(A.page, async () => (await ui.message(A.page, 'seed 001').count()) > 0);
  assert.ok(scrolls >= 1);
  assert.deepEqual(await messageTexts(A.page), SEEDED, 'all 120 once each, in order');

  await A.page.reload();
  await waitForMainScreen(A.page);
  await ui.conversation(A.page, 'Bob').waitFor();
  if (!(await ui.chatTitle(A.page).filter({ hasText: 'Bob' }).count())) await openConversation(A.page, 'Bob');
  await ui.message(A.page, 'seed 120').waitFor();
  const after = await messageTexts(A.page);
  assert.deepEqual(after, SEEDED.slice(-after.length), 'after the reload: the newest messages, once each, in order');
});

browserTest('after a reload the list and the chat come from the cache, older cached messages too, when the history API does not answer', async (world) => {
  const { A } = await seeded(world);
  await openConversation(A.page, 'Bob');
  await ui.message(A.page, 'seed 120').waitFor();
  await scrollUpUntil(A.page, async () => (await ui.message(A.page, 'seed 041').count()) > 0);
  const shown = await messageTexts(A.page);  // seed 0xx … seed 120, now cached

  await A.page.route(/\/v1\/conversations(\/[^/]+\/messages)?(\?.*)?$/, (route) => route.abort('connectionrefused'));
  await A.page.reload();
  await waitForMainScreen(A.page);
  await ui.conversation(A.page, 'Bob').waitFor();
  if (!(await ui.chatTitle(A.page).filter({ hasText: 'Bob' }).count())) await openConversation(A.page, 'Bob');
  await ui.message(A.page, 'seed 120').waitFor();
  const after = await messageTexts(A.page);
  assert.deepEqual(after, shown.slice(-after.length), 'the newest cached messages, once each, in order');
  await scrollUpUntil(A.page, async () => (await ui.message(A.page, shown[0]).count()) > 0);
  const all = await messageTexts(A.page);
  assert.deepEqual(all.slice(-shown.length), shown, 'every message cached before the reload, from the cache, in order');
});
