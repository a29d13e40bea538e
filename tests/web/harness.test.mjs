// The harness itself: natterd serves the built client and comes back on the
// same port with its data after restart(); each Chromium launch gets a fresh
// profile directory that is gone after close.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { before } from 'node:test';
import {
  account, api, browserTest, launchBrowser, prerequisites, registerViaAPI, signInViaAPI, startNatterd,
} from './harness.mjs';

before(() => prerequisites());

browserTest('natterd serves the web client, and restart() keeps its port and data', async (world) => {
  const { page } = await world.newUser('visitor');
  const res = await page.goto(world.url);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'] ?? '', /default-src 'self'/);
  await page.locator('#app, body > *').first().waitFor({ state: 'attached' });

  const alice = account('alice');
  await registerViaAPI(world.url, alice);
  const before = world.url;
  await world.server.restart();
  assert.equal(world.url, before);
  const s = await signInViaAPI(world.url, alice);
  const me = await api(world.url, 'GET', '/v1/users/me', { token: s.access_token });
  assert.equal(me.username, 'alice');
});

browserTest('stop() and start() bring natterd down and back on the same port', async (world) => {
  await world.server.stop();
  await assert.rejects(fetch(new URL('/healthz', world.url)));
  await world.server.start();
  const r = await fetch(new URL('/healthz', world.url));
  assert.equal(r.status, 200);
});

browserTest('every Chromium launch has its own temporary --user-data-dir, removed on close', async () => {
  const seen = [];
  for (let i = 0; i < 2; i++) {
    const browser = await launchBrowser();
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto('chrome://version');
      const profile = (await page.locator('#profile_path').innerText()).trim();
      const dir = profile.replace(/\/Default$/, '');
      const cmd = await page.locator('#command_line').innerText();
      assert.ok(cmd.includes(`--user-data-dir=${dir}`), `the command line names ${dir}: ${cmd}`);
      assert.ok(fs.existsSync(dir), `${dir} exists while the browser runs`);
      seen.push(dir);
    } finally {
      await browser.close();
    }
    assert.ok(!fs.existsSync(seen[i]), `${seen[i]} is removed once the browser closed`);
  }
  assert.notEqual(seen[0], seen[1]);
});

browserTest('a natterd that cannot start fails with its message', async () => {
  await assert.rejects(startNatterd({ extraArgs: ['--presence-ttl-ms', '1'] }), /exited .* before listening/);
});
