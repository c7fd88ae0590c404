// The Bridge page: each waiting batch's "leaves in" counts down between two renders of the fragment.
// The bridge's clock may run faster than the wall clock (data-clock-speed); the text is ours, no user data.
"use strict";

(() => {
  let rendered = Date.now();
  document.addEventListener("live:refreshed", () => { rendered = Date.now(); });

  function tick() {
    const table = document.getElementById("batches");
    if (!table) return;
    const speed = Number(table.dataset.clockSpeed) || 1;
    const elapsed = (Date.now() - rendered) / 1000 * speed;
    for (const cell of table.querySelectorAll("td.countdown")) {
      const left = Number(cell.dataset.countdown) - elapsed;
      if (Number(cell.dataset.countdown) > 0) cell.textContent = left > 0 ? `${left.toFixed(1)} s` : "now";
    }
  }

  document.addEventListener("DOMContentLoaded", () => setInterval(tick, 200));
})();
