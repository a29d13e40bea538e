// Accessibility: axe-core on the sign-in screen, the main screen with a chat
// open, and the New group and Settings dialogs, on a desktop and a phone
// viewport. Any violation of impact serious or critical fails; every
// violation found is printed.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  AXE_PATH, DESKTOP, PHONE, account, browserTest, openConversation, prerequisites, registerViaAPI,
  sendText, sendViaWebSocket, signInViaAPI, signInViaUI, ui,
} from './harness.mjs';

before(() => prerequisites());

async function axe(page, where) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE_PATH });
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of violations) {
    process.stderr.write(`[axe ${where}] ${v.impact}: ${v.id}: ${v.help} (${v.helpUrl})\n`);
    for (const n of v.nodes.slice(0, 5)) {
      process.stderr.write(`    ${n.target.join(' ')}\n      ${(n.failureSummary ?? '').replace(/\n/g, '\n      ')}\n`);
    }
    if (v.nodes.length > 5) process.stderr.write(`    … and ${v.nodes.length - 5} more\n`);
  }
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${where}: ${v.impact} ${v.id} (${v.nodes.length}×): ${v.help}`);
}

for (const [label, viewport] of [['desktop 1280×800', DESKTOP], ['phone 390×844', PHONE]]) {
  browserTest(`axe finds nothing serious on ${label}: sign-in, chat, New group, Settings`, async (world) => {
    const found = [];
    const tag = viewport.width;
    const me = account(`alice${tag}`, 'Alice Liddell');
    const peer = account(`bob${tag}`, 'Bob Builder');
    // The app's CSP allows no inline script: axe is injected as one.
    const { page } = await world.newUser(`alice@${tag}`, { viewport, contextOptions: { bypassCSP: true } });

    await page.goto(world.url);
    await ui.signInForm(page).waitFor();
    found.push(...await axe(page, `${label} sign-in`));
    await page.getByRole('button', { name: 'Create an account', exact: true }).click();
    await ui.createForm(page).waitFor();
    found.push(...await axe(page, `${label} create account`));

    const myId = await registerViaAPI(world.url, me);
    await registerViaAPI(world.url, peer);
    await signInViaUI(page, world.url, me);
    await sendViaWebSocket(world, await signInViaAPI(world.url, peer, 'phone'), { user: myId },
      ['Hi Alice! Are we still on for Saturday?', 'I can bring the map.']);
    await openConversation(page, 'Bob Builder');
    await ui.message(page, 'I can bring the map.').waitFor();
    await sendText(page, 'Yes, see you at 9 at the station.');
    found.push(...await axe(page, `${label} chat open`));

    // On a phone the list is behind the chat.
    const back = page.getByRole('button', { name: 'Back', exact: true });
    if (await back.isVisible()) await back.click();
    await page.getByRole('button', { name: 'New group', exact: true }).click();
    await ui.dialog(page, 'New group').waitFor();
    found.push(...await axe(page, `${label} New group dialog`));
    await page.keyboard.press('Escape');
    await ui.dialog(page, 'New group').waitFor({ state: 'hidden' });

    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await ui.dialog(page, 'Settings').waitFor();
    found.push(...await axe(page, `${label} Settings dialog`));
    await page.getByRole('button', { name: 'Close', exact: true }).click();
    await ui.dialog(page, 'Settings').waitFor({ state: 'hidden' });

    assert.deepEqual(found, [], `serious or critical accessibility violations:\n${found.join('\n')}`);
  });
}
