// The Clock and world page: a CSV file dropped (or chosen) is posted as text/csv to the console, which
// forwards it to the fake Braze's import; its report is written with textContent only. The fault form posts a rule
// (parsed here, so a typo is said at once) to the console, which adds it on the chosen service.
"use strict";

(() => {
  function show(report, error) {
    const box = document.getElementById("import-report");
    const summary = document.getElementById("import-summary");
    const table = document.getElementById("import-errors");
    const body = table.querySelector("tbody");
    box.hidden = false;
    body.replaceChildren();
    if (error) {
      summary.textContent = error;
      summary.className = "error";
      table.hidden = true;
      return;
    }
    summary.className = "";
    summary.textContent = `${report.imported} imported of ${report.rows} rows (${report.created} created, ` +
      `${report.updated} updated, ${report.dropped} dropped)`;
    for (const err of report.errors || []) {
      const row = document.createElement("tr");
      for (const text of [String(err.line), err.reason]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
    table.hidden = !(report.errors || []).length;
  }

  async function upload(file) {
    if (!file) return;
    const url = JSON.parse(document.getElementById("import-url").textContent);
    const answer = await fetch(url, {
      method: "POST", headers: { "Content-Type": "text/csv", Accept: "application/json" }, body: await file.text(),
    });
    let data = null;
    try { data = await answer.json(); } catch (e) { data = null; }
    const message = (data && data.message) || `${answer.status} ${answer.statusText}`;
    if (!answer.ok) {
      show(null, message);
      Console.flash(message, "error");
      return;
    }
    show(data.report);
    Console.flash(message, "ok");
  }

  async function addFault(e) {
    e.preventDefault();
    const text = document.getElementById("fault-rule").value;
    let rule;
    try {
      rule = JSON.parse(text);
    } catch (err) {
      Console.flash(`the rule is not JSON: ${err.message}`, "error");
      return;
    }
    const url = JSON.parse(document.getElementById("faults-url").textContent);
    try {
      const data = await Console.act(url, { service: document.getElementById("fault-service").value, rule });
      Console.flash(data.message, "ok");
      Console.refresh(document.getElementById("faults"));
    } catch (err) {
      // flashed by act()
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("fault-form").addEventListener("submit", addFault);
    const zone = document.getElementById("drop-zone");
    const input = document.getElementById("csv-file");
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
    }
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      upload(e.dataTransfer.files[0]);
    });
    input.addEventListener("change", () => { upload(input.files[0]); input.value = ""; });
  });
})();
