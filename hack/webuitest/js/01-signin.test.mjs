// First visit with the pairing code, password, sign-out, refused pages and
// a cross-site POST.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import * as ui from "./lib.mjs";

test("sign-in with the pairing code, sign-out, refusals", async (t) => {
  const browser = await ui.launch();
  t.after(() => browser.close());
  const box = ui.boxes()[0];
  const page = await ui.newPage(browser, ui.PHONE);

  await t.test("before setup, nothing but /setup is reachable", async () => {
    for (const p of ["/", "/system", "/friends", "/network", "/signin"]) {
      await page.goto(box.url + p);
      assert.equal(new URL(page.url()).pathname, "/setup", `${p} did not lead to /setup`);
    }
    const r = await page.request.get(box.url + "/v1/status");
    assert.equal(r.status(), 401);
    await ui.checkPage(page, "setup");
  });

  await t.test("a wrong pairing code is refused", async () => {
    await page.getByLabel("Pairing code").fill(box.pairingCode() === "000-000" ? "111-111" : "000-000");
    await page.getByLabel("New password").fill(ui.PASSWORD);
    await page.getByLabel("The same password again").fill(ui.PASSWORD);
    await page.getByRole("button", { name: "Set password and sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.match(await ui.flash(page), /Wrong pairing code/);
    assert.equal(new URL(page.url()).pathname, "/setup");
  });

  await t.test("differing passwords are refused with a clear message", async () => {
    await page.goto(box.url + "/setup");
    await page.getByLabel("Pairing code").fill(box.pairingCode());
    await page.getByLabel("New password").fill(ui.PASSWORD);
    await page.getByLabel("The same password again").fill(ui.PASSWORD + "x");
    await page.getByRole("button", { name: "Set password and sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.match(await ui.flash(page), /two passwords differ/);
  });

  await t.test("the pairing code and a password sign in", async () => {
    const used = box.pairingCode();
    await ui.signIn(page, box);
    assert.notEqual(new URL(page.url()).pathname, "/setup");
    assert.notEqual(box.pairingCode(), used, "the used pairing code was not replaced");
    const r = await page.request.get(box.url + "/v1/status");
    assert.equal(r.status(), 200, "the session cookie does not reach the local API");
    assert.equal((await r.json()).name, box.name);
    const cookies = await page.context().cookies();
    const c = cookies.find((c) => c.name === "oepc_session");
    assert.ok(c, "no session cookie");
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, "Strict");
    // The setup page is closed now.
    await page.goto(box.url + "/setup");
    assert.equal(new URL(page.url()).pathname, "/signin");
  });

  await t.test("a cross-site POST is refused and changes nothing", async () => {
    // Another origin (another port of the same host: same site, so the
    // SameSite=Strict cookie goes along; CrossOriginProtection must stop it).
    const sessions = await page.request.get(box.url + "/system");
    const html = await sessions.text();
    const id = /name="session" value="([0-9a-f]+)"/.exec(html)[1];
    const evil = http.createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      if (req.url !== "/") { res.end("<!doctype html><title>evil</title><p>hello"); return; }
      res.end(`<!doctype html><title>evil</title><form id=f method=post action="${box.url}/system"><input name=do value=signout-session><input name=session value=${id}></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise((r) => evil.listen(0, "127.0.0.1", r));
    t.after(() => evil.close());
    const evilURL = `http://127.0.0.1:${evil.address().port}/`;
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url() === box.url + "/system" && r.request().method() === "POST"),
      page.goto(evilURL),
    ]);
    assert.equal(resp.status(), 403, "the cross-site POST was not refused");
    await page.waitForLoadState("load");
    assert.match(await page.locator("main").innerText(), /another web site/);
    // Still signed in: the sign-out did not happen.
    await page.goto(box.url + "/system");
    assert.equal(new URL(page.url()).pathname, "/system");
    // A cross-site fetch to the API is refused too.
    await page.goto(evilURL + "x");
    assert.equal(new URL(page.url()).port, String(evil.address().port));
    const before = (await ui.api(box, "GET", "/v1/friends")).length;
    const st = await page.evaluate(async (u) => {
      try { const r = await fetch(u + "/v1/friends/invite", { method: "POST", credentials: "include", body: "{}" }); return r.status; } catch (e) { return "blocked: " + e.message; }
    }, box.url);
    assert.notEqual(st, 200, "a cross-site fetch made an invite");
    const rm = await page.evaluate(async (u) => {
      try { const r = await fetch(u + "/v1/friends/x", { method: "DELETE", credentials: "include" }); return r.status; } catch (e) { return "blocked"; }
    }, box.url);
    assert.notEqual(rm, 200);
    assert.equal((await ui.api(box, "GET", "/v1/friends")).length, before);
  });

  await t.test("sign out, then the pages and the API are refused", async () => {
    await page.goto(box.url + "/system");
    await Promise.all([page.waitForURL((u) => u.pathname === "/signin"), page.getByRole("button", { name: "Sign out" }).first().click()]);
    for (const p of ["/system", "/friends", "/network", "/"]) {
      await page.goto(box.url + p);
      assert.equal(new URL(page.url()).pathname, "/signin", `${p} is reachable signed out`);
    }
    const r = await page.request.get(box.url + "/v1/friends");
    assert.equal(r.status(), 401);
    const p = await page.request.post(box.url + "/friends", { form: { do: "invite" } });
    assert.equal(p.status(), 401);
    await ui.checkPage(page, "signin");
    await ui.signIn(page, box);
  });
});
