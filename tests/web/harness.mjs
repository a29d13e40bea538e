// The browser tests' harness: a real natterd (a child process on a free port
// with a fresh data directory, serving the built web client) and Debian's
// Chromium driven by playwright-core, plus helpers for the UI flows of the
// web client's contract (tests/web/README.md).
//
// Everything started here is stopped when the test ends, passed or failed,
// and again when the process exits: natterd is killed, the browser closed,
// the temporary directories removed.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

// playwright-core drives the browser; it comes from `npm ci` here.
const { chromium } = await import('playwright-core').catch((err) => {
  throw new Error(`playwright-core cannot be loaded (${err.code ?? err.message}): run scripts/deps.sh (npm ci in tests/web)`);
});

export const CHROMIUM = '/usr/bin/chromium';
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const AXE_PATH = path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
// Chromium answers in well under a second here; the margins are for a busy
// 2-core machine running other tests at the same time.
export const UI_TIMEOUT = 15_000;
export const RECONNECT_TIMEOUT = 45_000;  // the app's reconnect backoff included
const VERBOSE = !!process.env.NATTER_WEB_TESTS_VERBOSE;

// ---------------------------------------------------------------------------
// Clean-up, also when the process ends without the tests' own `finally`.

const onExit = new Set();  // synchronous: kill a child, remove a directory
function runExitHooks() {
  for (const f of [...onExit]) {
    try { f(); } catch { /* best effort at exit */ }
  }
  onExit.clear();
}
process.on('exit', runExitHooks);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    runExitHooks();
    process.exit(128 + os.constants.signals[sig]);
  });
}

function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const rm = () => fs.rmSync(dir, { recursive: true, force: true });
  onExit.add(rm);
  return { dir, remove() { onExit.delete(rm); rm(); } };
}

// ---------------------------------------------------------------------------
// What the tests need, checked up front: a missing piece fails with a message
// saying how to get it, never a silent skip.

export function prerequisites() {
  const problems = [];
  const natterd = process.env.NATTERD;
  const dist = process.env.WEB_DIST;
  if (!natterd) problems.push('NATTERD is not set: run through ctest (cd build && ctest -L browser), or set NATTERD=build/natterd');
  else if (!isExecutable(natterd)) problems.push(`NATTERD=${natterd} is not an executable: build it (cmake --build build --target natterd)`);
  if (!dist) problems.push('WEB_DIST is not set: run through ctest, or set WEB_DIST=web/dist');
  else if (!fs.existsSync(path.join(dist, 'index.html'))) problems.push(`${dist}/index.html is missing: build the web client with scripts/web-build.sh (make web)`);
  if (!isExecutable(CHROMIUM)) problems.push(`${CHROMIUM} is missing: install Debian's chromium package (scripts/deps.sh does)`);
  if (!fs.existsSync(AXE_PATH)) problems.push(`${AXE_PATH} is missing: npm ci in tests/web (scripts/deps.sh does)`);
  if (problems.length) throw new Error(`the browser tests cannot run:\n  - ${problems.join('\n  - ')}`);
  return { natterd, dist };
}

function isExecutable(p) {
  try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; }
}

// ---------------------------------------------------------------------------
// natterd

const LISTENING = /^natterd: listening on (http:\/\/127\.0\.0\.1:(\d+))/;

