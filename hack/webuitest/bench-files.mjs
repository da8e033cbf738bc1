// The browser half of the Files benchmark (hack/bench/files, make
// bench-files): uploads the file given on the command line through the
// Files page of box 1 and times it until the box reports it placed, then
// times the first render (first contentful paint) of the Files page for
// the root and for the folder /many, and counts the bytes each page load
// transfers. Prints one JSON line.
//
// For profiling, OEPC_BENCH_METHOD=fetch sends the same file to the same
// route with fetch(File) from the page instead of the page's own XHR, and
// OEPC_BENCH_CHROMIUM_ARGS adds Chromium flags (space-separated).
import { chromium } from "playwright-core";
import * as ui from "./js/lib.mjs";

const file = process.argv[2];
const [box1] = ui.boxes();
const extra = (process.env.OEPC_BENCH_CHROMIUM_ARGS || "").split(" ").filter(Boolean);
const browser = extra.length === 0 ? await ui.launch() : await chromium.launch({
  executablePath: process.env.OEPC_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", ...extra],
});
try {
  const page = await ui.signedIn(browser, box1);
  const dir = process.env.OEPC_BENCH_DIR || "/";
  await page.goto(box1.url + "/files?dir=" + encodeURIComponent(dir));
  let start, uploadMS;
  if (process.env.OEPC_BENCH_METHOD === "fetch") {
    await page.evaluate(() => { const i = document.createElement("input"); i.type = "file"; i.id = "benchpick"; document.body.append(i); });
    await page.locator("#benchpick").setInputFiles(file);
    start = Date.now();
    const t0 = performance.now();
    const status = await page.evaluate(async (dir) => {
      const f = document.getElementById("benchpick").files[0];
      const id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
      const q = new URLSearchParams({ path: dir.replace(/\/+$/, "") + "/" + f.name, transfer: id });
      const r = await fetch("/v1/cloud/put?" + q, { method: "POST", body: f, headers: { "Content-Type": "application/octet-stream" } });
      return r.status + " " + (await r.text()).slice(0, 200);
    }, dir);
    uploadMS = performance.now() - t0;
    if (!status.startsWith("200")) throw new Error("fetch upload: " + status);
  } else {
    start = Date.now();
    const t0 = performance.now();
    await page.locator("#pick").setInputFiles(file);
    await page.locator("#uploads li.upload a.maplink").waitFor({ timeout: 30 * 60 * 1000 });
    uploadMS = performance.now() - t0;
    const state = await page.locator("#uploads li.upload").getAttribute("data-state");
    if (state !== "done") throw new Error("upload ended " + state);
  }
  const end = Date.now();

  const firstRender = {}, bytes = {};
  for (const [name, path] of process.env.OEPC_BENCH_PAGES === "false" ? [] : [["files /", "/files"], ["files /many (" + (process.env.OEPC_BENCH_ITEMS || "?") + " items)", "/files?dir=/many"], ["file page", "/files/item?path=/cli.bin"]]) {
    const p = await ui.newPage(browser);
    await p.context().addCookies(await page.context().cookies());
    const sizes = [];
    p.on("response", (r) => {
      if (r.url().includes("/ui/events")) return;
      sizes.push(r.body().then((b) => b.length, () => 0));
    });
    await p.goto(box1.url + path, { waitUntil: "load" });
    firstRender[name] = await p.evaluate(() => {
      const e = performance.getEntriesByName("first-contentful-paint")[0];
      return e ? e.startTime : performance.getEntriesByType("navigation")[0].loadEventEnd;
    });
    bytes[name] = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    await p.context().close();
  }
  console.log(JSON.stringify({ upload_ms: uploadMS, upload_start_epoch_ms: start, upload_end_epoch_ms: end, first_render_ms: firstRender, bytes }));
} finally {
  await browser.close();
}
