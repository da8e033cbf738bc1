// The Files page: uploads by drag and drop or by picking files, one at a
// time, straight to the box's /v1/cloud/put with a transfer ID. Each
// file's bar shows the box's own progress (segments sealed and placed on
// friends' boxes), from the "transfers" events of the tab's stream.
"use strict";
(function () {
  document.documentElement.classList.add("js");
  const jobs = {};       // transfer ID -> job
  const queue = [];
  let busy = false;

  const mib = (n) => (n / 1048576).toFixed(1) + " MiB";
  const newID = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

  function row(file) {
    const li = document.createElement("li");
    li.className = "upload";
    const name = document.createElement("strong");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 1; bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    const msg = document.createElement("p");
    msg.className = "hint state";
    msg.textContent = "waiting";
    li.append(name, bar, msg);
    document.getElementById("uploads").append(li);
    return { li, bar, msg };
  }

  function show(job, t) {
    const done = t.state === "done";
    const frac = t.total > 0 ? t.placed / t.total : (done ? 1 : 0);
    job.bar.value = frac;
    job.li.dataset.placed = String(t.placed);
    job.li.dataset.state = t.state;
    job.bar.textContent = Math.round(frac * 100) + "%";
    const segs = t.segments_total ? " of " + t.segments_total : "";
    job.msg.textContent = done
      ? "Stored: " + t.segments_placed + " segments placed on friends' boxes."
      : Math.round(frac * 100) + "% placed: " + t.segments_sealed + segs + " segments sealed, " + t.segments_placed + segs +
        " placed; " + mib(t.received) + " of " + mib(Math.max(t.total, 0)) + " received";
  }

  function explain(status, text) {
    if (status === 412 && /boxes/.test(text)) return text + ". Too few boxes are online for 4+2 (each of six pieces on a different box). Wait for friends' boxes, or place it anyway: some boxes then hold several pieces, and losing one of them can lose the file.";
    if (status === 412) return text + ". Set the cloud up first.";
    if (status === 507) return text + ". A disk is full: free space or delete files you no longer need, then try again.";
    if (status === 503) return text + ". Not enough friends' boxes are online: try again when they are back.";
    if (status === 409) return text + ". Pick another name.";
    return text;
  }

  function upload(job) {
    return new Promise((resolve) => {
      const id = newID();
      jobs[id] = job;
      const dir = job.dir.replace(/\/+$/, "");
      const q = new URLSearchParams({ path: dir + "/" + job.file.name, transfer: id });
      if (job.force || document.getElementById("force")?.checked) q.set("force", "1");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/cloud/put?" + q.toString());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      job.msg.textContent = "sending";
      xhr.upload.onprogress = (e) => {
        if (job.li.dataset.state) return; // the box's own figures win
        job.msg.textContent = "sending: " + mib(e.loaded) + " of " + mib(e.total);
      };
      xhr.onload = async () => {
        if (xhr.status === 200) {
          try {
            const t = await oepc.api("GET", "/v1/cloud/transfers/" + id);
            show(job, t);
          } catch (e) { /* the events already said */ }
          const ent = JSON.parse(xhr.responseText);
          const a = document.createElement("a");
          a.href = "/files/item?path=" + encodeURIComponent(ent.path);
          a.textContent = "Health and shard map of " + job.file.name;
          a.className = "maplink";
          job.li.append(a);
        } else {
          let text = xhr.statusText;
          try { text = JSON.parse(xhr.responseText).error || text; } catch (e) { /* keep */ }
          job.bar.value = 0;
          job.li.dataset.state = "failed";
          job.msg.className = "err";
          job.msg.textContent = "Not stored: " + explain(xhr.status, text);
          if (xhr.status === 412 && /boxes/.test(text)) {
            const b = document.createElement("button");
            b.type = "button"; b.className = "secondary";
            b.textContent = "Place " + job.file.name + " anyway";
            b.addEventListener("click", () => { b.remove(); job.force = true; job.msg.className = "hint state"; delete job.li.dataset.state; queue.push(job); pump(); });
            job.li.append(b);
          }
        }
        resolve();
      };
      xhr.onerror = () => {
        job.li.dataset.state = "failed";
        job.msg.className = "err";
        job.msg.textContent = "The upload was cut off: check the connection to the box and try again.";
        resolve();
      };
      xhr.send(job.file);
    });
  }

  async function pump() {
    if (busy) return;
    busy = true;
    while (queue.length) await upload(queue.shift());
    busy = false;
    if (window.oepc && oepc.refresh) oepc.refresh("files"); // the listing, once the queue is done
  }

  function add(files) {
    const drop = document.getElementById("drop");
    if (!drop) return;
    for (const file of files) {
      const r = row(file);
      queue.push(Object.assign(r, { file, dir: drop.dataset.dir || "/" }));
    }
    pump();
  }

  document.addEventListener("change", (e) => {
    if (e.target && e.target.id === "pick") { add(e.target.files); e.target.value = ""; }
  });
  document.addEventListener("dragover", (e) => {
    const d = e.target.closest && e.target.closest("#drop");
    if (d) { e.preventDefault(); d.classList.add("over"); }
  });
  document.addEventListener("dragleave", (e) => {
    const d = e.target.closest && e.target.closest("#drop");
    if (d) d.classList.remove("over");
  });
  document.addEventListener("drop", (e) => {
    const d = e.target.closest && e.target.closest("#drop");
    if (!d) return;
    e.preventDefault();
    d.classList.remove("over");
    add(e.dataTransfer.files);
  });
  function listen() {
    if (!window.oepc || !oepc.on) return setTimeout(listen, 50);
    oepc.on("transfers", (t) => {
      const job = t && jobs[t.id];
      if (job) show(job, t);
    });
  }
  listen();
})();
