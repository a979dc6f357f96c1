/* policykg web page: the responsibility overview. The server aggregates units × regulations (or × years),
   edge weight = number of measures; the page draws it as a matrix (rows × columns of shaded cells) or as
   a two-column network, and a click on a cell or an edge lists its measures with their evidence quotes. */
"use strict";

(function () {
  const P = window.policykg;
  const { $, h, api, setStatus } = P;
  const FIELDS = { by: "#o-by", issuer: "#o-issuer", from: "#o-from", to: "#o-to", relation: "#o-relation", method: "#o-method" };
  let shown = { key: null, data: null, mode: "matrix", filters: {} };

  const shortName = (name) => name.replace(/^中华人民共和国(?=.{2,})/, "");
  const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

  function filtersFrom(params) {
    const f = {};
    for (const k of Object.keys(FIELDS)) if (params[k]) f[k] = params[k];
    return f;
  }

  P.views.overview = (params) => {
    for (const [k, sel] of Object.entries(FIELDS)) $(sel).value = params[k] || (k === "by" ? "regulation" : "");
    setMode(params.mode === "network" ? "network" : "matrix");
    load(filtersFrom(params));
  };

  function setMode(mode) {
    shown.mode = mode;
    $("#o-matrix").classList.toggle("seg-on", mode === "matrix");
    $("#o-network").classList.toggle("seg-on", mode === "network");
    $("#o-matrix").setAttribute("aria-pressed", String(mode === "matrix"));
    $("#o-network").setAttribute("aria-pressed", String(mode === "network"));
    $("#overview-matrix").hidden = mode !== "matrix";
    $("#overview-canvas").hidden = mode !== "network";
  }

  function go(mode) {
    const p = new URLSearchParams();
    for (const [k, sel] of Object.entries(FIELDS)) { const v = $(sel).value.trim(); if (v && !(k === "by" && v === "regulation")) p.set(k, v); }
    if (mode === "network") p.set("mode", mode);
    location.hash = `#/overview${p.toString() ? "?" + p : ""}`;
  }

  $("#overview-form").addEventListener("submit", (e) => { e.preventDefault(); go(shown.mode); });
  $("#o-matrix").addEventListener("click", () => go("matrix"));
  $("#o-network").addEventListener("click", () => go("network"));

  async function load(filters) {
    const status = $("#overview-status");
    const key = JSON.stringify(filters);
    try {
      if (shown.key !== key) {
        setStatus(status, "汇总中…");
        shown.data = await api("/graph/overview", filters);
        shown.key = key;
        shown.filters = filters;
        shown.drawn = {};
      }
      const d = shown.data;
      const what = d.by === "year" ? "个年份" : "部法规";
      const left = d.left_out.units || d.left_out.targets
        ? `（按措施数保留前列，另有 ${d.left_out.units} 个单位、${d.left_out.targets} ${what}未显示）` : "";
      setStatus(status, `${d.units.length} 个单位 × ${d.targets.length} ${what} · ${d.edges.length} 条关联 · ${d.measures} 项措施${left}` +
        (d.without_unit ? ` · ${d.without_unit} 项措施未标明责任单位` : "") + " · 点击格子或连线查看措施与证据");
      if (!d.edges.length) setStatus(status, "筛选范围内没有措施与法规关联。");
      if (!shown.drawn[shown.mode]) {
        if (shown.mode === "matrix") drawMatrix(d); else drawNetwork(d);
        shown.drawn[shown.mode] = true;
      } else if (shown.mode === "network" && window.cyOverview) {
        window.cyOverview.resize();
      }
    } catch (e) {
      setStatus(status, e.message, true);
    }
  }

  // ------------------------------------------------------------ one edge: its measures
  async function openEdge(unit, target) {
    const f = shown.filters;
    const params = { unit: unit.id, issuer: f.issuer, from: f.from, to: f.to, relation: f.relation, method: f.method };
    if (target.type === "year") params.year = target.label; else params.regulation = target.id;
    const body = P.openSide(`${unit.label} → ${target.label}`, "加载中…");
    try {
      const edge = await api("/graph/overview/edge", params);
      $("#side-meta").textContent = `${edge.weight} 项措施` + (target.type === "year" ? ` · ${target.label} 年` : "");
      body.textContent = "";
      body.append(...edge.measures.map((m) => P.renderQuoted(m, m.links)));
    } catch (e) {
      $("#side-meta").textContent = e.message;
    }
  }

  const focusUnit = (u) => { location.hash = `#/graph?${new URLSearchParams({ center: u.id, depth: "2", focus: u.label })}`; };
  const openTarget = (t) => {
    if (t.type === "regulation") location.hash = `#/regulations/${encodeURIComponent(t.id)}`;
  };

  // ------------------------------------------------------------ matrix
  /** Rows are units, columns regulations (names written vertically) or years; cells shrink to fit the width. */
  function drawMatrix(d) {
    const box = $("#overview-matrix");
    box.textContent = "";
    if (!d.edges.length) return;
    const weight = new Map(d.edges.map((e) => [`${e.source}|${e.target}`, e]));
    const max = Math.max(...d.edges.map((e) => e.weight));
    const byYear = d.by === "year";
    const cell = Math.max(byYear ? 34 : 10, Math.min(byYear ? 44 : 28, Math.floor((box.parentElement.clientWidth - 200) / (d.targets.length + 1))));
    box.style.setProperty("--cell", `${cell}px`);
    box.classList.toggle("tight", cell < 20);  // smaller type
    box.classList.toggle("dots", cell < 14);  // shading only: the count is in the cell's tooltip and the side panel
    const colHead = (t) => {
      const label = t.type === "regulation" ? shortName(t.label) : t.label;
      const inner = t.type === "regulation"
        ? h("button", { type: "button", class: "link", title: `${t.label} · ${t.weight} 项措施`, onclick: () => openTarget(t) }, cut(label, 13))
        : h("span", { title: `${t.label} · ${t.weight} 项措施` }, label);
      return h("th", { class: `m-col${byYear ? " m-year" : ""}`, scope: "col" }, h("div", null, inner));
    };
    const rowHead = (u) => h("th", { class: "m-row", scope: "row" },
      h("button", { type: "button", class: "link", title: `${u.label} · ${u.weight} 项措施 · 点击聚焦`, onclick: () => focusUnit(u) }, cut(u.label, 14)));
    const edgeCell = (u, t) => {
      const e = weight.get(`${u.id}|${t.id}`);
      if (!e) return h("td", { class: "cell" });
      const [bg, fg] = P.heat(e.weight, max);
      const methods = Object.entries(e.methods).map(([m, n]) => `${P.METHOD[m] || m} ${n}`).join("，");
      const td = h("td", { class: "cell edge", tabindex: "0", dataset: { unit: u.id, target: t.id, weight: e.weight },
        title: `${u.label} → ${t.label}：${e.weight} 项措施（${methods}）`,
        onclick: () => openEdge(u, t), onkeydown: (ev) => { if (ev.key === "Enter") openEdge(u, t); } }, e.weight);
      td.style.backgroundColor = bg;
      td.style.color = fg;
      return td;
    };
    box.append(h("table", { class: "matrix", id: "overview-table" },
      h("thead", null, h("tr", null, h("th", { class: "m-corner" }, byYear ? "单位 \\ 年份" : "单位 \\ 法规"),
        d.targets.map(colHead), h("th", { class: "m-col m-total", title: "不重复的措施数" }, h("div", null, "措施")))),
      h("tbody", null, d.units.map((u) => h("tr", null, rowHead(u), d.targets.map((t) => edgeCell(u, t)), h("td", { class: "m-sum" }, u.weight)))),
      h("tfoot", null, h("tr", null, h("th", { class: "m-row m-sum", title: "不重复的措施数" }, "措施"), d.targets.map((t) => h("td", { class: "m-sum" }, t.weight)), h("td")))));
  }

  // ------------------------------------------------------------ network (two columns)
  function drawNetwork(d) {
    if (window.cyOverview) { window.cyOverview.destroy(); window.cyOverview = null; }
    if (!d.edges.length) return;
    const ROW = 26, GAP = 420;
    const unitRow = new Map(d.units.map((u, i) => [u.id, i]));
    // targets in the order of the mean row of their units (fewer crossings); years stay in year order
    const mean = (t) => {
      const es = d.edges.filter((e) => e.target === t.id);
      const w = es.reduce((s, e) => s + e.weight, 0);
      return es.reduce((s, e) => s + e.weight * unitRow.get(e.source), 0) / (w || 1);
    };
    const targets = d.by === "year" ? d.targets : [...d.targets].map((t) => [mean(t), t]).sort((a, b) => a[0] - b[0] || (a[1].id < b[1].id ? -1 : 1)).map((x) => x[1]);
    const span = Math.max(d.units.length, targets.length) * ROW;
    const yOf = (i, n) => (span - n * ROW) / 2 + i * ROW;
    const max = Math.max(...d.edges.map((e) => e.weight));
    const maxNode = Math.max(...d.units.map((u) => u.weight), ...targets.map((t) => t.weight));
    const size = (w) => 8 + 18 * Math.sqrt(w / maxNode);
    const elements = [
      ...d.units.map((u, i) => ({ data: { ...u, size: size(u.weight), short: cut(u.label, 14) }, position: { x: 0, y: yOf(i, d.units.length) } })),
      ...targets.map((t, i) => ({ data: { ...t, size: size(t.weight), short: cut(t.type === "regulation" ? shortName(t.label) : t.label, 18) },
        position: { x: GAP, y: yOf(i, targets.length) } })),
      ...d.edges.map((e) => ({ data: { ...e, w: 1 + 9 * Math.sqrt(e.weight / max), color: P.heat(e.weight, max)[0] } })),
    ];
    const canvas = $("#overview-canvas");
    const zoom = Math.min(1, (canvas.parentElement.clientWidth - 20) / (GAP + 340));  // labels take ~170 px each side
    canvas.style.height = `${Math.round(Math.min(1400, Math.max(320, span * zoom + 60)))}px`;
    const cy = (window.cyOverview = cytoscape({
      container: canvas, elements, layout: { name: "preset", fit: true, padding: 20 }, minZoom: 0.2, maxZoom: 3,
      style: [
        { selector: "node", style: { label: "data(short)", width: "data(size)", height: "data(size)", "font-size": 12, color: "#243b53",
          "font-family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif", "text-valign": "center" } },
        { selector: 'node[type = "unit"]', style: { "background-color": P.COLORS.unit, shape: "round-rectangle", "text-halign": "left", "text-margin-x": -4 } },
        { selector: 'node[type = "regulation"]', style: { "background-color": P.COLORS.regulation, shape: "diamond", "text-halign": "right", "text-margin-x": 4 } },
        { selector: 'node[type = "year"]', style: { "background-color": "#6c757d", shape: "ellipse", "text-halign": "right", "text-margin-x": 4 } },
        { selector: "edge", style: { width: "data(w)", "line-color": "data(color)", "curve-style": "straight", opacity: 0.85 } },
        { selector: ".faded", style: { opacity: 0.12 } },
        { selector: "edge:selected", style: { "line-color": "#1d3557", opacity: 1 } },
      ],
    }));
    cy.on("tap", "edge", (evt) => {
      const e = evt.target;
      openEdge(e.source().data(), e.target().data());
    });
    cy.on("tap", "node", (evt) => {
      const n = evt.target;
      cy.elements().addClass("faded");
      n.closedNeighborhood().removeClass("faded");
    });
    cy.on("tap", (evt) => { if (evt.target === cy) cy.elements().removeClass("faded"); });
  }

  // ------------------------------------------------------------ export (the network as drawn, the matrix as a table picture)
  function matrixSvg() {
    const table = $("#overview-table");
    if (!table) return null;
    const cells = [...table.querySelectorAll("tbody tr")].map((tr) => [...tr.children]);
    const heads = [...table.querySelectorAll("thead th")];
    const C = 22, left = 190, top = 130;
    const W = left + (heads.length - 1) * C + 120, H = top + cells.length * C + 10;  // room for the slanted last labels
    const NS = "http://www.w3.org/2000/svg";
    const mk = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text != null) e.textContent = text; return e; };
    const svg = mk("svg", { xmlns: NS, width: W, height: H, viewBox: `0 0 ${W} ${H}`, "font-family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif", "font-size": 11 });
    svg.append(mk("rect", { x: 0, y: 0, width: W, height: H, fill: "#fff" }));
    heads.slice(1).forEach((th, j) => {
      const x = left + j * C + C / 2;
      svg.append(mk("text", { x, y: top - 6, transform: `rotate(-60 ${x} ${top - 6})`, fill: "#243b53" }, th.textContent.trim()));
    });
    cells.forEach((row, i) => {
      const y = top + i * C;
      svg.append(mk("text", { x: left - 6, y: y + C / 2 + 4, "text-anchor": "end", fill: "#243b53" }, row[0].textContent.trim()));
      row.slice(1).forEach((td, j) => {
        const x = left + j * C;
        svg.append(mk("rect", { x, y, width: C, height: C, fill: td.style.backgroundColor || "#fff", stroke: "#e4e7eb" }));
        if (td.textContent) svg.append(mk("text", { x: x + C / 2, y: y + C / 2 + 4, "text-anchor": "middle", fill: td.style.color || "#243b53" }, td.textContent));
      });
    });
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
  }

  function exportOverview(kind) {
    if (shown.mode === "network") {
      if (!window.cyOverview) return;
      if (kind === "png") P.exportPng(window.cyOverview, "policykg-overview"); else P.exportSvg(window.cyOverview, "policykg-overview");
      return;
    }
    const text = matrixSvg();
    if (!text) return;
    if (kind === "svg") { P.download(new Blob([text], { type: "image/svg+xml" }), "policykg-overview.svg"); return; }
    const img = new Image();
    img.onload = () => {
      const c = document.createElement("canvas");
      c.width = img.width * 2;
      c.height = img.height * 2;
      const ctx = c.getContext("2d");
      ctx.scale(2, 2);
      ctx.drawImage(img, 0, 0);
      c.toBlob((b) => P.download(b, "policykg-overview.png"), "image/png");
    };
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
  }
  $("#o-png").addEventListener("click", () => exportOverview("png"));
  $("#o-svg").addEventListener("click", () => exportOverview("svg"));
})();
