// leaderboard.html: sort and filter the explorer table, plot two metrics against each other.
// Written for grainbench (MIT). Text goes into the page only through textContent.
(function () {
  "use strict";
  const table = document.getElementById("board");
  if (!table) { return; }
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const data = JSON.parse(document.getElementById("board-data").textContent);
  const byId = new Map(data.entries.map(e => [e.id, e]));
  const $ = id => document.getElementById(id);
  const SVG = $("scatter").namespaceURI;  // the SVG namespace, from the page's <svg>

  // ---------------------------------------------------------------- filtering
  const filters = ["f-dataset", "f-task", "f-family", "f-text"].map($);
  function visible(row) {
    const [dataset, task, family, text] = filters.map(f => f.value);
    if (dataset && row.dataset.dataset !== dataset) { return false; }
    if (task && !row.dataset.tasks.split(" ").includes(task)) { return false; }
    if (family && row.dataset.family !== family) { return false; }
    if (text && !row.dataset.text.includes(text.trim().toLowerCase())) { return false; }
    return true;
  }
  function applyFilters() {
    let shown = 0;
    for (const row of rows) {
      const ok = visible(row);
      row.hidden = !ok;
      shown += ok ? 1 : 0;
    }
    $("f-count").textContent = shown + " of " + rows.length + " entries";
    draw();
  }
  filters.forEach(f => f.addEventListener("input", applyFilters));

  // ---------------------------------------------------------------- sorting
  const heads = Array.from(table.tHead.rows[0].cells);
  function sortBy(index) {
    const th = heads[index];
    const numeric = th.dataset.type === "num";
    const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    heads.forEach(h => h.setAttribute("aria-sort", "none"));
    th.setAttribute("aria-sort", dir);
    const sign = dir === "ascending" ? 1 : -1;
    const key = row => row.cells[index].dataset.v;
    const sorted = rows.slice().sort((a, b) => {
      const x = key(a), y = key(b);
      if (numeric) {
        const u = x === "" ? NaN : Number(x), v = y === "" ? NaN : Number(y);
        if (Number.isNaN(u) || Number.isNaN(v)) {  // missing values last, either way
          return Number.isNaN(u) - Number.isNaN(v);
        }
        return sign * (u - v);
      }
      return sign * x.localeCompare(y);
    });
    sorted.forEach(row => body.appendChild(row));
  }
  heads.forEach((th, i) => th.querySelector("button").addEventListener("click", () => sortBy(i)));

  // ---------------------------------------------------------------- scatter
  const xSel = $("x-metric"), ySel = $("y-metric"), xLog = $("x-log"), yLog = $("y-log");
  for (const sel of [xSel, ySel]) {
    for (const m of data.metrics) {
      const opt = document.createElement("option");
      opt.value = m.id;
      opt.textContent = m.title;
      sel.appendChild(opt);
    }
  }
  function pick(sel, prefix, fallback) {
    const m = data.metrics.find(x => x.id.startsWith(prefix));
    sel.value = m ? m.id : (data.metrics[fallback] || data.metrics[0] || {}).id || "";
  }
  pick(xSel, "roundtrip:", 0);
  pick(ySel, "perturbation:", 1);
  [xSel, ySel, xLog, yLog].forEach(el => el.addEventListener("input", draw));

  const palette = ["#3b4cca", "#d1495b", "#00798c", "#edae49", "#66a182", "#8d5a97",
                   "#2e4057", "#f28482", "#7f7f7f", "#b5838d", "#6d597a", "#118ab2"];
  const families = Array.from(new Set(data.entries.map(e => e.family))).sort();
  const colour = f => palette[families.indexOf(f) % palette.length];

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) { node.setAttribute(k, String(v)); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function ticks(lo, hi, log) {
    if (log) {
      const out = [];
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) { if (e >= lo && e <= hi) { out.push(e); } }
      return out.length >= 2 ? out : [lo, hi];
    }
    const span = hi - lo || 1, raw = span / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * mag).find(s => span / s <= 6);
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) { out.push(t); }
    return out;
  }
  function fmt(v, log) {
    const x = log ? Math.pow(10, v) : v;
    return Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-2) ? x.toExponential(0) : String(+x.toPrecision(3));
  }
  function draw() {
    const svg = $("scatter");
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    const mx = data.metrics.find(m => m.id === xSel.value), my = data.metrics.find(m => m.id === ySel.value);
    if (!mx || !my) { return; }
    const lx = xLog.checked, ly = yLog.checked;
    const tx = v => (lx ? Math.log10(v) : v), ty = v => (ly ? Math.log10(v) : v);
    const ok = v => v !== null && Number.isFinite(v) && (!lx || v > 0);
    const oky = v => v !== null && Number.isFinite(v) && (!ly || v > 0);
    const points = [];
    for (const row of rows) {
      if (row.hidden) { continue; }
      const e = byId.get(row.cells[0].dataset.v);
      const a = e && e.values[mx.id], b = e && e.values[my.id];
      if (a && b && ok(a[0]) && oky(b[0])) { points.push({e, a, b}); }
    }
    const W = 900, H = 480, L = 80, R = 20, T = 20, B = 60;
    const label = (m, log) => m.title + (log ? " (log scale)" : "");
    svg.appendChild(el("text", {x: L + (W - L - R) / 2, y: H - 12, "text-anchor": "middle"}, label(mx, lx)));
    svg.appendChild(el("text", {x: 16, y: T + (H - T - B) / 2, "text-anchor": "middle",
      transform: "rotate(-90 16 " + (T + (H - T - B) / 2) + ")"}, label(my, ly)));
    if (!points.length) {
      svg.appendChild(el("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "no visible entry has both metrics"));
      return;
    }
    const xs = points.flatMap(p => [p.a[0], p.a[1], p.a[2]]).filter(ok).map(tx);
    const ys = points.flatMap(p => [p.b[0], p.b[1], p.b[2]]).filter(oky).map(ty);
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const padx = (x1 - x0 || Math.abs(x0) || 1) * 0.06, pady = (y1 - y0 || Math.abs(y0) || 1) * 0.06;
    x0 -= padx; x1 += padx; y0 -= pady; y1 += pady;
    const sx = v => L + (tx(v) - x0) / (x1 - x0) * (W - L - R);
    const sy = v => H - B - (ty(v) - y0) / (y1 - y0) * (H - T - B);
    svg.appendChild(el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"}));
    svg.appendChild(el("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"}));
    for (const t of ticks(x0, x1, lx)) {
      const x = L + (t - x0) / (x1 - x0) * (W - L - R);
      svg.appendChild(el("line", {x1: x, y1: H - B, x2: x, y2: H - B + 5, class: "axis"}));
      svg.appendChild(el("text", {x: x, y: H - B + 18, "text-anchor": "middle"}, fmt(t, lx)));
    }
    for (const t of ticks(y0, y1, ly)) {
      const y = H - B - (t - y0) / (y1 - y0) * (H - T - B);
      svg.appendChild(el("line", {x1: L - 5, y1: y, x2: L, y2: y, class: "axis"}));
      svg.appendChild(el("text", {x: L - 8, y: y + 4, "text-anchor": "end"}, fmt(t, ly)));
    }
    for (const p of points) {
      const g = el("g", {"data-entry": p.e.id});
      const c = colour(p.e.family), x = sx(p.a[0]), y = sy(p.b[0]);
      if (ok(p.a[1]) && ok(p.a[2])) {
        g.appendChild(el("line", {x1: sx(p.a[1]), y1: y, x2: sx(p.a[2]), y2: y, stroke: c, "stroke-opacity": 0.5}));
      }
      if (oky(p.b[1]) && oky(p.b[2])) {
        g.appendChild(el("line", {x1: x, y1: sy(p.b[1]), x2: x, y2: sy(p.b[2]), stroke: c, "stroke-opacity": 0.5}));
      }
      const dot = el("circle", {cx: x, cy: y, r: 5, fill: c, "fill-opacity": 0.85});
      dot.appendChild(el("title", {}, p.e.id + ": " + fmt(p.a[0], false) + ", " + fmt(p.b[0], false)));
      g.appendChild(dot);
      g.appendChild(el("text", {x: x + 7, y: y - 6, class: "point"}, p.e.rep));
      svg.appendChild(g);
    }
    let lyPos = T + 10;
    for (const f of families) {
      if (!points.some(p => p.e.family === f)) { continue; }
      svg.appendChild(el("circle", {cx: W - R - 90, cy: lyPos - 4, r: 5, fill: colour(f)}));
      svg.appendChild(el("text", {x: W - R - 80, y: lyPos}, f));
      lyPos += 16;
    }
  }
  applyFilters();
})();
