// The System page's OTA update: sends the image file (only the part an
// update reads) as the request body, shows the bytes sent and, polled from
// /system/update/status, the bytes gokrazy has written per partition; then
// waits for the box to come back. Without JavaScript the form posts the
// whole file as multipart.
(function () {
  "use strict";
  const mib = (n) => (n / 1048576).toFixed(1) + " MiB";

  function setBar(id, done, total) {
    const el = document.getElementById(id);
    if (!el) return;
    el.max = Math.max(total, 1);
    el.value = Math.min(done, el.max);
  }

  function stateText(st) {
    switch (st.state) {
      case "receiving": return "Checking the image: " + mib(st.received) + " received";
      case "writing": {
        const p = (st.parts || []).find((x) => !x.done) || { name: "", written: 0, total: 0 };
        return "Writing the " + p.name + " partition: " + mib(p.written) + " of " + mib(p.total);
      }
      case "switching": return "Switching to the new version";
      case "rebooting": return "Rebooting into the new version";
      case "done": return "Written: the box runs the new version after its next reboot";
      case "failed": return "Failed: " + st.error;
    }
    return st.state;
  }

  function showStatus(st) {
    for (const p of st.parts || []) {
      if (p.name === "root") setBar("ota-root", p.written, p.total);
      if (p.name === "boot") setBar("ota-boot", p.written, p.total);
    }
    document.getElementById("ota-state").textContent = stateText(st);
  }

  async function poll(stop) {
    while (!stop.done) {
      try {
        const resp = await fetch("/system/update/status", { credentials: "same-origin", cache: "no-store" });
        if (resp.ok && !stop.done) showStatus(await resp.json());
      } catch (e) { /* the box may be rebooting */ }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  // waitForBox waits for the box to go down for its reboot and come back
  // (or, if it is never seen down, reloads after three minutes).
  async function waitForBox(state) {
    let down = false;
    for (let i = 0; i < 300; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      let up = false;
      try { up = (await fetch("/system", { credentials: "same-origin", cache: "no-store" })).ok; } catch (e) { /* down */ }
      if (!up) { down = true; state.textContent = "The box is restarting into the new version…"; continue; }
      if (down || i >= 90) { state.textContent = "The box is back. Reloading…"; location.reload(); return; }
    }
    state.textContent = "The box has not come back after 10 minutes: check its screen or console.";
  }

  function start(ev) {
    const form = ev.target;
    if (form.id !== "ota-form") return;
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return;
    ev.preventDefault();
    const needed = Number(form.dataset.needed) || file.size;
    const body = file.size > needed ? file.slice(0, needed) : file;
    const box = document.getElementById("ota-progress");
    const state = document.getElementById("ota-state");
    box.hidden = false;
    form.querySelector("button").disabled = true;
    state.className = "state";
    state.textContent = "Sending the image";
    const stop = { done: false };
    poll(stop);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/system/update");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => setBar("ota-sent", e.loaded, e.total);
    xhr.onload = () => {
      stop.done = true;
      let ans = {};
      try { ans = JSON.parse(xhr.responseText); } catch (e) { /* keep */ }
      if (xhr.status === 200) {
        const sent = document.getElementById("ota-sent");
        sent.value = sent.max;
        showStatus(ans);
        state.textContent = ans.message;
        box.dataset.state = ans.state;
        if (ans.state === "rebooting") waitForBox(state);
      } else {
        box.dataset.state = "failed";
        state.className = "state err";
        state.textContent = ans.error || ("The update failed (HTTP " + xhr.status + ").");
        form.querySelector("button").disabled = false;
      }
    };
    xhr.onerror = () => {
      stop.done = true;
      box.dataset.state = "failed";
      state.className = "state err";
      state.textContent = "The upload was cut off: check the connection to the box and try again. The box still runs its current version unless it says it is rebooting.";
      form.querySelector("button").disabled = false;
    };
    xhr.send(body);
  }

  document.addEventListener("submit", start);
})();