// Starts natterd on a free port with a fresh data directory. `restart()`
// stops it (SIGTERM, waiting for the exit) and starts it again on the same
// port and data directory; `stop()` and `start()` do the halves.
export async function startNatterd({ extraArgs = [], label = 'natterd' } = {}) {
  const { natterd, dist } = prerequisites();
  const data = tempDir('natter-web-data-');
  let proc = null;
  let exited = null;
  let port = 0;
  const recent = [];  // natterd's last log lines, shown when something fails

  const launch = async () => {
    const args = [
      '--listen', `127.0.0.1:${port}`, '--data', data.dir, '--web-root', dist,
      // Quick to stop, quick to show a vanished peer offline, cheap password
      // hashes (the tests sign in often), room for the tests' sign-ins.
      '--drain-grace', '0', '--presence-ttl-ms', '3000',
      '--argon2-memory-kib', '1024', '--argon2-time-cost', '1',
      '--login-burst', '100',
      '--log-level', VERBOSE ? 'info' : 'warn',
      ...extraArgs,
    ];
    const child = spawn(natterd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    const kill = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
    onExit.add(kill);
    exited = new Promise((resolve) => child.once('exit', (code, signal) => { onExit.delete(kill); resolve({ code, signal }); }));
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      recent.push(line);
      if (recent.length > 200) recent.shift();
      if (VERBOSE || /"level":"(warn|warning|error|critical)"/.test(line)) process.stderr.write(`[${label}] ${line}\n`);
    });
    const out = readline.createInterface({ input: child.stdout });
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('no "natterd: listening on" line within 15 s')), 15_000);
      const fail = (err) => { clearTimeout(timer); kill(); reject(new Error(`${label}: ${err.message}\n${recent.slice(-20).join('\n')}`)); };
      child.once('error', fail);
      exited.then(({ code, signal }) => fail(new Error(`exited (${signal ?? code}) before listening`)));
      out.on('line', (line) => {
        const m = LISTENING.exec(line);
        if (m) { clearTimeout(timer); resolve(m[1]); } else if (VERBOSE) process.stderr.write(`[${label} stdout] ${line}\n`);
      });
    });
    port = Number(new URL(url).port);
    return url;
  };

  const stop = async () => {
    if (!proc) return;
    const child = proc;
    proc = null;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  };

  const server = {
    url: await launch(),
    get port() { return port; },
    dataDir: data.dir,
    get running() { return proc !== null; },
    logs: () => recent.slice(),
    stop,
    async start() {
      if (proc) throw new Error(`${label} is running already`);
      const url = await launch();
      if (url !== server.url) throw new Error(`${label} came back on ${url}, not ${server.url}`);
    },
    async restart() { await stop(); await server.start(); },
    async close() { await stop(); data.remove(); },
  };
  return server;
}

// ---------------------------------------------------------------------------
// Chromium: Debian's, headless. playwright-core gives every launch its own
// temporary --user-data-dir and removes it on close (checked by the smoke test).

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launchBrowser() {
  prerequisites();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

// ---------------------------------------------------------------------------
// One test's world: natterd, a browser, contexts and pages whose console
// errors and page errors are forwarded (an uncaught page error fails the
// test), and clean-up of all of it however the test ends.

export class World {
  constructor(server, browser) {
    this.server = server;
    this.browser = browser;
    this.pageErrors = [];
    this.pages = new Map();  // page -> label
  }

  get url() { return this.server.url; }

  // A browser context (its own storage: one browser profile, one device of
  // the app) and a page in it, watched.
  async newUser(label, { viewport = DESKTOP, storageState, contextOptions = {} } = {}) {
    const context = await this.browser.newContext({ viewport, storageState, ...contextOptions });
    context.setDefaultTimeout(UI_TIMEOUT);
    context.on('page', (p) => this.watch(p, label));
    const page = await context.newPage();
    return { context, page };
  }

  watch(page, label) {
    if (this.pages.has(page)) return;
    this.pages.set(page, label);
    page.on('close', () => this.pages.delete(page));
    page.on('console', (msg) => {
      const type = msg.type();
      if (type !== 'error' && type !== 'warning' && !VERBOSE) return;
      const loc = msg.location();
      const where = loc && loc.url ? ` (${loc.url.replace(this.url, '')}:${loc.lineNumber})` : '';
      process.stderr.write(`[${label} console.${type}] ${msg.text()}${where}\n`);
    });
    page.on('pageerror', (err) => {
      const text = `${label}: uncaught page error: ${err.stack || err.message || err}`;
      this.pageErrors.push(text);
      process.stderr.write(`[${label} pageerror] ${err.stack || err}\n`);
    });
    page.on('crash', () => {
      this.pageErrors.push(`${label}: the page crashed`);
      process.stderr.write(`[${label}] page crashed\n`);
    });
  }

  // What each open page shows, for a failing test's output, and a screenshot
  // of each in ARTIFACTS_DIR when set.
  async describe(testName) {
    const out = [];
    const dir = process.env.ARTIFACTS_DIR;
    let i = 0;
    for (const [page, label] of this.pages) {
      i += 1;
      try {
        const text = await page.evaluate(() => document.body ? document.body.innerText : '').catch(() => '(no text)');
        out.push(`--- ${label} at ${page.url()}:\n${text.slice(0, 2000)}`);
        if (dir) {
          fs.mkdirSync(dir, { recursive: true });
          const file = path.join(dir, `${slug(testName)}-${i}-${slug(label)}.png`);
          await page.screenshot({ path: file, timeout: 5000 });
          out.push(`(screenshot: ${file})`);
        }
      } catch { /* a closed page */ }
    }
    return out.join('\n');
  }
}

function slug(s) { return String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60); }

