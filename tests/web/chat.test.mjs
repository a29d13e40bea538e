// 1:1 chat between two browser profiles: registration through the UI, the
// sender's ticks (sent → delivered → read), unread counts, presence, typing.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  account, assertMonotonic, browserTest, eventually, messageTexts, openConversation, prerequisites,
  recordStatuses, registerViaUI, sendText, startChat, statusHistory, statusOf, ui, waitForMainScreen,
  waitForStatus, waitForText,
} from './harness.mjs';

before(() => prerequisites());

browserTest('two users register and chat; ticks go sent → delivered → read as the recipient comes back and opens the chat', async (world) => {
  const alice = account('alice', 'Alice Liddell');
  const bob = account('bob', 'Bob Builder');
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);

  // Bob goes away: his page closes; his profile keeps the device (localStorage).
  await B.page.close();

  await startChat(A.page, 'bob', 'Bob Builder');
  await recordStatuses(A.page);
  await sendText(A.page, 'hello bob');
  await waitForStatus(A.page, 'hello bob', 'sent');

  // Bob comes back: the app resumes his device, the message reaches it
  // (delivered) and shows as unread in his list, but it is not read yet.
  const bobPage = await B.context.newPage();
  await bobPage.goto(world.url);
  await waitForMainScreen(bobPage);
  await waitForText(ui.conversation(bobPage, 'Alice Liddell'), /\b1\s+unread/, { message: "Bob's list shows 1 unread" });
  await waitForStatus(A.page, 'hello bob', 'delivered');
  assert.equal(await statusOf(A.page, 'hello bob'), 'delivered', 'not read before Bob opens the chat');

  await openConversation(bobPage, 'Alice Liddell');
  await ui.message(bobPage, 'hello bob').and(bobPage.locator('[data-mine="false"]')).waitFor();
  await waitForStatus(A.page, 'hello bob', 'read');
  await eventually(async () => !/unread/.test(await ui.conversation(bobPage, 'Alice Liddell').first().innerText()),
    { message: "Bob's list drops the unread mark once he opened the chat" });

  // Both have the chat open: a reply is read at once.
  await recordStatuses(bobPage);
  await sendText(bobPage, 'hi alice');
  await ui.message(A.page, 'hi alice').and(A.page.locator('[data-mine="false"]')).waitFor();
  await waitForStatus(bobPage, 'hi alice', 'read');

  for (const [page, text, who] of [[A.page, 'hello bob', 'Alice'], [bobPage, 'hi alice', 'Bob']]) {
    const h = await statusHistory(page, text);
    assertMonotonic(h, `${who}'s "${text}"`);
    assert.equal(h[h.length - 1], 'read', `${who}'s "${text}" ends read: ${h.join(' → ')}`);
  }
  assert.deepEqual((await statusHistory(A.page, 'hello bob')).filter((s) => s !== 'pending'), ['sent', 'delivered', 'read']);
  assert.deepEqual(await messageTexts(A.page), ['hello bob', 'hi alice']);
  assert.deepEqual(await messageTexts(bobPage), ['hello bob', 'hi alice']);
});

browserTest('the chat header shows the peer online, typing…, and last seen once gone', async (world) => {
  const alice = account('alice', 'Alice Liddell');
  const bob = account('bob', 'Bob Builder');
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);
  await startChat(A.page, 'bob', 'Bob Builder');
  await sendText(A.page, 'are you there?');
  await openConversation(B.page, 'Alice Liddell');

  await ui.chatStatus(A.page).filter({ hasText: /^\s*online\s*$/i }).waitFor();
  await ui.textarea(B.page).pressSequentially('typing something', { delay: 20 });
  await ui.chatStatus(A.page).filter({ hasText: /typing/i }).waitFor();
  await ui.textarea(B.page).press('Enter');
  await ui.message(A.page, 'typing something').waitFor();
  await eventually(async () => !/typing/i.test(await ui.chatStatus(A.page).innerText()),
    { message: '"typing…" goes once the message came' });

  await B.context.close();  // Bob's browser goes: last socket closed
  await ui.chatStatus(A.page).filter({ hasText: /last seen/i }).waitFor();
});

// Web addresses become links that open elsewhere; markup stays text.
browserTest('a web address in a message is a link; HTML in a message is shown as text', async (world) => {
  const alice = account('alice', 'Alice');
  const bob = account('bob', 'Bob');
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);
  await startChat(A.page, 'bob', 'Bob');
  await sendText(A.page, 'see https://example.com/a?b=1. and <b>bold?</b> javascript:alert(1)');
  await openConversation(B.page, 'Alice');
  const msg = ui.message(B.page, 'see https://example.com');
  await msg.waitFor();
  const links = msg.getByRole('link');
  assert.equal(await links.count(), 1, 'one link: javascript: is not one');
  assert.equal(await links.first().getAttribute('href'), 'https://example.com/a?b=1', 'the sentence\'s full stop is not part of it');
  assert.equal(await links.first().getAttribute('target'), '_blank');
  assert.match(await links.first().getAttribute('rel'), /noopener/);
  assert.equal(await msg.locator('b').count(), 0, 'no element made from the text');
  assert.match(await msg.getByTestId('message-text').innerText(), /<b>bold\?<\/b>/);
});
