// docs/screenshots/*.png: the web client in Chromium on a fresh natterd with a
// small, realistic scene (Alice, Bob and Carol; a 1:1 chat with ticks; the
// group "Weekend trip" with a photo; avatars). Run by scripts/screenshots.sh
// (`make screenshots`), with NATTERD and WEB_DIST set.
import fs from 'node:fs';
import path from 'node:path';
import {
  DESKTOP, HERE, PHONE, World, account, api, createGroup, encodePng, launchBrowser, openConversation,
  registerViaAPI, sendText, signInViaAPI, signInViaUI, startChat, startNatterd, ui, waitForStatus,
} from './harness.mjs';

const OUT = process.env.SCREENSHOTS_DIR || path.resolve(HERE, '..', '..', 'docs', 'screenshots');

// A landscape "photo": sky, two mountain ridges, a lake.
function landscape(width, height) {
  return encodePng(width, height, (x, y) => {
    const sky = [110 + (y / height) * 90, 170 + (y / height) * 60, 235];
    const ridge1 = height * 0.45 + Math.sin(x / 37) * 18 + Math.abs(((x % 160) - 80)) * 0.6;
    const ridge2 = height * 0.58 + Math.sin(x / 23 + 1) * 10 + Math.abs(((x % 110) - 55)) * 0.4;
    const lake = height * 0.78;
    if (y > lake) return [40 + Math.sin(x / 6 + y) * 8, 110 + (y - lake) * 0.3, 150 + Math.sin(x / 9) * 10];
    if (y > ridge2) return [60, 120 - (y - ridge2) * 0.2, 70];
    if (y > ridge1) return [105, 115, 130];
    return sky;
  });
}

// A round-ish avatar: a disc of `rgb` on white with a lighter ring.
function avatar(rgb, size = 128) {
  return encodePng(size, size, (x, y) => {
    const d = Math.hypot(x - size / 2, y - size / 2) / (size / 2);
    if (d < 0.62) return rgb;
    if (d < 0.8) return rgb.map((c) => c + (255 - c) * 0.5);
    return [255, 255, 255];
  });
}

async function setAvatarViaAPI(url, session, png) {
  const m = await api(url, 'POST', '/v1/media', { token: session.access_token, body: { mime: 'image/png', size: png.length } });
  const res = await fetch(new URL(m.upload.url, url), { method: m.upload.method, headers: m.upload.headers, body: png });
  if (!res.ok) throw new Error(`avatar upload: ${res.status} ${await res.text()}`);
  await api(url, 'PATCH', '/v1/users/me', { token: session.access_token, body: { avatar_media_id: m.media_id } });
}

