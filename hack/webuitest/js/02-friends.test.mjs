// Invite and accept a friend between two boxes, each in its own browser
// context; the inviting box's list updates live; rename, block, remove.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ui from "./lib.mjs";

test("friends between two boxes", async (t) => {
  const browser = await ui.launch();
  t.after(() => browser.close());
  const [b1, b2] = ui.boxes();
  const p1 = await ui.signedIn(browser, b1, ui.DESKTOP);
  const p2 = await ui.signedIn(browser, b2, ui.PHONE);
  await p1.goto(b1.url + "/friends");
  await p2.goto(b2.url + "/friends");
  await p1.locator("body[data-live-connected]").waitFor();

  let code, uri;
  await t.test("box 1 makes an invite: code, link and QR code", async () => {
    await p1.getByRole("button", { name: "Make an invite" }).click();
    await p1.locator("#invite-code").waitFor();
    code = (await p1.locator("#invite-code").innerText()).trim();
    uri = await p1.getByLabel("Invite link", { exact: true }).inputValue();
    assert.match(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    assert.match(uri, /^oe:\/\/friend\//);
    const qr = p1.getByRole("img", { name: "QR code of the invite link" });
    assert.equal(await qr.count(), 1);
    const box = await qr.boundingBox();
    assert.ok(box.width >= 150, `QR code only ${box.width}px wide`);
    await ui.checkPage(p1, "friends-invite");
  });

  await t.test("a made-up code is refused with a message", async () => {
    await p2.getByLabel("Code or oe://friend/ link").fill("not a code");
    await p2.getByRole("button", { name: "Accept" }).click();
    await p2.getByRole("alert").waitFor();
    assert.match(await ui.flash(p2), /not accepted/);
  });

  await t.test("box 2 accepts by code; box 1's list shows it live", async () => {
    await p2.getByLabel("Code or oe://friend/ link").fill(code);
    await p2.getByRole("button", { name: "Accept" }).click();
    await p2.getByRole("status").waitFor({ timeout: 60000 });
    assert.match(await ui.flash(p2), new RegExp(`You and ${b1.name} are friends now`));
    await p2.locator(`[data-friend="${b1.peerID}"]`).waitFor();
    // Box 1's page was not reloaded: the event stream brings box 2 in.
    const row = p1.locator(`[data-friend="${b2.peerID}"]`);
    await row.waitFor({ timeout: 20000 });
    await row.locator(".state", { hasText: "online" }).waitFor({ timeout: 20000 });
    assert.equal(await p1.locator("#invite-code").innerText(), code, "box 1's page was reloaded");
    await ui.checkPage(p2, "friends");
  });

  await t.test("rename, block and unblock on box 1", async () => {
    await p1.goto(b1.url + "/friends");
    const row = p1.locator(`[data-friend="${b2.peerID}"]`);
    await row.locator("summary").click();
    await row.getByLabel("New name").fill("Bob's box");
    await row.getByRole("button", { name: "Rename" }).click();
    await p1.getByRole("status").filter({ hasText: "Renamed to Bob's box" }).waitFor();
    const row2 = p1.locator(`[data-friend="${b2.peerID}"]`);
    assert.equal((await row2.locator(".fname").innerText()).trim(), "Bob's box");
    const api = await ui.api(b1, "GET", "/v1/friends");
    assert.equal(api.find((f) => f.id === b2.peerID).name, "Bob's box");
    await row2.locator("summary").click();
    await row2.getByRole("button", { name: "Block Bob's box" }).click();
    await p1.getByRole("status").filter({ hasText: "is blocked" }).waitFor();
    await p1.locator(`[data-friend="${b2.peerID}"] .badge`, { hasText: "blocked" }).waitFor();
    assert.equal((await ui.api(b1, "GET", "/v1/friends")).find((f) => f.id === b2.peerID).blocked, true);
    await p1.locator(`[data-friend="${b2.peerID}"] summary`).click();
    await p1.locator(`[data-friend="${b2.peerID}"]`).getByRole("button", { name: "Unblock Bob's box" }).click();
    await p1.getByRole("status").filter({ hasText: "is unblocked" }).waitFor();
    assert.equal((await ui.api(b1, "GET", "/v1/friends")).find((f) => f.id === b2.peerID).blocked, false);
  });

  await t.test("a remove without the confirmation changes nothing", async () => {
    const r = await p1.request.post(b1.url + "/friends", { form: { do: "remove", id: b2.peerID } });
    assert.equal(r.status(), 400);
    assert.match(await r.text(), /confirm/);
    assert.ok((await ui.api(b1, "GET", "/v1/friends")).some((f) => f.id === b2.peerID));
    const bad = await p1.request.post(b1.url + "/friends", { form: { do: "rename", id: "../../v1/status", name: "x" } });
    assert.ok([400, 404].includes(bad.status()), `a traversing friend ID answered ${bad.status()}`);
    assert.match(await bad.text(), /class="alert error"/);
    assert.equal((await ui.api(b1, "GET", "/v1/friends")).find((f) => f.id === b2.peerID).name, "Bob's box");
  });
});
