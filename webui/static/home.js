// The Home page: a device button calls homed's API from the browser and
// shows "pending" at once, then the state the modem confirmed (or the
// error); a slider dims when let go. Every state homed publishes (also a
// switch pressed by hand) arrives over the tab's event stream as a "home"
// event and updates its device in place. Without this file the forms post
// and the page comes back with the confirmed state.
"use strict";
(function () {
  const oepc = window.oepc;
  if (!oepc) return;
  document.documentElement.classList.add("js");

  function pct(level) { return Math.floor((level * 100 + 127) / 255); }

  // stateText says what webui/home.go's stateText says.
  function stateText(st) {
    switch (st.state) {
      case "on": return st.level > 0 && st.level < 255 ? `On · ${pct(st.level)}%` : "On";
      case "off": return "Off";
      case "pending": return "Waiting for the device…";
      case "error": return "No answer: " + (st.error || "the device did not answer");
    }
    return "Unknown: press to switch";
  }

  function deviceEl(name) {
    return document.querySelector(`li.device[data-device="${CSS.escape(name)}"]`);
  }

  function show(li, st) {
    if (!li || !st) return;
    li.dataset.state = st.state;
    const on = st.state === "on";
    const btn = li.querySelector(".devbtn");
    if (btn) {
      btn.setAttribute("aria-pressed", on ? "true" : "false");
      // A pending press keeps its direction; otherwise the next press flips.
      if (st.state !== "pending") btn.value = on ? "off" : "on";
    }
    const text = li.querySelector(".devstate");
    if (text) text.textContent = stateText(st);
    if (st.state === "on" || st.state === "off") {
      li.dataset.level = String(st.level);
      const range = li.querySelector('input[type="range"]');
      if (range && document.activeElement !== range) {
        range.value = String(pct(st.level));
        const out = li.querySelector("output");
        if (out) out.textContent = range.value + "%";
      }
    }
  }

  async function command(li, op, body) {
    const name = li.dataset.device;
    const prev = { state: li.dataset.state, level: Number(li.dataset.level || 0) };
    show(li, { state: "pending", level: prev.level });
    try {
      const d = await oepc.api("POST", "/v1/home/devices/" + encodeURIComponent(name) + "/" + op, body);
      show(li, d.state);
    } catch (e) {
      show(li, { state: "error", level: prev.level, error: e.message });
    }
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.home) return;
    const li = form.closest("li.device");
    if (!li) return;
    ev.preventDefault();
    if (form.dataset.home === "switch") {
      const to = (ev.submitter && ev.submitter.value) || "on";
      command(li, to);
    } else if (form.dataset.home === "dim") {
      const p = Number(form.querySelector('input[type="range"]').value);
      command(li, "dim", { level: Math.round((p * 255) / 100) });
    }
  });

  // A slider dims when it is let go (or a key moved it).
  document.addEventListener("input", (ev) => {
    const r = ev.target;
    if (!(r instanceof HTMLInputElement) || r.type !== "range") return;
    const out = r.form && r.form.querySelector("output");
    if (out) out.textContent = r.value + "%";
  });
  document.addEventListener("change", (ev) => {
    const r = ev.target;
    if (!(r instanceof HTMLInputElement) || r.type !== "range" || !r.form || r.form.dataset.home !== "dim") return;
    r.form.requestSubmit();
  });

  oepc.on("home", (e) => {
    if (!e) return;
    if (e.kind === "state" && e.device) {
      show(deviceEl(e.device), e.state);
      return;
    }
    if (e.kind === "lost") { oepc.refresh(null); return; }
    oepc.refresh("homelists");
  });

  // The owner's pairing code lasts 5 minutes: then the Phones part is
  // drawn again (without it).
  let timer = null;
  function watchPairing() {
    clearTimeout(timer);
    const p = document.getElementById("pairing");
    if (!p) return;
    const left = Number(p.dataset.left || 0);
    timer = setTimeout(() => oepc.refresh("phones"), (left + 1) * 1000);
  }
  document.addEventListener("DOMContentLoaded", watchPairing);
  document.addEventListener("oepc:swapped", watchPairing);
  document.addEventListener("oepc:refreshed", watchPairing);
})();
