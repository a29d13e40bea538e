// An image (a real PNG made by the test) sent with the attach input: it shows
// on the other side, loaded, and opens full size.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  account, browserTest, makePng, openConversation, prerequisites, registerViaUI, sendText, startChat, ui,
} from './harness.mjs';

before(() => prerequisites());

const imageMessages = (page, mine) => ui.messages(page)
  .and(page.locator(`[data-mine="${mine}"]`))
  .filter({ has: page.getByRole('button', { name: 'Open image' }) });

async function twoInAChat(world) {
  const alice = account('alice', 'Alice');
  const bob = account('bob', 'Bob');
  const A = await world.newUser('alice');
  const B = await world.newUser('bob');
  await registerViaUI(A.page, world.url, alice);
  await registerViaUI(B.page, world.url, bob);
  await startChat(A.page, 'bob', 'Bob');
  await sendText(A.page, 'here comes a picture');
  await openConversation(B.page, 'Alice');
  return { A, B };
}

browserTest('an image sent with the attach input shows on the other side and opens full size', async (world) => {
  const { A, B } = await twoInAChat(world);
  const png = makePng(64, 48);
  await A.page.getByLabel('Attach image').setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: png });

  const mine = imageMessages(A.page, true);
  await mine.and(A.page.locator('[data-status="sent"],[data-status="delivered"],[data-status="read"]')).waitFor();

  const theirs = imageMessages(B.page, false);
  await theirs.waitFor();
  const thumb = theirs.getByRole('button', { name: 'Open image' }).locator('img');
  await B.page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle());
  assert.ok((await thumb.getAttribute('alt'))?.length, 'the image has alt text');

  await theirs.getByRole('button', { name: 'Open image' }).click();
  const dialog = ui.dialog(B.page, 'Image');
  await dialog.waitFor();
  const full = dialog.getByRole('img', { name: 'Full image' });
  await B.page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await full.elementHandle());
  const size = await full.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(size, [64, 48], 'the full image is the one sent, at its size');
  await B.page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
});

browserTest('an upload shows its progress while the bytes go up', async (world) => {
  const { A, B } = await twoInAChat(world);
  // Hold the blob upload until the progress bar has been seen.
  let release;
  const held = new Promise((r) => { release = r; });
  let sawUpload;
  const uploadSeen = new Promise((r) => { sawUpload = r; });
  await A.page.route('**/v1/blobs/**', async (route) => {
    if (route.request().method() !== 'PUT') return route.continue();
    sawUpload();
    await held;
    await route.continue();
  });
  await A.page.getByLabel('Attach image').setInputFiles({ name: 'big.png', mimeType: 'image/png', buffer: makePng(400, 300) });
  await uploadSeen;
  try {
    await A.page.getByRole('progressbar', { name: 'Uploading image' }).waitFor();
  } finally {
    release();
  }
  await A.page.getByRole('progressbar', { name: 'Uploading image' }).waitFor({ state: 'detached' });
  await imageMessages(B.page, false).waitFor();
});
