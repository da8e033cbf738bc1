// Repeated wrong passwords are slowed down (runs last: it uses up this
// address's sign-in attempts).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ui from "./lib.mjs";

test("wrong passwords are slowed, then refused for a while", async (t) => {
  const browser = await ui.launch();
  t.after(() => browser.close());
  const box = ui.boxes()[1];
  const page = await ui.newPage(browser, ui.PHONE);
  await page.goto(box.url + "/signin");
  const times = [];
  let limited = null;
  for (let i = 0; i < 8 && !limited; i++) {
    await page.getByLabel("Password").fill("wrong password " + i);
    const t0 = Date.now();
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/signin") && r.request().method() === "POST"),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    await page.waitForLoadState("load");
    times.push(Date.now() - t0);
    if (resp.status() === 429) limited = { i, text: await ui.flash(page), retry: resp.headers()["retry-after"] };
    else assert.equal(resp.status(), 403, `attempt ${i}: status ${resp.status()}`);
  }
  assert.ok(limited, "eight wrong passwords in a row were never limited");
  assert.ok(limited.i >= 3 && limited.i <= 6, `limited after ${limited.i} attempts`);
  assert.match(limited.text, /Too many sign-in attempts.*Wait \d+ seconds/);
  assert.ok(Number(limited.retry) >= 1);
  // Each failure before the limit waited for the box's failure delay.
  for (const ms of times.slice(0, limited.i)) assert.ok(ms >= 900, `a wrong password answered after ${ms} ms`);
  // While limited, even the right password waits.
  await page.getByLabel("Password").fill(ui.PASSWORD);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/signin") && r.request().method() === "POST"),
    page.getByRole("button", { name: "Sign in" }).click(),
  ]);
  assert.equal(resp.status(), 429);
});
