// Helpers for the web UI's browser tests: the devnet's boxes, Debian's
// chromium through playwright-core, sign-in, axe-core checks and
// screenshots. See /work/notes/webui-pattern.md (README: Web UI).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };
export const PASSWORD = "correct horse battery staple";

const devnetDir = process.env.OEPC_WEBUI_DEVNET;
const shotsDir = process.env.OEPC_WEBUI_SCREENSHOTS || "build/webui-screenshots";

// boxes lists the devnet's boxes: {name, url, token, dataDir, pairingCode()}.
export function boxes() {
  assert.ok(devnetDir, "OEPC_WEBUI_DEVNET is not set (run through the Go test)");
  const st = JSON.parse(fs.readFileSync(path.join(devnetDir, "devnet.json"), "utf8"));
  return st.boxes.map((b) => ({
    name: b.name,
    url: b.api,
    token: b.token,
    peerID: b.peer_id,
    dataDir: b.data_dir,
    // The code the box shows on its console now (read as someone at the
    // box would; a used code is replaced).
    pairingCode: () => fs.readFileSync(path.join(b.data_dir, "pairing.code"), "utf8").trim(),
  }));
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.OEPC_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

// newPage opens a fresh browser context (its own cookies) at a size. CSP
// is bypassed only so that axe-core can be injected.
export async function newPage(browser, viewport = DESKTOP) {
  const ctx = await browser.newContext({ viewport, bypassCSP: true });
  const page = await ctx.newPage();
  page.setDefaultTimeout(30000);
  return page;
}

// signIn sets the box up with its pairing code (first visit) or signs in
// with the password, and returns on the box's first page.
export async function signIn(page, box) {
  await page.goto(box.url + "/");
  const url = new URL(page.url());
  if (url.pathname === "/setup") {
    await page.getByLabel("Pairing code").fill(box.pairingCode());
    await page.getByLabel("New password").fill(PASSWORD);
    await page.getByLabel("The same password again").fill(PASSWORD);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/setup")), page.getByRole("button", { name: "Set password and sign in" }).click()]);
  } else if (url.pathname === "/signin") {
    await page.getByLabel("Password").fill(PASSWORD);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/signin")), page.getByRole("button", { name: "Sign in" }).click()]);
  }
  await page.getByRole("navigation", { name: "Pages" }).waitFor();
  return page;
}

export async function signedIn(browser, box, viewport = DESKTOP) {
  return signIn(await newPage(browser, viewport), box);
}

// api calls a box's local API with its bearer token (for set-up steps and
// checks; the pages themselves use the session cookie).
export async function api(box, method, p, body) {
  const resp = await fetch(box.url + p, {
    method,
    headers: { Authorization: "Bearer " + box.token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${p}: ${resp.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

// axe runs axe-core on the page and fails on any WCAG 2.x A/AA violation.
export async function axe(page, label) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) {
    await page.addScriptTag({ content: axeSource });
  }
  const res = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }, resultTypes: ["violations"] }),
  );
  const v = res.violations.map((x) => `${x.id} (${x.impact}): ${x.help}\n    ${x.nodes.slice(0, 3).map((n) => n.target.join(" ") + " — " + n.failureSummary.replace(/\n/g, " ")).join("\n    ")}`);
  assert.deepEqual(v, [], `axe violations on ${label}:\n  ${v.join("\n  ")}`);
}

// checkPage checks the page at phone and desktop size (and the phone in
// dark mode): no axe violations, nothing wider than the screen, and a
// full-page screenshot of each under build/webui-screenshots/.
export async function checkPage(page, name) {
  fs.mkdirSync(shotsDir, { recursive: true });
  const orig = page.viewportSize();
  for (const [size, vp, scheme] of [["phone", PHONE, "light"], ["desktop", DESKTOP, "light"], ["phone-dark", PHONE, "dark"]]) {
    await page.setViewportSize(vp);
    await page.emulateMedia({ colorScheme: scheme });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${name} at ${size} is ${overflow}px wider than the screen`);
    await axe(page, `${name} (${size})`);
    await page.screenshot({ path: path.join(shotsDir, `${name}-${size}.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize(orig);
}

// alertText is the page's error or notice.
export async function flash(page) {
  return (await page.locator("#flash").innerText()).trim();
}
