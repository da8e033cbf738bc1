// The System and Network pages, the Sessions list with sign-out of another
// browser, and removing a friend.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ui from "./lib.mjs";

test("system and network pages", async (t) => {
  const browser = await ui.launch();
  t.after(() => browser.close());
  const [b1, b2] = ui.boxes();
  const page = await ui.signedIn(browser, b1, ui.DESKTOP);

  await t.test("network: super node, counts, peers by friend name", async () => {
    await page.goto(b1.url + "/network");
    const st = await ui.api(b1, "GET", "/v1/status");
    const main = await page.locator("main").innerText();
    assert.match(main, /Direct ratio/);
    if (st.network.bootstrap) assert.ok(main.includes(st.network.bootstrap), "the super node is not shown");
    for (const a of st.network.addrs.slice(0, 2)) assert.ok(main.includes(a), `address ${a} not shown`);
    assert.match(main, /Bob's box|box2/, "the friend box is not among the peers");
    await ui.checkPage(page, "network");
  });

  await t.test("system: version, health, storage, fingerprint, logs", async () => {
    await page.goto(b1.url + "/system");
    const main = await page.locator("main").innerText();
    const st = await ui.api(b1, "GET", "/v1/status");
    assert.ok(main.includes(st.version));
    assert.match(main, /oepcd/);
    assert.match(await page.locator("#fingerprint").innerText(), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(main, /used of/);
    assert.match(main, /box up/, "the recent log misses the box's start");
    assert.doesNotMatch(main, /\b\d{3}-\d{3}\b.*pairing|pairing code.*code=\d/, "the log shows a pairing code");
    await ui.checkPage(page, "system");
  });

  await t.test("a session is signed out from the Sessions list", async () => {
    const other = await ui.signedIn(browser, b1, ui.PHONE);
    await page.goto(b1.url + "/system");
    const rows = page.locator("ul.list > li", { hasNot: page.locator(".badge", { hasText: "this browser" }) });
    const before = await page.locator("ul.list > li").count();
    assert.ok(before >= 2, `only ${before} sessions listed`);
    await rows.first().getByRole("button", { name: /^Sign out the session/ }).click();
    await page.getByRole("status").filter({ hasText: "signed out" }).waitFor();
    assert.equal(await page.locator("ul.list > li").count(), before - 1);
    // Which one went? At least one of the other browsers is signed out
    // now; ours is not.
    await other.goto(b1.url + "/system");
    const otherOut = new URL(other.url()).pathname === "/signin";
    await page.goto(b1.url + "/system");
    assert.equal(new URL(page.url()).pathname, "/system", "signing out another session signed this one out");
    if (before === 2) assert.ok(otherOut, "the other browser is still signed in");
  });

  await t.test("box 2 removes box 1 after confirming", async () => {
    const p2 = await ui.signedIn(browser, b2, ui.PHONE);
    await p2.goto(b2.url + "/friends");
    const row = p2.locator(`[data-friend="${b1.peerID}"]`);
    await row.locator("summary").click();
    await row.getByRole("checkbox").check();
    await row.getByRole("button", { name: /^Remove / }).click();
    await p2.getByRole("status").filter({ hasText: "removed" }).waitFor();
    assert.match(await ui.flash(p2), /removed/);
    assert.equal(await p2.locator(`[data-friend="${b1.peerID}"]`).count(), 0);
    assert.ok(!(await ui.api(b2, "GET", "/v1/friends")).some((f) => f.id === b1.peerID));
  });
});
