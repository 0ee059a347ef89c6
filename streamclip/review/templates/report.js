// streamclip review: the index's table, drawn from the rows in index/NN.js (sorted, filtered and
// shown a page at a time: it stays quick with tens of thousands of videos). No dependencies.
(function () {
  "use strict";
  const table = document.getElementById("videos");
  if (!table) return;
  const PAGE = 200;
  const COLUMNS = { rel: 0, slug: 1, status: 2, duration: 3, written: 4, clips: 5, dropped: 6, processing: 7, reason: 8 };
  const SORT_KEYS = [COLUMNS.rel, COLUMNS.status, COLUMNS.duration, COLUMNS.written, COLUMNS.dropped, COLUMNS.processing, COLUMNS.reason];
  const all = [].concat.apply([], window.streamclipRows || []);
  all.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });
  const body = table.tBodies[0];
  const filter = document.getElementById("filter");
  const status = document.getElementById("status-filter");
  const shown = document.getElementById("shown");
  let order = null;  // [column, ascending] once a header was clicked
  let page = 0;

  function seconds(value) {
    if (!value) return "-";
    if (value >= 3600) return Math.floor(value / 3600) + ":" + pad(Math.floor(value % 3600 / 60)) + ":" + pad1(value % 60);
    if (value >= 60) return Math.floor(value / 60) + ":" + pad1(value % 60);
    return value.toFixed(2) + " s";
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function pad1(v) { return (v < 10 ? "0" : "") + v.toFixed(1); }

  function totals() {
    const sum = { videos: all.length, clips: 0, dropped: 0, failed: 0, in_flight: 0, duration: 0 };
    all.forEach(function (r) {
      sum.clips += r[COLUMNS.written];
      sum.dropped += r[COLUMNS.dropped];
      sum.failed += (r[COLUMNS.status] === "failed" || r[COLUMNS.status] === "quarantined") ? 1 : 0;
      sum.in_flight += r[COLUMNS.status] === "in progress" ? 1 : 0;
      sum.duration += r[COLUMNS.duration];
    });
    document.querySelectorAll("[data-total]").forEach(function (b) {
      const name = b.dataset.total;
      b.textContent = name === "duration" ? seconds(sum.duration) : String(sum[name]);
    });
    document.querySelectorAll("[data-bad]").forEach(function (d) { d.classList.toggle("bad", sum[d.dataset.bad] > 0); });
    document.querySelectorAll("[data-hide-zero]").forEach(function (d) { d.hidden = sum[d.dataset.hideZero] === 0; });
  }

  function cell(row, text, value, className) {
    const td = row.insertCell();
    td.textContent = text;
    td.dataset.value = String(value);
    if (className) td.className = className;
    return td;
  }

  function draw(r) {
    const tr = body.insertRow();
    const state = r[COLUMNS.status];
    tr.className = "video status-" + state.replace(/ /g, "-");
    tr.dataset.status = state;
    const name = cell(tr, "", r[COLUMNS.rel]);
    const link = document.createElement("a");
    link.href = "videos/" + encodeURIComponent(r[COLUMNS.slug]) + ".html";
    link.textContent = r[COLUMNS.rel];
    name.appendChild(link);
    const badge = document.createElement("span");
    badge.className = "badge " + state.replace(/ /g, "-");
    badge.textContent = state;
    cell(tr, "", state).appendChild(badge);
    cell(tr, seconds(r[COLUMNS.duration]), r[COLUMNS.duration], "num");
    const clips = cell(tr, String(r[COLUMNS.written]), r[COLUMNS.written], "num");
    if (r[COLUMNS.clips] !== r[COLUMNS.written]) {
      const of = document.createElement("span");
      of.className = "muted";
      of.textContent = " of " + r[COLUMNS.clips];
      clips.appendChild(of);
    }
    cell(tr, String(r[COLUMNS.dropped]), r[COLUMNS.dropped], "num");
    cell(tr, seconds(r[COLUMNS.processing]), r[COLUMNS.processing], "num");
    cell(tr, r[COLUMNS.reason], r[COLUMNS.reason], "reason");
  }

  function apply() {
    const text = (filter.value || "").toLowerCase();
    const wanted = status.value;
    let rows = all.filter(function (r) {
      return (!wanted || r[COLUMNS.status] === wanted) &&
        (!text || (r[COLUMNS.rel] + " " + r[COLUMNS.status] + " " + r[COLUMNS.reason]).toLowerCase().includes(text));
    });
    if (order) {
      const key = SORT_KEYS[order[0]], sign = order[1] ? 1 : -1;
      rows = rows.slice().sort(function (a, b) {
        const x = typeof a[key] === "string" ? a[key].toLowerCase() : a[key];
        const y = typeof b[key] === "string" ? b[key].toLowerCase() : b[key];
        return (x < y ? -1 : x > y ? 1 : 0) * sign;
      });
    }
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    body.textContent = "";
    rows.slice(page * PAGE, (page + 1) * PAGE).forEach(draw);
    shown.textContent = rows.length + " of " + all.length + " shown";
    document.getElementById("page").textContent = "page " + (page + 1) + " of " + pages;
    document.getElementById("previous").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
    remember();
  }

  table.querySelectorAll("th[data-sort]").forEach(function (header, column) {
    header.addEventListener("click", function () {
      const ascending = !header.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (th) { th.classList.remove("asc", "desc"); });
      header.classList.add(ascending ? "asc" : "desc");
      order = [column, ascending];
      apply();
    });
  });

  // Keep the filter and the page across the live page's reloads (the hash survives a meta refresh).
  function remember() {
    const state = new URLSearchParams({ q: filter.value, status: status.value, page: String(page + 1) });
    try {
      history.replaceState(null, "", "#" + state.toString());
    } catch (ignored) {
      // some browsers refuse history changes on file:// pages; the filter still works
    }
  }
  const saved = new URLSearchParams(location.hash.slice(1));
  filter.value = saved.get("q") || "";
  status.value = saved.get("status") || "";
  page = (parseInt(saved.get("page") || "1", 10) || 1) - 1;
  filter.addEventListener("input", function () { page = 0; apply(); });
  status.addEventListener("change", function () { page = 0; apply(); });
  document.getElementById("previous").addEventListener("click", function () { page -= 1; apply(); });
  document.getElementById("next").addEventListener("click", function () { page += 1; apply(); });
  totals();
  apply();
})();