// `browserTest(name, async (world, t) => …)`: a node:test test with a fresh
// natterd and browser; fails on any uncaught page error.
export function browserTest(name, fn, { timeout = 120_000, natterdArgs = [], only } = {}) {
  return test(name, { timeout, only }, async (t) => {
    prerequisites();
    const server = await startNatterd({ extraArgs: natterdArgs });
    let browser;
    let world;
    let failed = true;
    try {
      browser = await launchBrowser();
      world = new World(server, browser);
      await fn(world, t);
      failed = false;
    } catch (err) {
      if (world) {
        const seen = await world.describe(name);
        if (seen) process.stderr.write(`\n=== what the pages show (${name}) ===\n${seen}\n`);
      }
      if (server) process.stderr.write(`=== natterd's last log lines ===\n${server.logs().slice(-30).join('\n')}\n`);
      throw err;
    } finally {
      if (browser) await browser.close().catch(() => {});
      await server.close();
      if (!failed && world && world.pageErrors.length) {
        throw new Error(`uncaught errors in the page:\n${world.pageErrors.join('\n')}`);
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Waiting: on conditions, each with a deadline; never a fixed sleep.

// Polls `fn` until it returns a truthy value (returned) or `timeout` passes
// (throws with `message` and the last value or error seen).
export async function eventually(fn, { timeout = UI_TIMEOUT, interval = 100, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`${message}: not true within ${timeout} ms (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// Waits until the (first) element of `locator` shows text matching `re`;
// a timeout says what it showed last.
export async function waitForText(locator, re, { timeout = UI_TIMEOUT, message = `text ${re}` } = {}) {
  return eventually(async () => {
    const text = await locator.first().innerText({ timeout: 1000 });
    if (re.test(text)) return text;
    throw new Error(JSON.stringify(text));
  }, { timeout, message });
}

// ---------------------------------------------------------------------------
// The UI contract, as locators and flows.

export const ui = {
  signInForm: (page) => page.getByRole('form', { name: 'Sign in' }),
  createForm: (page) => page.getByRole('form', { name: 'Create account' }),
  connection: (page) => page.locator('[data-testid=connection]'),
  conversations: (page) => page.getByRole('navigation', { name: 'Conversations' }),
  conversation: (page, title) => ui.conversations(page).getByRole('button', { name: title }),
  dialog: (page, name) => page.getByRole('dialog', { name }),
  chat: (page) => page.locator('main'),
  chatTitle: (page) => page.locator('main h2'),
  chatStatus: (page) => page.locator('[data-testid=chat-status]'),
  log: (page) => page.getByRole('log', { name: 'Messages' }),
  messages: (page) => ui.log(page).locator('li[data-testid=message]'),
  message: (page, text) => ui.messages(page).filter({ has: page.locator('[data-testid=message-text]', { hasText: text }) }),
  mine: (page, text) => ui.message(page, text).and(page.locator('[data-mine="true"]')),
  composer: (page) => page.getByRole('form', { name: 'Send a message' }),
  textarea: (page) => ui.composer(page).getByRole('textbox', { name: 'Message' }),
};

export function account(name, displayName) {
  return { username: name, displayName: displayName ?? name[0].toUpperCase() + name.slice(1), password: `pw-${name}-correct-horse` };
}

// The main screen is up: the list pane's buttons are there.
export async function waitForMainScreen(page, timeout = UI_TIMEOUT) {
  await page.getByRole('button', { name: 'New chat', exact: true }).waitFor({ timeout });
}

export async function waitForConnection(page, state = 'online', timeout = RECONNECT_TIMEOUT) {
  await page.locator(`[data-testid=connection][data-state="${state}"]`).waitFor({ state: 'attached', timeout });
}

// Registers through the UI's "Create account" form; the app then signs in.
export async function registerViaUI(page, url, acct) {
  await page.goto(url);
  await page.getByRole('heading', { level: 1, name: 'natter' }).waitFor();
  await page.getByRole('button', { name: 'Create an account', exact: true }).click();
  const form = ui.createForm(page);
  await form.getByRole('textbox', { name: 'Username' }).fill(acct.username);
  await form.getByRole('textbox', { name: 'Display name' }).fill(acct.displayName);
  await form.getByLabel('Password', { exact: true }).fill(acct.password);
  await form.getByRole('button', { name: 'Create account', exact: true }).click();
  await waitForMainScreen(page);
  await waitForConnection(page, 'online', UI_TIMEOUT);
}

export async function signInViaUI(page, url, acct) {
  await page.goto(url);
  const form = ui.signInForm(page);
  await form.getByRole('textbox', { name: 'Username' }).fill(acct.username);
  await form.getByLabel('Password', { exact: true }).fill(acct.password);
  await form.getByRole('button', { name: 'Sign in', exact: true }).click();
  await waitForMainScreen(page);
  await waitForConnection(page, 'online', UI_TIMEOUT);
}

// Opens a 1:1 chat through the "New chat" dialog.
export async function startChat(page, username, title) {
  await page.getByRole('button', { name: 'New chat', exact: true }).click();
  const dialog = ui.dialog(page, 'New chat');
  await dialog.getByRole('textbox', { name: 'Username' }).fill(username);
  await dialog.getByRole('button', { name: 'Start chat', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  if (title) await ui.chatTitle(page).filter({ hasText: title }).waitFor();
  await ui.textarea(page).waitFor();
}

export async function createGroup(page, name, members) {
  await page.getByRole('button', { name: 'New group', exact: true }).click();
  const dialog = ui.dialog(page, 'New group');
  await dialog.getByRole('textbox', { name: 'Group name' }).fill(name);
  await dialog.getByRole('textbox', { name: 'Members' }).fill(members.join(', '));
  await dialog.getByRole('button', { name: 'Create group', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  await ui.chatTitle(page).filter({ hasText: name }).waitFor();
}

// Opens a conversation from the list (its button's name holds the title).
// The list re-sorts as messages arrive, so a click can land on the item
// that just moved under the pointer: click again until the chat is open.
export async function openConversation(page, title) {
  const deadline = Date.now() + UI_TIMEOUT;
  for (;;) {
    await ui.conversation(page, title).first().click();
    try {
      await ui.chatTitle(page).filter({ hasText: title }).waitFor({ timeout: 3_000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
  await ui.log(page).waitFor();
}

// Types `text` into the composer and sends it with Enter; returns the
// message's locator on the sender's side (it shows at once, pending or not).
export async function sendText(page, text) {
  const box = ui.textarea(page);
  await box.fill(text);
  await box.press('Enter');
  const msg = ui.mine(page, text);
  await msg.waitFor();
  return msg;
}

export async function statusOf(page, text) {
  return ui.mine(page, text).getAttribute('data-status');
}

export async function waitForStatus(page, text, status, timeout = UI_TIMEOUT) {
  const want = Array.isArray(status) ? status : [status];
  const sel = want.map((s) => `[data-status="${s}"]`).join(',');
  await ui.mine(page, text).and(page.locator(sel)).waitFor({ timeout });
}

// The texts of the open chat's messages, top to bottom.
export async function messageTexts(page) {
  return ui.log(page).locator('li[data-testid=message] [data-testid=message-text]').allInnerTexts();
}

// Records every data-status each of my messages takes, in order, from now
// on (a MutationObserver in the page): `statusHistory(page)` reads it.
export async function recordStatuses(page) {
  await page.evaluate(() => {
    if (window.__natterStatuses) return;
    const seen = new Map();
    window.__natterStatuses = seen;
    const note = (li) => {
      if (!(li instanceof Element) || li.dataset.testid !== 'message' || li.dataset.mine !== 'true') return;
      const text = li.querySelector('[data-testid=message-text]')?.textContent ?? '';
      const list = seen.get(text) ?? [];
      const s = li.dataset.status ?? '';
      if (list[list.length - 1] !== s) list.push(s);
      seen.set(text, list);
    };
    document.querySelectorAll('li[data-testid=message]').forEach(note);
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') note(r.target);
        for (const n of r.addedNodes ?? []) {
          if (!(n instanceof Element)) continue;
          note(n);
          n.querySelectorAll?.('li[data-testid=message]').forEach(note);
        }
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
  });
}

export async function statusHistory(page, text) {
  return page.evaluate((t) => [...(window.__natterStatuses?.get(t) ?? [])], text);
}

const STATUS_RANK = { pending: 0, sent: 1, delivered: 2, read: 3 };
// A message's ticks never go back: each status recorded ranks at least as
// high as the one before.
export function assertMonotonic(history, what) {
  for (let i = 1; i < history.length; i++) {
    if (!(STATUS_RANK[history[i]] >= STATUS_RANK[history[i - 1]])) {
      throw new Error(`${what}: the ticks went back: ${history.join(' → ')}`);
    }
  }
}

// ---------------------------------------------------------------------------
// The HTTP API from Node (fetch), and the WebSocket from a browser page
// (Node 20 has no WebSocket without a flag; the browser's is the real thing).

export async function api(url, method, pathname, { token, body } = {}) {
  const res = await fetch(new URL(pathname, url), {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${pathname} → ${res.status} ${text}`);
  return json;
}

export async function registerViaAPI(url, acct) {
  const { user_id } = await api(url, 'POST', '/v1/accounts', { body: { username: acct.username, password: acct.password, display_name: acct.displayName } });
  return user_id;
}

// A new device of the account, signed in over HTTP: {user_id, device_id, access_token, …}.
export async function signInViaAPI(url, acct, deviceName = 'test-api') {
  return api(url, 'POST', '/v1/sessions', { body: { username: acct.username, password: acct.password, device_name: deviceName } });
}

export function directConversationId(a, b) {
  const [lo, hi] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  return `d:${lo}:${hi}`;
}

// Every message of a conversation from history, oldest first (pages of 200).
export async function history(url, token, conversationId) {
  const all = [];
  let before = null;
  for (;;) {
    const q = new URLSearchParams({ limit: '200', ...(before ? { before_seq: String(before) } : {}) });
    const { messages } = await api(url, 'GET', `/v1/conversations/${encodeURIComponent(conversationId)}/messages?${q}`, { token });
    if (!messages.length) break;
    all.push(...messages);
    before = messages[messages.length - 1].seq;
    if (before <= 1) break;
  }
  return all.reverse();
}

// Sends `bodies` in order to `to` ({user: id} or {group: id}) over a
// WebSocket opened by a page of a context of its own, as the signed-in
// device `session`; resolves with the `sent` frames once all are durable.
export async function sendViaWebSocket(world, session, to, bodies) {
  const context = await world.browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(new URL('/healthz', world.url).href);  // same origin, no CSP: a blank JSON page
    const { ticket } = await api(world.url, 'POST', '/v1/ws-tickets', { token: session.access_token });
    return await page.evaluate(async ({ userId, ticket, to, bodies }) => {
      const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/v1/ws?user=${userId}&ticket=${encodeURIComponent(ticket)}`);
      const sent = [];
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${sent.length} of ${bodies.length} sent within 30 s`)), 30_000);
        ws.onerror = () => reject(new Error('WebSocket error'));
        ws.onclose = (e) => reject(new Error(`WebSocket closed ${e.code} ${e.reason}`));
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.type === 'message') ws.send(JSON.stringify({ type: 'ack', message_ids: [f.message_id] }));
          else if (f.type === 'sync_done' && sent.length === 0) {
            bodies.forEach((body, i) => ws.send(JSON.stringify({ type: 'send', id: String(i), client_msg_id: crypto.randomUUID(), to, body })));
          } else if (f.type === 'sent') {
            sent.push(f);
            if (sent.length === bodies.length) { clearTimeout(timer); ws.onclose = null; resolve(); }
          } else if (f.type === 'error') {
            reject(new Error(`error frame: ${e.data}`));
          }
        };
      });
      ws.close();
      return sent.sort((a, b) => Number(a.id) - Number(b.id));
    }, { userId: session.user_id, ticket, to, bodies });
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------
// Real PNGs, made here: `encodePng(w, h, (x, y) => [r, g, b])` (8-bit RGB),
// and `makePng(w, h)`, a colour gradient.

export function makePng(width, height) {
  return encodePng(width, height, (x, y) => [
    (x / Math.max(1, width - 1)) * 255, (y / Math.max(1, height - 1)) * 255, 160]);
}

export function encodePng(width, height, pixel) {
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    raw[y * stride] = 0;  // filter: none
    for (let x = 0; x < width; x++) {
      const rgb = pixel(x, y);
      for (let i = 0; i < 3; i++) raw[y * stride + 1 + x * 3 + i] = Math.max(0, Math.min(255, Math.round(rgb[i])));
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;   // bit depth
  ihdr[9] = 2;   // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function uuid() { return crypto.randomUUID(); }
