// The rest of the UI contract: errors in role=alert, Group info (remove, add,
// leave), Settings (name, devices, log out and back in on the same device).
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  account, api, browserTest, createGroup, eventually, openConversation, prerequisites, registerViaAPI,
  registerViaUI, sendText, signInViaAPI, signInViaUI, startChat, ui, waitForMainScreen, waitForText,
} from './harness.mjs';

before(() => prerequisites());

browserTest('mistakes are said in an alert: wrong password, a taken username, an unknown user', async (world) => {
  const alice = account('alice', 'Alice');
  await registerViaAPI(world.url, alice);
  const { page } = await world.newUser('visitor');

  await page.goto(world.url);
  const signIn = ui.signInForm(page);
  await signIn.getByRole('textbox', { name: 'Username' }).fill('alice');
  await signIn.getByLabel('Password', { exact: true }).fill('not the password');
  await signIn.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: /\S/ }).first().waitFor();

  await page.getByRole('button', { name: 'Create an account', exact: true }).click();
  const create = ui.createForm(page);
  await create.getByRole('textbox', { name: 'Username' }).fill('alice');
  await create.getByRole('textbox', { name: 'Display name' }).fill('Another Alice');
  await create.getByLabel('Password', { exact: true }).fill('pw-another-alice');
  await create.getByRole('button', { name: 'Create account', exact: true }).click();
  await waitForText(page.getByRole('alert'), /taken/i, { message: 'a taken username is said so' });

  await registerViaUI(page, world.url, account('dora', 'Dora'));
  await page.getByRole('button', { name: 'New chat', exact: true }).click();
  const dialog = ui.dialog(page, 'New chat');
  await dialog.getByRole('textbox', { name: 'Username' }).fill('nobody_here');
  await dialog.getByRole('button', { name: 'Start chat', exact: true }).click();
  await dialog.getByRole('alert').filter({ hasText: /\S/ }).waitFor();
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
});

browserTest('Group info: the admin removes and adds a member; a member leaves', async (world) => {
  const [alice, bob, carol] = [account('alice', 'Alice'), account('bob', 'Bob'), account('carol', 'Carol')];
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  await registerViaAPI(world.url, carol);
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);
  await createGroup(A.page, 'Book club', ['bob', 'carol']);
  await sendText(A.page, 'first chapter by Friday');
  await openConversation(B.page, 'Book club');
  await ui.message(B.page, 'first chapter by Friday').waitFor();

  await A.page.getByRole('button', { name: 'Group info', exact: true }).click();
  const info = ui.dialog(A.page, 'Group info');
  await info.getByRole('button', { name: 'Remove Carol', exact: true }).click();
  await info.getByRole('button', { name: 'Remove Carol', exact: true }).waitFor({ state: 'detached' });
  await waitForText(B.page.locator('li[data-testid=system-message]').last(), /Carol/, { message: "Bob sees Carol's removal" });

  await info.getByRole('textbox', { name: 'Add member' }).fill('carol');
  await info.getByRole('button', { name: 'Add', exact: true }).click();
  await info.getByRole('button', { name: 'Remove Carol', exact: true }).waitFor();
  await A.page.keyboard.press('Escape');
  await info.waitFor({ state: 'hidden' });
  await eventually(async () => (await B.page.locator('li[data-testid=system-message]').count()) >= 3,
    { message: 'Bob sees the creation, the removal and the addition' });

  await B.page.getByRole('button', { name: 'Group info', exact: true }).click();
  const bobInfo = ui.dialog(B.page, 'Group info');
  assert.equal(await bobInfo.getByRole('button', { name: /^Remove / }).count(), 0, 'a member who is not an admin removes no one');
  await bobInfo.getByRole('button', { name: 'Leave group', exact: true }).click();
  await bobInfo.waitFor({ state: 'hidden' });
  await waitForText(A.page.locator('li[data-testid=system-message]').last(), /Bob/, { message: "Alice sees Bob's leaving" });
  // Bob can write no more to the group.
  await eventually(async () => (await ui.textarea(B.page).count()) === 0 || (await ui.textarea(B.page).isDisabled()),
    { message: "Bob's composer goes (or is disabled) once he left" });
});

browserTest('Settings: the display name, removing another device, logging out and back in on the same device', async (world) => {
  const alice = account('alice', 'Alice');
  const { page } = await world.newUser('alice');
  await registerViaUI(page, world.url, alice);
  const laptop = await signInViaAPI(world.url, alice, 'laptop');

  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const settings = ui.dialog(page, 'Settings');
  await settings.getByRole('textbox', { name: 'Display name' }).fill('Alice in Wonderland');
  await settings.getByRole('button', { name: 'Save name', exact: true }).click();
  await settings.getByText('Alice in Wonderland').first().waitFor();
  const me = await api(world.url, 'GET', '/v1/users/me', { token: laptop.access_token });
  assert.equal(me.display_name, 'Alice in Wonderland');

  const devices = settings.getByRole('list', { name: 'Devices' });
  await devices.getByRole('button', { name: 'Remove laptop', exact: true }).click();
  await devices.getByRole('button', { name: 'Remove laptop', exact: true }).waitFor({ state: 'detached' });
  await assert.rejects(api(world.url, 'GET', '/v1/users/me', { token: laptop.access_token }), /401/);

  const before = (await api(world.url, 'GET', '/v1/devices', { token: (await signInViaAPI(world.url, alice, 'check')).access_token })).devices;
  await settings.getByRole('button', { name: 'Log out', exact: true }).click();
  await ui.signInForm(page).waitFor();
  await signInViaUI(page, world.url, alice);
  await waitForMainScreen(page);
  const check = await signInViaAPI(world.url, alice, 'check 2');
  const after = (await api(world.url, 'GET', '/v1/devices', { token: check.access_token })).devices;
  assert.equal(after.length, before.length + 1, 'signing in again resumed the browser\'s device (only "check 2" is new)');
});

// Another user signing in on the same tab finds nothing of the one before:
// no dialog left open, no draft, no open chat.
browserTest('after a log out, the next user of the tab sees nothing of the previous one', async (world) => {
  const [alice, bob] = [account('alice', 'Alice'), account('bob', 'Bob')];
  await registerViaAPI(world.url, bob);
  const A = await world.newUser('alice');
  await registerViaUI(A.page, world.url, alice);
  await startChat(A.page, 'bob', 'Bob');
  await ui.textarea(A.page).fill('a private draft');
  await A.page.getByRole('button', { name: 'Settings', exact: true }).click();
  await ui.dialog(A.page, 'Settings').getByRole('button', { name: 'Log out', exact: true }).click();
  await signInViaUI(A.page, world.url, bob);
  await waitForMainScreen(A.page);
  assert.equal(await A.page.getByRole('dialog').count(), 0, 'no dialog reopens');
  assert.equal(await A.page.locator('.composer textarea').count(), 0, 'no chat is open');
  await waitForText(A.page.getByRole('navigation', { name: 'Conversations' }), /No chats yet/);
});
