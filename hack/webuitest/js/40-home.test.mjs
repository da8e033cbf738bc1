// The Home page (issue 11) on box 1, whose homed drives a simulated
// Insteon modem: the owner opens a pairing code; a phone-sized browser
// pairs with the typed digits (after a wrong one), another with the QR
// code's link; the phone switches the floor lamp (pending, then on, and
// the simulated lamp really is on), dims the ceiling, sees the porch
// pressed by hand arrive live, sees an unplugged lamp's error, fires a
// scene, and is refused on the owner's pages and API routes; the owner
// adds and removes a schedule, renames and unpairs a phone; axe A/AA and
// screenshots at phone, desktop and dark.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import * as ui from "./lib.mjs";

// sim calls the simulated power line's control socket (packages/home/homesim).
function sim(box, method, p) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: path.join(box.dataDir, "homed", "sim.sock"), path: p, method, timeout: 10000 }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        if (res.statusCode >= 300) reject(new Error(`sim ${method} ${p}: ${res.statusCode} ${body}`));
        else resolve(body ? JSON.parse(body) : null);
      });
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("sim: timeout")));
    req.end();
  });
}

async function simLevel(box, name) {
  const d = (await sim(box, "GET", "/devices")).find((x) => x.name === name);
  assert.ok(d, `no simulated ${name}`);
  return d.level;
}

