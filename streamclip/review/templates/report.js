// streamclip review: sort the video table by a column, filter it by text and status. No dependencies.
(function () {
  "use strict";
  const table = document.getElementById("videos");
  if (!table) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.querySelectorAll("tr.video"));
  const filter = document.getElementById("filter");
  const status = document.getElementById("status-filter");
  const shown = document.getElementById("shown");

  function value(row, column, numeric) {
    const raw = row.cells[column].dataset.value || "";
    return numeric ? parseFloat(raw) || 0 : raw.toLowerCase();
  }

  table.querySelectorAll("th[data-sort]").forEach(function (header, column) {
    header.addEventListener("click", function () {
      const numeric = header.dataset.sort === "number";
      const ascending = !header.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (th) { th.classList.remove("asc", "desc"); });
      header.classList.add(ascending ? "asc" : "desc");
      rows.sort(function (a, b) {
        const x = value(a, column, numeric), y = value(b, column, numeric);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
      remember();
    });
  });

  function apply() {
    const text = (filter.value || "").toLowerCase();
    const wanted = status.value;
    let count = 0;
    rows.forEach(function (row) {
      const visible = (!text || row.textContent.toLowerCase().includes(text)) &&
        (!wanted || row.dataset.status === wanted);
      row.hidden = !visible;
      count += visible ? 1 : 0;
    });
    shown.textContent = count + " of " + rows.length + " shown";
    remember();
  }

  // Keep the filter across the live page's reloads (the hash survives a meta refresh).
  function remember() {
    const state = new URLSearchParams({ q: filter.value, status: status.value });
    try {
      history.replaceState(null, "", "#" + state.toString());
    } catch (ignored) {
      // some browsers refuse history changes on file:// pages; the filter still works
    }
  }
  const saved = new URLSearchParams(location.hash.slice(1));
  filter.value = saved.get("q") || "";
  status.value = saved.get("status") || "";
  filter.addEventListener("input", apply);
  status.addEventListener("change", apply);
  apply();
})();
