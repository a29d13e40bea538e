// A group of three made in the UI; one member's browser is closed while the
// others write; it comes back with its stored state and catches up: every
// message once, in order.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  account, browserTest, createGroup, eventually, messageTexts, openConversation, prerequisites,
  registerViaUI, sendText, ui, waitForText, waitForConnection, waitForMainScreen, waitForStatus,
} from './harness.mjs';

before(() => prerequisites());

browserTest('a member who was offline catches up on the group, every message once and in order', async (world) => {
  const [alice, bob, carol] = [account('alice', 'Alice'), account('bob', 'Bob'), account('carol', 'Carol')];
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  const C = await world.newUser('carol');
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);
  await registerViaUI(C.page, world.url, carol);

  await createGroup(A.page, 'Weekend trip', ['bob', 'carol']);
  await ui.conversation(B.page, 'Weekend trip').waitFor();
  await ui.conversation(C.page, 'Weekend trip').waitFor();
  await openConversation(B.page, 'Weekend trip');

  // Carol's browser closes, its storage kept (localStorage and IndexedDB).
  const carolState = await C.context.storageState({ indexedDB: true });
  await C.context.close();

  // Alice and Bob write in turns; each waits for its message to be durable
  // so the order is the one written here.
  const expected = [];
  const turns = [[A.page, 'train at 9?'], [B.page, 'works for me'], [A.page, 'I book the tickets'],
    [B.page, 'bring the map'], [A.page, 'see you Saturday']];
  for (const [page, text] of turns) {
    await sendText(page, text);
    await waitForStatus(page, text, ['sent', 'delivered', 'read']);
    expected.push(text);
  }
  await eventually(async () => (await messageTexts(A.page)).length === expected.length,
    { message: "Alice's log holds the five messages" });
  assert.deepEqual(await messageTexts(A.page), expected);
  assert.deepEqual(await messageTexts(B.page), expected);

  // Carol comes back.
  const C2 = await world.newUser('carol (back)', { storageState: carolState });
  await C2.page.goto(world.url);
  await waitForMainScreen(C2.page);
  await waitForConnection(C2.page, 'online');
  await waitForText(ui.conversation(C2.page, 'Weekend trip'), /\b5\s+unread/, { message: "Carol's list shows the 5 messages unread" });
  await openConversation(C2.page, 'Weekend trip');
  await ui.message(C2.page, 'see you Saturday').waitFor();
  assert.deepEqual(await messageTexts(C2.page), expected, 'every message once, in order');
  assert.ok(await C2.page.locator('li[data-testid=system-message]').count() >= 1, 'the group\'s creation shows as a system message');

  // She answers; everyone has it once.
  await sendText(C2.page, 'count me in');
  await waitForStatus(C2.page, 'count me in', ['sent', 'delivered', 'read']);
  for (const [page, who] of [[A.page, 'Alice'], [B.page, 'Bob'], [C2.page, 'Carol']]) {
    await ui.message(page, 'count me in').waitFor();
    assert.deepEqual(await messageTexts(page), [...expected, 'count me in'], `${who}'s log`);
  }

  // The header of a group shows its member count (the UI contract).
  const status = await ui.chatStatus(A.page).innerText();
  assert.match(status, /\b3\b/, `the group's header shows its member count, 3: "${status}"`);
});

// A member who left no longer holds the ticks back: read by everyone still
// in the group turns them blue, also after a reload.
browserTest('ticks count the members of now: a member who left does not hold them back', async (world) => {
  const [alice, bob, carol] = [account('alice', 'Alice'), account('bob', 'Bob'), account('carol', 'Carol')];
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  const C = await world.newUser('carol');
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);
  await registerViaUI(C.page, world.url, carol);
  await createGroup(A.page, 'Trio', ['bob', 'carol']);
  await openConversation(B.page, 'Trio');
  await openConversation(C.page, 'Trio');
  await sendText(A.page, 'before bob leaves');
  await waitForStatus(A.page, 'before bob leaves', 'read');

  await B.page.getByRole('button', { name: 'Group info', exact: true }).click();
  await ui.dialog(B.page, 'Group info').getByRole('button', { name: 'Leave group', exact: true }).click();
  await A.page.locator('li[data-testid=system-message]', { hasText: 'Bob left' }).waitFor();

  await sendText(A.page, 'after bob left');
  await ui.message(C.page, 'after bob left').waitFor();
  await waitForStatus(A.page, 'after bob left', 'read');
  await A.page.reload();
  await waitForConnection(A.page, 'online');
  await waitForStatus(A.page, 'after bob left', 'read');
});
