// The pipeline page: rows by trace id, newest first, filled in hop by hop from the stream.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const HOPS = JSON.parse(document.getElementById("hop-names").textContent);
  const MAX_ROWS = 200;  // live rows kept on the page; older ones come from "older rows"
  const tbody = document.getElementById("rows");
  const byTrace = new Map();
  let oldest = null;  // the smallest row version shown: where "older rows" reads on

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value == null ? "" : String(value);
    if (cls) el.className = cls;
    return el;
  }

  function ms(a, b) { return Date.parse(b) - Date.parse(a); }

  function latency(value) {
    if (value < 1000) return `+${value} ms`;
    if (value < 60000) return `+${(value / 1000).toFixed(1)} s`;
    if (value < 3600000) return `+${(value / 60000).toFixed(1)} min`;
    return `+${(value / 3600000).toFixed(1)} h`;
  }

  function draw(row) {
    const tr = document.createElement("tr");
    tr.dataset.trace = row.trace_id;
    tr.dataset.version = row.version;
    tr.className = `status-${row.status}`;
    const user = document.createElement("td");
    const link = text("a", row.user || row.receiver || "?");
    link.href = `/users/${encodeURIComponent(row.user || row.receiver || "")}`;
    user.append(link);
    tr.append(user);
    const owner = row.canvas_id ? `${row.canvas_id} › ${row.step_id || "?"}` : (row.campaign_id || "");
    const ownerCell = document.createElement("td");
    const traceLink = text("a", owner || row.trace_id);
    traceLink.href = `/trace/${encodeURIComponent(row.trace_id)}`;
    traceLink.className = "trace-link";
    ownerCell.append(traceLink);
    tr.append(ownerCell);
    tr.append(text("td", row.template_key));
    let previous = null;
    for (const hop of HOPS) {
      const at = row.hops[hop];
      const td = document.createElement("td");
      td.className = `hop hop-${hop}` + (at ? " done" : "");
      td.dataset.hop = hop;
      if (at) {
        td.append(text("span", at.slice(11, 23), "time"));
        if (previous) td.append(text("span", latency(ms(previous, at)), "latency"));
        if (hop === "accepted" && row.mode) td.append(text("span", row.mode + (row.batch_size ? ` ×${row.batch_size}` : ""), "mode"));
        previous = at;
      }
      tr.append(td);
    }
    const status = text("td", row.status, "status");
    if (row.problems.length) status.title = row.problems.join("\n");
    tr.append(status);
    tr.addEventListener("click", (e) => {
      if (!e.target.closest("a")) window.location.href = `/trace/${encodeURIComponent(row.trace_id)}`;
    });
    return tr;
  }

  function upsert(row, atEnd) {
    const old = byTrace.get(row.trace_id);
    const tr = draw(row);
    if (old) old.remove();
    if (atEnd) tbody.append(tr); else tbody.prepend(tr);
    byTrace.set(row.trace_id, tr);
    if (oldest === null || row.version < oldest) oldest = row.version;
  }

  function trim() {
    while (tbody.children.length > MAX_ROWS && !showingOlder) {
      const last = tbody.lastElementChild;
      byTrace.delete(last.dataset.trace);
      last.remove();
      oldest = Number(tbody.lastElementChild.dataset.version);
    }
    document.getElementById("shown").textContent = `${tbody.children.length} rows shown`;
  }

  let showingOlder = false;
  for (const row of JSON.parse(document.getElementById("initial-rows").textContent)) upsert(row, true);
  trim();

  function showFunnel(funnel) {
    for (const [key, value] of Object.entries(funnel || {})) {
      const el = document.querySelector(`[data-counter="${key}"]`);
      if (el) el.textContent = value;
    }
  }

  Console.onUpdate((update) => {
    showFunnel(update.funnel);
    for (const row of update.rows || []) upsert(row, false);
    trim();
  });

  // rows that changed after the page was rendered and before its stream connected: read them once
  document.addEventListener("console:connected", async () => {
    const answer = await fetch(`/api/pipeline?${new URLSearchParams(window.location.search)}`);
    if (!answer.ok) return;
    const data = await answer.json();
    showFunnel(data.funnel);
    for (const row of data.rows.reverse()) {
      const shown = byTrace.get(row.trace_id);
      if (!shown || Number(shown.dataset.version) < row.version) upsert(row, false);
    }
    trim();
  });

  document.getElementById("older").addEventListener("click", async () => {
    const query = new URLSearchParams(window.location.search);
    if (oldest !== null) query.set("before", oldest);
    const answer = await fetch(`/api/pipeline?${query}`);
    const data = await answer.json();
    showingOlder = true;
    for (const row of data.rows) if (!byTrace.has(row.trace_id)) upsert(row, true);
    if (!data.rows.length) Console.flash("no older rows", "ok");
    trim();
  });
});