async function shot(page, name) {
  // Let pending image decodes and fonts finish: wait for every <img> to be complete.
  await page.waitForFunction(() => [...document.images].every((i) => i.complete) && document.fonts.status === 'loaded');
  const file = path.join(OUT, name);
  await page.screenshot({ path: file });
  console.log(`screenshots: wrote ${path.relative(path.resolve(HERE, '..', '..'), file)}`);
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await startNatterd({ label: 'natterd (screenshots)' });
  const browser = await launchBrowser();
  const world = new World(server, browser);
  try {
    const url = server.url;
    const alice = account('alice', 'Alice Liddell');
    const bob = account('bob', 'Bob Builder');
    const carol = account('carol', 'Carol Nguyen');
    for (const a of [alice, bob, carol]) await registerViaAPI(url, a);
    await setAvatarViaAPI(url, await signInViaAPI(url, bob, 'setup'), avatar([37, 99, 235]));
    await setAvatarViaAPI(url, await signInViaAPI(url, carol, 'setup'), avatar([219, 39, 119]));

    // The sign-in screen, before anyone is signed in.
    const visitor = await world.newUser('visitor', { viewport: DESKTOP });
    await visitor.page.goto(url);
    await ui.signInForm(visitor.page).waitFor();
    await shot(visitor.page, 'desktop-1280-signin.png');
    await visitor.context.close();

    const A = await world.newUser('alice', { viewport: DESKTOP });
    const B = await world.newUser('bob', { viewport: DESKTOP });
    const C = await world.newUser('carol', { viewport: DESKTOP });
    await signInViaUI(A.page, url, alice);
    await signInViaUI(B.page, url, bob);
    await signInViaUI(C.page, url, carol);

    // Alice's avatar, through Settings.
    await A.page.getByRole('button', { name: 'Settings', exact: true }).click();
    const settings = ui.dialog(A.page, 'Settings');
    await settings.getByLabel('Profile picture').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: avatar([13, 148, 136]) });
    await settings.getByText('Profile picture updated.').waitFor();
    await A.page.keyboard.press('Escape');
    await settings.waitFor({ state: 'hidden' });

    // The group first, so the 1:1 chat is the most recent in the list.
    await createGroup(A.page, 'Weekend trip', ['bob', 'carol']);
    await ui.conversation(C.page, 'Weekend trip').waitFor();
    await openConversation(C.page, 'Weekend trip');
    await ui.conversation(B.page, 'Weekend trip').waitFor();
    await openConversation(B.page, 'Weekend trip');
    await sendText(C.page, 'Who is bringing the tent?');
    await ui.message(B.page, 'Who is bringing the tent?').waitFor();
    await sendText(B.page, 'I have the tent and the stove. Someone grab the map?');
    await ui.message(C.page, 'Someone grab the map?').waitFor();
    await ui.textarea(C.page).fill('The lake from last year. Same spot?');
    await C.page.getByLabel('Attach image').setInputFiles({ name: 'lake.png', mimeType: 'image/png', buffer: landscape(640, 420) });
    const photo = ui.messages(C.page).filter({ has: C.page.getByRole('button', { name: 'Open image' }) });
    await photo.and(C.page.locator('[data-status="sent"],[data-status="delivered"],[data-status="read"]')).waitFor();
    await openConversation(A.page, 'Weekend trip');
    await ui.messages(A.page).filter({ has: A.page.getByRole('button', { name: 'Open image' }) }).waitFor();
    await sendText(A.page, 'Wow, that view! Same spot, definitely.');
    await ui.message(B.page, 'Wow, that view!').waitFor();
    await ui.message(C.page, 'Wow, that view!').waitFor();

    // The 1:1 chat: read ticks on the earlier messages, a delivered one last.
    await startChat(A.page, 'bob', 'Bob Builder');
    await sendText(A.page, 'Hey Bob! Did you get the train tickets?');
    await openConversation(B.page, 'Alice Liddell');
    await ui.message(B.page, 'train tickets').waitFor();
    await sendText(B.page, 'Yes, two seats on the 9:10 on Saturday.');
    await ui.message(A.page, 'two seats').waitFor();
    await sendText(A.page, 'Perfect. I will bring snacks and the good coffee.');
    await sendText(B.page, 'Meet at the station at 8:45?');
    await ui.message(A.page, 'Meet at the station').waitFor();
    await sendText(A.page, 'Deal, see you there.');
    await waitForStatus(A.page, 'Deal, see you there.', 'read');
    await openConversation(B.page, 'Weekend trip');  // Bob looks elsewhere: the next one is only delivered
    await sendText(A.page, 'Bring a rain jacket, it might pour on Sunday.');
    await waitForStatus(A.page, 'Bring a rain jacket', 'delivered');

    await shot(A.page, 'desktop-1280-chat.png');
    await openConversation(A.page, 'Weekend trip');
    await shot(A.page, 'desktop-1280-group.png');

    // The phone: the same session at 390×844.
    await A.page.setViewportSize(PHONE);
    const back = A.page.getByRole('button', { name: 'Back', exact: true });
    await back.waitFor();
    await back.click();
    await ui.conversations(A.page).waitFor();
    await shot(A.page, 'phone-390-list.png');
    await openConversation(A.page, 'Bob Builder');
    await shot(A.page, 'phone-390-chat.png');
  } catch (err) {
    const seen = await world.describe('screenshots');
    if (seen) console.error(seen);
    throw err;
  } finally {
    await browser.close().catch(() => {});
    await server.close();
  }
  if (world.pageErrors.length) throw new Error(`uncaught errors in the page:\n${world.pageErrors.join('\n')}`);
}

main().catch((err) => {
  console.error(`screenshots: ${err.stack || err}`);
  process.exit(1);
});
