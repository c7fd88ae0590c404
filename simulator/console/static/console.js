// The console's shared script: one event stream per page, live fragments, and JSON actions.
// User data is only ever written with textContent (or arrives inside server-escaped fragments).
"use strict";

const Console = (() => {
  const listeners = [];
  let source = null;
  let streamUrl = "/events";

  function onUpdate(fn) { listeners.push(fn); }

  function connect(url) {
    if (url) streamUrl = url;
    if (source) source.close();
    source = new EventSource(streamUrl);
    // What changed between the page's rendering and this connection came in no update: on (re)connecting,
    // the live fragments are drawn again and pages' scripts hear "console:connected" to catch up.
    source.addEventListener("hello", (e) => {
      showFollow(JSON.parse(e.data));
      for (const el of document.querySelectorAll("[data-live]")) refresh(el);
      document.dispatchEvent(new CustomEvent("console:connected"));
    });
    source.addEventListener("update", (e) => {
      const update = JSON.parse(e.data);
      showFollow(update);
      for (const fn of listeners) fn(update);
      refreshLive(update);
    });
    source.onerror = () => setFollow("console unreachable: reconnecting…", "down");
  }

  function setFollow(text, state) {
    const el = document.getElementById("follow-status");
    if (!el) return;
    el.textContent = text;
    el.dataset.state = state;
  }

  function showFollow(update) {
    const follow = update.follow || {};
    const bad = Object.entries(follow).filter(([, s]) => s.status !== "ok");
    const missed = Object.entries(follow).filter(([, s]) => s.missed > 0);
    if (bad.length) {
      setFollow(bad.map(([name, s]) => `${name} ${s.status}`).join(", "), bad.some(([, s]) => s.status === "down") ? "down" : "behind");
    } else if (missed.length) {
      setFollow(missed.map(([name, s]) => `${name}: ${s.missed} records missed`).join(", "), "behind");
    } else {
      setFollow("live", "ok");
    }
  }

  // Elements with data-live="<url>" are re-fetched (their innerHTML replaced by the server's fragment)
  // when an update matches: data-live-kinds="service:kind,…" (any of them happened), data-live-user="id"
  // (a row of that user changed), data-live-any (every update with records). At most once per second each.
  const lastRefresh = new WeakMap();
  const pending = new WeakSet();
  const fetching = new WeakSet();  // its fetch is out: a later update may not be in the answer
  const again = new WeakSet();  // an update came while fetching: refresh once more after

  function wants(el, update) {
    if (!update.records && !(update.rows || []).length) return false;
    if (el.dataset.liveAny !== undefined) return true;
    const kinds = (el.dataset.liveKinds || "").split(",").filter(Boolean);
    if (kinds.length && kinds.some((k) => (update.kinds || []).includes(k))) return true;
    const user = el.dataset.liveUser;
    if (user && (update.rows || []).some((r) => r.user === user || r.receiver === user)) return true;
    return false;
  }

  function refreshLive(update) {
    for (const el of document.querySelectorAll("[data-live]")) {
      if (wants(el, update)) refresh(el);
    }
  }

  async function refresh(el) {
    if (pending.has(el)) {
      if (fetching.has(el)) again.add(el);
      return;
    }
    const wait = 1000 - (Date.now() - (lastRefresh.get(el) || 0));
    pending.add(el);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    fetching.add(el);
    try {
      const answer = await fetch(el.dataset.live, { headers: { Accept: "text/html" } });
      if (answer.ok) {
        el.innerHTML = await answer.text();
        el.dispatchEvent(new CustomEvent("live:refreshed", { bubbles: true }));
      }
    } finally {
      lastRefresh.set(el, Date.now());
      fetching.delete(el);
      pending.delete(el);
      if (again.has(el)) {
        again.delete(el);
        refresh(el);
      }
    }
  }

  function flash(text, kind) {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text;
    el.dataset.kind = kind || "ok";
    el.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { el.hidden = true; }, 6000);
  }

  // A JSON action: POST/PUT/DELETE `body` to `url`; the answer's JSON, or a thrown Error with the
  // server's message (also flashed).
  async function act(url, body, method) {
    const answer = await fetch(url, {
      method: method || "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    let data = null;
    try { data = await answer.json(); } catch (e) { data = null; }
    if (!answer.ok) {
      const message = (data && data.message) || `${answer.status} ${answer.statusText}`;
      flash(message, "error");
      throw new Error(message);
    }
    return data;
  }

  // Buttons with data-action="<url>" (and optional data-method, data-body='{"json":…}', data-confirm)
  // post their body and flash the answer's message; data-then="reload" reloads the page after.
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("[data-action]");
    if (!button) return;
    e.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const data = await act(button.dataset.action, button.dataset.body ? JSON.parse(button.dataset.body) : {},
                             button.dataset.method);
      flash((data && data.message) || "done", "ok");
      if (button.dataset.then === "reload") window.location.reload();
      for (const el of document.querySelectorAll("[data-live]")) refresh(el);
    } catch (err) {
      // flashed by act()
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    if (!document.body.dataset.noStream) connect(document.body.dataset.stream || "/events");
  });

  return { onUpdate, connect, act, flash, refresh };
})();
