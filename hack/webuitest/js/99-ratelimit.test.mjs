// Repeated wrong passwords are slowed down (runs last: it uses up this
// address's sign-in attempts). The box allows 5 failures, then one more
// per 20 s; on a loaded machine the attempts are slow enough for a refill
// or two, which the bounds allow for.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ui from "./lib.mjs";

const BURST = 5;
const REFILL_MS = 20000;

async function attempt(page, pw) {
  await page.getByLabel("Password").fill(pw);
  const t0 = Date.now();
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/signin") && r.request().method() === "POST"),
    page.getByRole("button", { name: "Sign in" }).click(),
  ]);
  await page.waitForLoadState("load");
  return { resp, ms: Date.now() - t0, at: Date.now() };
}

test("wrong passwords are slowed, then refused for a while", async (t) => {
  const browser = await ui.launch();
  t.after(() => browser.close());
  const box = ui.boxes()[1];
  const page = await ui.newPage(browser, ui.PHONE);
  await page.goto(box.url + "/signin");
  const start = Date.now();
  const times = [];
  let limited = null;
  for (let i = 0; i < 12 && !limited; i++) {
    const a = await attempt(page, "wrong password " + i);
    if (a.resp.status() === 429) {
      limited = { i, text: await ui.flash(page), retry: Number(a.resp.headers()["retry-after"]), at: a.at };
    } else {
      assert.equal(a.resp.status(), 403, `attempt ${i}: status ${a.resp.status()}`);
      times.push(a.ms);
    }
  }
  assert.ok(limited, "twelve wrong passwords in a row were never limited");
  const refills = Math.ceil((limited.at - start) / REFILL_MS);
  assert.ok(limited.i >= BURST && limited.i <= BURST + refills, `limited after ${limited.i} failures in ${limited.at - start} ms`);
  assert.match(limited.text, /Too many sign-in attempts.*Wait \d+ seconds/);
  assert.ok(limited.retry >= 1 && limited.retry <= REFILL_MS / 1000, `Retry-After ${limited.retry}`);
  // Each failure waited for the box's failure delay (1 s) before answering.
  for (const ms of times) assert.ok(ms >= 900, `a wrong password answered after ${ms} ms`);
  // Within the wait even the right password is refused.
  const right = await attempt(page, ui.PASSWORD);
  const waited = (right.at - right.ms - limited.at) / 1000;
  if (waited < limited.retry - 1) {
    // (That it works again after the wait is webui's TestLimiter.)
    assert.equal(right.resp.status(), 429, `the right password ${waited.toFixed(1)} s into a ${limited.retry} s wait`);
  } else {
    t.diagnostic(`the right password came ${waited.toFixed(1)} s after the 429 (wait ${limited.retry} s): the machine is slow`);
    assert.equal(right.resp.status(), 303, "the right password after the wait");
  }
});
