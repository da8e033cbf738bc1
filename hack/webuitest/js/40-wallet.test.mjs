// The Wallet page. The devnet's boxes may run without a light node (then
// the page says so, and why); with one, the page shows the proven balance,
// history, the light node and the super nodes, and sends with a
// confirmation step. The full page against a real light node is also
// tested in Go (webui/wallet_chain_test.go).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ui from "./lib.mjs";

async function chainStatus(box) {
  const resp = await fetch(box.url + "/v1/chain/status", { headers: { Authorization: "Bearer " + box.token } });
  return { status: resp.status, body: await resp.json() };
}

test("wallet page", async (t) => {
  const browser = await ui.launch();
  t.after(() => browser.close());
  const [b1, b2] = ui.boxes();
  const page = await ui.signedIn(browser, b1, ui.DESKTOP);
  const cs = await chainStatus(b1);

  await page.goto(b1.url + "/wallet");
  assert.equal(await page.getByRole("link", { name: "Wallet" }).getAttribute("aria-current"), "page");

  if (cs.status === 503) {
    await t.test("without a light node the page says so, and why", async () => {
      await page.getByRole("heading", { name: "Light node not running" }).waitFor();
      const why = await page.locator("#off-why").innerText();
      assert.ok(cs.body.error.includes(why.trim()) || why.includes(cs.body.error), `reason shown ${JSON.stringify(why)}, API says ${JSON.stringify(cs.body.error)}`);
      assert.equal(await page.locator("#send-form").count(), 0, "a send form without a light node");
      await ui.checkPage(page, "wallet-off");
    });
    return;
  }
  assert.equal(cs.status, 200, JSON.stringify(cs.body));

  await t.test("balance, light node, super nodes, history", async () => {
    const w = await ui.api(b1, "GET", "/v1/wallet");
    assert.equal((await page.locator("#address").innerText()).trim(), w.address);
    assert.match(await page.locator("#balance").innerText(), /^\d+\.\d{6} OEC$/);
    assert.match(await page.locator("#verified-height").innerText(), /^\d+/);
    await page.getByRole("heading", { name: "Super nodes" }).waitFor();
    await page.getByRole("heading", { name: "History" }).waitFor();
    await ui.checkPage(page, "wallet");
  });

  await t.test("a wrong address is refused before anything is sent", async () => {
    await page.getByLabel("Recipient's address").fill("not-an-address");
    await page.getByLabel("Amount (OEC)").fill("0.1");
    // The browser's own check stops the form; without it the box's.
    await page.evaluate(() => document.querySelector("#send-form").setAttribute("novalidate", ""));
    await page.getByRole("button", { name: "Review the transfer" }).click();
    await page.getByRole("alert").filter({ hasText: "not an OEChain address" }).waitFor();
  });

  const w1 = await ui.api(b1, "GET", "/v1/wallet");
  if (w1.balance < 200_000) {
    t.diagnostic("box 1's wallet has under 0.2 OEC: the send is not tried");
    return;
  }
  await t.test("send with a confirmation", async () => {
    const to = (await ui.api(b2, "GET", "/v1/wallet")).address;
    await page.goto(b1.url + "/wallet");
    await page.getByLabel("Recipient's address").fill(to);
    await page.getByLabel("Amount (OEC)").fill("0.1");
    await page.getByRole("button", { name: "Review the transfer" }).click();
    await page.locator("#confirm").waitFor();
    assert.equal((await page.locator("#confirm-to").innerText()).trim(), to);
    assert.match(await page.locator("#confirm-amount").innerText(), /^0\.100000 OEC$/);
    await ui.checkPage(page, "wallet-confirm");
    await page.getByRole("button", { name: /^Send 0\.100000 OEC$/ }).click();
    await page.getByRole("status").filter({ hasText: "proven in block" }).waitFor({ timeout: 90000 });
  });
});