async function eventually(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const deviceItem = (page, name) => page.locator(`li.device[data-device="${name}"]`);
const deviceButton = (page, name) => deviceItem(page, name).getByRole("button", { name, exact: true });

// recordStates notes every data-state a device's item takes in the page.
async function recordStates(page, name) {
  await page.evaluate((n) => {
    const li = document.querySelector(`li.device[data-device="${n}"]`);
    window.__states = [li.dataset.state];
    new MutationObserver(() => window.__states.push(li.dataset.state)).observe(li, { attributes: true, attributeFilter: ["data-state"] });
  }, name);
}

test("home page: pair phones, switch lamps, live presses, refusals", async (t) => {
  const browser = await ui.launch();
  t.after(() => browser.close());
  const box = ui.boxes()[0];
  // Start from known states: the lamp off, the porch off, everyone plugged in.
  for (const d of ["Floor lamp", "Porch"]) await sim(box, "POST", `/missing?device=${encodeURIComponent(d)}&on=0`);
  await eventually("homed to list the simulated devices", async () => (await ui.api(box, "GET", "/v1/home/devices")).length >= 4);
  await ui.api(box, "POST", "/v1/home/devices/Floor%20lamp/off");
  await ui.api(box, "POST", "/v1/home/devices/Porch/off");
  await ui.api(box, "PUT", "/v1/home/scenes/Evening", { name: "Evening", members: [{ device: "Floor lamp", level: 255 }, { device: "Ceiling", level: 128 }] });

  const owner = await ui.signedIn(browser, box, ui.DESKTOP);
  await owner.goto(box.url + "/home");
  await deviceButton(owner, "Floor lamp").waitFor();
  await owner.getByRole("button", { name: "Pair a phone" }).click();
  await owner.locator("#pair-digits").waitFor();
  const digits = (await owner.locator("#pair-digits").innerText()).trim();
  assert.match(digits, /^\d{4}-\d{4}$/);
  assert.equal(await owner.locator("#phones svg.qr").count(), 1, "no QR code");
  const link = await owner.locator("#pair-url").inputValue();
  assert.match(link, /\/pair\?t=[A-Za-z0-9_-]{43,}$/, "the QR link has no 256-bit token");
  await ui.checkPage(owner, "home-owner");

  const phone = await ui.newPage(browser, ui.PHONE);

  await t.test("a phone pairs with the code typed on the sign-in page", async () => {
    await phone.goto(box.url + "/");
    assert.equal(new URL(phone.url()).pathname, "/signin");
    const wrong = digits === "0000-0000" ? "1111-1111" : "0000-0000";
    await phone.getByLabel("Phone pairing code").fill(wrong);
    await phone.getByRole("button", { name: "Pair this phone" }).click();
    await phone.getByRole("alert").waitFor();
    assert.match(await ui.flash(phone), /Wrong or expired pairing code/);
    await phone.getByLabel("Pairing code from the owner's screen").fill(digits);
    await phone.getByLabel("Name of this phone").fill("Anna's phone");
    await Promise.all([phone.waitForURL((u) => u.pathname === "/home"), phone.getByRole("button", { name: "Pair this phone" }).click()]);
    const nav = await phone.getByRole("navigation", { name: "Pages" }).innerText();
    assert.equal(nav.trim(), "Home", "a household member's navigation offers more than Home");
    assert.equal(await phone.locator("#phones").count(), 0, "a household member sees the Phones part");
    // The owner's page shows the new phone live.
    await owner.locator("li.phone", { hasText: "Anna's phone" }).waitFor();
  });

  await t.test("the phone switches the floor lamp: pending, then on, and the lamp is on", async () => {
    await phone.evaluate(() => (window.__marker = 1));
    await recordStates(phone, "Floor lamp");
    const btn = deviceButton(phone, "Floor lamp");
    assert.equal(await btn.getAttribute("aria-pressed"), "false");
    await btn.click();
    await eventually("the lamp's button to show on", async () => (await btn.getAttribute("aria-pressed")) === "true");
    assert.equal(await deviceItem(phone, "Floor lamp").locator(".devstate").innerText(), "On");
    const states = await phone.evaluate(() => window.__states);
    assert.ok(states.indexOf("pending") >= 0 && states.indexOf("on") > states.indexOf("pending"), `states ${states}`);
    assert.equal(await simLevel(box, "Floor lamp"), 255, "the simulated lamp is not on");
    const d = await ui.api(box, "GET", "/v1/home/devices/Floor%20lamp");
    assert.equal(d.state.state, "on");
  });

  await t.test("the phone dims the ceiling with its slider", async () => {
    await deviceItem(phone, "Ceiling").getByLabel("Ceiling brightness").fill("40");
    await eventually("the ceiling at 40%", async () => (await deviceItem(phone, "Ceiling").locator(".devstate").innerText()) === "On · 40%");
    assert.equal(await simLevel(box, "Ceiling"), 102);
  });

  await t.test("a switch pressed by hand appears live", async () => {
    const btn = deviceButton(phone, "Porch");
    assert.equal(await btn.getAttribute("aria-pressed"), "false");
    await sim(box, "POST", "/press?device=Porch&on=1");
    await eventually("the porch pressed by hand to show on", async () => (await btn.getAttribute("aria-pressed")) === "true");
    assert.equal(await phone.evaluate(() => window.__marker), 1, "the page reloaded instead of updating live");
    await sim(box, "POST", "/press?device=Porch&on=0");
    await eventually("the porch off again", async () => (await btn.getAttribute("aria-pressed")) === "false");
  });

  await t.test("a device that does not answer shows an error", async () => {
    await sim(box, "POST", "/missing?device=Floor%20lamp&on=1");
    t.after(() => sim(box, "POST", "/missing?device=Floor%20lamp&on=0"));
    await deviceButton(phone, "Floor lamp").click();
    await eventually("the error", async () => (await deviceItem(phone, "Floor lamp").getAttribute("data-state")) === "error", 40000);
    assert.match(await deviceItem(phone, "Floor lamp").locator(".devstate").innerText(), /No answer: .*did not answer/);
    await sim(box, "POST", "/missing?device=Floor%20lamp&on=0");
  });

  await t.test("the phone fires a scene", async () => {
    await phone.getByRole("button", { name: "Evening on" }).click();
    await phone.locator("#flash .alert").waitFor();
    assert.match(await ui.flash(phone), /Scene Evening is on\./);
    assert.equal(await simLevel(box, "Floor lamp"), 255);
    assert.equal(await simLevel(box, "Ceiling"), 128);
  });

  await t.test("axe and screenshots of the phone's Home page", async () => {
    await phone.goto(box.url + "/home");
    await ui.checkPage(phone, "home");
  });

  await t.test("the household member is refused on the owner's pages and API", async () => {
    for (const p of ["/files", "/system", "/friends"]) {
      const resp = await phone.goto(box.url + p);
      assert.equal(resp.status(), 403, `${p} is open to a household member`);
      assert.match(await phone.locator("main").innerText(), /Not for your role[\s\S]*household member/);
    }
    await ui.checkPage(phone, "home-refused");
    for (const [m, p] of [["GET", "/v1/cloud/ls"], ["GET", "/v1/friends"], ["PUT", "/v1/home/devices/Floor%20lamp"], ["DELETE", "/v1/home/schedules/x"]]) {
      const st = await phone.evaluate(async ([m, p]) => (await fetch(p, { method: m, credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: m === "GET" ? undefined : "{}" })).status, [m, p]);
      assert.equal(st, 403, `${m} ${p} is open to a household member`);
    }
  });

  await t.test("a second phone pairs with the QR code's link; the owner renames and unpairs it", async () => {
    await owner.goto(box.url + "/home");
    await owner.getByRole("button", { name: "Pair a phone" }).click();
    await owner.locator("#pair-url").waitFor();
    const link2 = await owner.locator("#pair-url").inputValue();
    assert.notEqual(link2, link);
    const p2 = await ui.newPage(browser, ui.PHONE);
    await p2.goto(link2);
    await p2.getByLabel("Name of this phone").fill("Ben");
    await Promise.all([p2.waitForURL((u) => u.pathname === "/home"), p2.getByRole("button", { name: "Pair this phone" }).click()]);
    await deviceButton(p2, "Floor lamp").waitFor();
    // The link works once.
    const p3 = await ui.newPage(browser, ui.PHONE);
    await p3.goto(link2);
    await p3.getByRole("button", { name: "Pair this phone" }).click();
    await p3.getByRole("alert").waitFor();
    assert.equal(new URL(p3.url()).pathname, "/pair");

    const row = owner.locator("li.phone", { hasText: "Ben" });
    await row.waitFor();
    await row.getByLabel("Name", { exact: true }).fill("Ben's tablet");
    await row.getByRole("button", { name: "Rename Ben" }).click();
    await owner.getByRole("status").filter({ hasText: "Ben's tablet now" }).waitFor();
    await owner.locator("li.phone", { hasText: "Ben's tablet" }).getByRole("button", { name: "Unpair Ben's tablet" }).click();
    await owner.getByRole("status").filter({ hasText: "unpaired" }).waitFor();
    await p2.goto(box.url + "/home");
    assert.equal(new URL(p2.url()).pathname, "/signin", "an unpaired phone still reaches Home");
  });

  await t.test("without JavaScript a phone pairs and switches the lamp with plain forms", async () => {
    await owner.goto(box.url + "/home");
    await owner.getByRole("button", { name: "Pair a phone" }).click();
    await owner.locator("#pair-digits").waitFor();
    const code = (await owner.locator("#pair-digits").innerText()).trim();
    const ctx = await browser.newContext({ viewport: ui.PHONE, javaScriptEnabled: false });
    const nojs = await ctx.newPage();
    nojs.setDefaultTimeout(30000);
    await nojs.goto(box.url + "/signin");
    await nojs.getByLabel("Phone pairing code").fill(code);
    await Promise.all([nojs.waitForURL((u) => u.pathname === "/home"), nojs.getByRole("button", { name: "Pair this phone" }).click()]);
    const btn = deviceButton(nojs, "Floor lamp");
    const to = (await btn.getAttribute("aria-pressed")) === "true" ? "off" : "on";
    await Promise.all([nojs.waitForLoadState("load"), btn.click()]);
    await nojs.locator("#flash .alert").waitFor();
    assert.match(await ui.flash(nojs), new RegExp(`Floor lamp: ${to}\\.`));
    assert.equal(await deviceButton(nojs, "Floor lamp").getAttribute("aria-pressed"), to === "on" ? "true" : "false");
    assert.equal(await simLevel(box, "Floor lamp"), to === "on" ? 255 : 0, "the simulated lamp did not follow the plain form");
    await ctx.close();
  });

  await t.test("the owner adds and removes a schedule", async () => {
    await ui.api(box, "PUT", "/v1/home/settings", { time_zone: "Europe/Berlin", latitude: 52.52, longitude: 13.4 });
    await owner.goto(box.url + "/home");
    await owner.locator("details.addsched summary").click();
    await owner.getByLabel("Schedule name").fill("Porch at dusk");
    await owner.getByLabel("Switches").selectOption("device:Porch");
    await owner.getByLabel("When", { exact: true }).selectOption("sunset");
    await owner.getByLabel("Offset in minutes").fill("-15");
    await owner.getByRole("button", { name: "Add the schedule" }).click();
    await owner.locator("#flash .alert").waitFor();
    assert.match(await ui.flash(owner), /Schedule Porch at dusk added\./);
    const s = (await ui.api(box, "GET", "/v1/home/schedules")).find((x) => x.name === "Porch at dusk");
    assert.ok(s && s.at === "sunset" && s.offset === -15 && s.device === "Porch", JSON.stringify(s));
    await owner.getByRole("button", { name: "Remove schedule Porch at dusk" }).click();
    await owner.getByRole("status").filter({ hasText: "removed" }).waitFor();
    assert.ok(!(await ui.api(box, "GET", "/v1/home/schedules")).some((x) => x.name === "Porch at dusk"));
  });
});
