// The browser half of the Files benchmark (hack/bench/files, make
// bench-files): uploads the file given on the command line through the
// Files page of box 1 and times it until the box reports it placed, then
// times the first render (first contentful paint) of the Files page for
// the root and for the folder /many, and counts the bytes each page load
// transfers. Prints one JSON line.
import * as ui from "./js/lib.mjs";

const file = process.argv[2];
const [box1] = ui.boxes();
const browser = await ui.launch();
try {
  const page = await ui.signedIn(browser, box1);
  const dir = process.env.OEPC_BENCH_DIR || "/";
  await page.goto(box1.url + "/files?dir=" + encodeURIComponent(dir));
  const start = Date.now();
  const t0 = performance.now();
  await page.locator("#pick").setInputFiles(file);
  await page.locator("#uploads li.upload a.maplink").waitFor({ timeout: 30 * 60 * 1000 });
  const uploadMS = performance.now() - t0;
  const end = Date.now();
  const state = await page.locator("#uploads li.upload").getAttribute("data-state");
  if (state !== "done") throw new Error("upload ended " + state);

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
