// The System page's OTA update: a wrong file is refused with a message
// that says what to upload; a crafted disk image in gokrazy's layout
// (OEPC_WEBUI_OTA_IMAGE) goes through to the stand-in for gokrazy that the
// Go test runs, with the root and boot partitions' bars reaching 100%,
// then "rebooting". The Go test then checks every partition byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ui from "./lib.mjs";

test("OTA update from the System page", async (t) => {
  const image = process.env.OEPC_WEBUI_OTA_IMAGE;
  assert.ok(image, "OEPC_WEBUI_OTA_IMAGE is not set (run through the Go test)");
  const browser = await ui.launch();
  t.after(() => browser.close());
  const [b1] = ui.boxes();
  const page = await ui.signedIn(browser, b1, ui.DESKTOP);
  await page.goto(b1.url + "/system");
  await page.locator("#ota-form").waitFor();

  await t.test("a file that is not an image is refused, nothing written", async () => {
    const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ota-")), "holiday.jpg");
    fs.writeFileSync(bad, Buffer.alloc(120 << 20, 7));
    await page.getByLabel(/Disk image of the new version/).setInputFiles(bad);
    await page.getByRole("button", { name: "Update the box" }).click();
    await page.locator('#ota-progress[data-state="failed"]').waitFor({ timeout: 120000 });
    assert.match(await page.locator("#ota-state").innerText(), /not a disk image.*oepc-.*\.img/);
    await ui.axe(page, "system (OTA refused)");
  });

  await t.test("an image goes through: root, boot, MBR, switch, reboot", async () => {
    await page.getByLabel(/Disk image of the new version/).setInputFiles(image);
    await page.getByRole("button", { name: "Update the box" }).click();
    await page.locator('#ota-progress[data-state="rebooting"]').waitFor({ timeout: 180000 });
    for (const id of ["ota-sent", "ota-root", "ota-boot"]) {
      const [v, max] = await page.locator("#" + id).evaluate((el) => [el.value, el.max]);
      assert.ok(max > 1 && v === max, `${id} at ${v} of ${max}`);
    }
    assert.match(await page.locator("#ota-state").innerText(), /rebooting into the new version/);
    const st = await page.request.get(b1.url + "/system/update/status");
    const body = await st.json();
    assert.equal(body.state, "rebooting");
    assert.deepEqual(body.parts.map((p) => [p.name, p.done, p.written === p.total]), [["root", true, true], ["boot", true, true], ["mbr", true, true]]);
    await ui.checkPage(page, "system-ota");
  });

  await t.test("a cross-site upload is refused", async () => {
    const resp = await page.request.post(b1.url + "/system/update", {
      headers: { "Content-Type": "application/octet-stream", "Sec-Fetch-Site": "cross-site" },
      data: Buffer.from("x"),
    });
    assert.equal(resp.status(), 403);
  });
});
