// OEPC web UI: progressive enhancement over server-drawn pages. Without
// this file every form still works (plain posts); with it:
//  - forms post in the background and the new <main> is swapped in;
//  - one server-sent event stream per tab (/ui/events): after an event
//    whose kind a live region names (data-live="friends health"), the
//    page's live regions are reloaded from the box;
//  - oepc.api(method, path, body) calls the local API (/v1/...) with the
//    session cookie, and oepc.on(kind, fn) listens to the event stream,
//    for pages that need more (Files' uploads).
"use strict";
(function () {
  const oepc = (window.oepc = {});
  const listeners = {};

  // oepc.api calls the box's local API and returns the decoded JSON; a
  // non-2xx answer throws an Error carrying the box's message and .status.
  oepc.api = async function (method, path, body, opts) {
    const init = Object.assign({ method, credentials: "same-origin", headers: {} }, opts || {});
    if (body !== undefined && body !== null && !(body instanceof Blob) && !(body instanceof FormData)) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    } else if (body) {
      init.body = body;
    }
    const resp = await fetch(path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!resp.ok) {
      const err = new Error((data && data.error) || resp.statusText || "request failed");
      err.status = resp.status;
      if (resp.status === 401) location.href = "/signin";
      throw err;
    }
    return data;
  };

  oepc.on = function (kind, fn) {
    (listeners[kind] = listeners[kind] || []).push(fn);
  };

  function liveKinds() {
    const kinds = new Set();
    document.querySelectorAll("[data-live]").forEach((el) => {
      (el.dataset.live || "").split(/\s+/).filter(Boolean).forEach((k) => kinds.add(k));
    });
    return kinds;
  }

  // refresh reloads the live regions named for kind from the box.
  let refreshing = null;
  async function refresh(kind) {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const resp = await fetch(location.pathname, { credentials: "same-origin" });
        if (resp.redirected && !resp.url.endsWith(location.pathname)) { location.href = resp.url; return; }
        const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
        document.querySelectorAll("[data-live][id]").forEach((el) => {
          if (kind && !(el.dataset.live || "").split(/\s+/).includes(kind)) return;
          if (el.contains(document.activeElement) && document.activeElement !== document.body) return;
          if (el.querySelector("details[open]")) return;
          const fresh = doc.getElementById(el.id);
          if (fresh) el.replaceWith(fresh);
        });
        document.dispatchEvent(new CustomEvent("oepc:refreshed", { detail: { kind } }));
      } catch (e) { /* the next event tries again */ }
      finally { refreshing = null; }
    })();
    return refreshing;
  }
  oepc.refresh = refresh;

  function connect() {
    if (!document.body.dataset.signedIn || !window.EventSource) return;
    const es = new EventSource("/ui/events");
    oepc.events = es;
    const handle = (kind) => (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch (e) { /* keep null */ }
      (listeners[kind] || []).forEach((fn) => fn(data));
      if (kind === "resync") { refresh(null); return; }
      if (liveKinds().has(kind)) refresh(kind);
    };
    const known = new Set(["hello", "friends", "health", "resync", "transfers", "repairs"]);
    // A page names further kinds it wants in <main data-events>.
    (document.querySelector("main").dataset.events || "").split(/\s+/).filter(Boolean).forEach((k) => known.add(k));
    known.forEach((k) => es.addEventListener(k, handle(k)));
    oepc.listen = (kind) => es.addEventListener(kind, handle(kind));
    es.addEventListener("hello", () => document.body.setAttribute("data-live-connected", "1"));
  }

  // Forms post in the background; the answer's <main> replaces ours.
  async function submit(ev) {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.dataset.plain !== undefined) return;
    if ((form.method || "").toLowerCase() !== "post") return;
    const action = new URL(form.action, location.href);
    if (action.origin !== location.origin || action.pathname === "/signout" || action.pathname.startsWith("/signin") || action.pathname === "/setup") return;
    ev.preventDefault();
    // Read the form before its buttons are disabled: a disabled submitter's
    // name and value would be left out.
    const body = new URLSearchParams(new FormData(form, ev.submitter));
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    document.body.setAttribute("aria-busy", "true");
    try {
      const resp = await fetch(action, { method: "POST", body, credentials: "same-origin" });
      const html = await resp.text();
      const doc = new DOMParser().parseFromString(html, "text/html");
      const fresh = doc.querySelector("main");
      if (!fresh || resp.redirected) { location.href = resp.url; return; }
      document.querySelector("main").replaceWith(fresh);
      if (action.pathname !== location.pathname) history.pushState(null, "", action.pathname);
      const alert = fresh.querySelector("#flash .alert");
      if (alert) { alert.setAttribute("tabindex", "-1"); alert.focus(); }
      document.dispatchEvent(new CustomEvent("oepc:swapped"));
    } catch (e) {
      form.submit();
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      document.body.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("submit", submit);
  document.addEventListener("DOMContentLoaded", connect);
})();
