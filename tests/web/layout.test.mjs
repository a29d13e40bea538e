// Layout: on a phone (390×844) and a desktop (1280×800) nothing sticks out
// past the right edge of the window: sign-in, the list, a chat, the dialogs.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
  DESKTOP, PHONE, account, browserTest, openConversation, prerequisites, registerViaAPI, sendText,
  sendViaWebSocket, signInViaAPI, signInViaUI, ui,
} from './harness.mjs';

before(() => prerequisites());

// Visible elements whose box ends past the window's right edge (the first
// few, outermost first), and the document's scroll width.
async function overflow(page) {
  return page.evaluate(() => {
    const w = window.innerWidth;
    const out = [];
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || r.right <= w + 0.5) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden' || cs.position === 'fixed') continue;
      // Inside something that clips it (scrolls or hides overflow) within the window: fine.
      let clipped = false;
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const ps = getComputedStyle(p);
        if (ps.overflowX !== 'visible' && p.getBoundingClientRect().right <= w + 0.5) { clipped = true; break; }
      }
      if (clipped) continue;
      if (out.some((o) => o.el.contains(el))) continue;
      out.push({ el, desc: `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} right=${Math.round(r.right)}` });
      if (out.length >= 5) break;
    }
    return { scrollWidth: document.documentElement.scrollWidth, width: w, sticking: out.map((o) => o.desc) };
  });
}

for (const [label, viewport] of [['phone 390×844', PHONE], ['desktop 1280×800', DESKTOP]]) {
  browserTest(`nothing overflows the window on ${label}`, async (world) => {
    const problems = [];
    const check = async (page, where) => {
      const o = await overflow(page);
      if (o.scrollWidth > o.width || o.sticking.length) {
        problems.push(`${where}: document ${o.scrollWidth}px wide in a ${o.width}px window; past the edge: ${o.sticking.join(', ') || '-'}`);
      }
    };
    const me = account('alice', 'Alice Liddell');
    const peer = account('bob', 'Bob Builder');
    const { page } = await world.newUser('alice', { viewport });
    await page.goto(world.url);
    await ui.signInForm(page).waitFor();
    await check(page, 'sign-in');

    const myId = await registerViaAPI(world.url, me);
    await registerViaAPI(world.url, peer);
    await signInViaUI(page, world.url, me);
    await sendViaWebSocket(world, await signInViaAPI(world.url, peer, 'phone'), { user: myId },
      ['A long one to see how the preview line behaves when it does not fit in the list: Saturday, 9:10, platform 4, bring the map and the good coffee please.',
        'https://example.com/a/very/long/link/without/any/spaces/that/must/wrap/somewhere/or/else/it/pushes/the/bubble/out/of/the/window']);
    await ui.conversation(page, 'Bob Builder').waitFor();
    await check(page, 'conversation list');
    await openConversation(page, 'Bob Builder');
    await ui.message(page, 'without/any/spaces').waitFor();
    await sendText(page, 'Sounds good!');
    await check(page, 'chat open');

    const back = page.getByRole('button', { name: 'Back', exact: true });
    if (await back.isVisible()) {
      await back.click();
      await ui.conversations(page).waitFor();
      await check(page, 'back to the list');
    }
    for (const name of ['New group', 'Settings']) {
      await page.getByRole('button', { name, exact: true }).click();
      await ui.dialog(page, name).waitFor();
      await check(page, `${name} dialog`);
      await page.keyboard.press('Escape');
      await ui.dialog(page, name).waitFor({ state: 'hidden' });
    }
    assert.deepEqual(problems, [], `content past the window's right edge:\n${problems.join('\n')}`);
  });
}
