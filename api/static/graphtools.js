/* policykg web page: what the drawn graphs share. A seeded layout (the same picture on every load),
   focus on a unit or regulation (its neighbourhood two steps out), and export of the current view as
   PNG (cytoscape's cy.png) and SVG (written here from the drawn positions and styles). */
"use strict";

(function () {
  const P = window.policykg;
  const { $, h, api } = P;

  // ------------------------------------------------------------ seeded layout
  /** A small seeded PRNG (mulberry32): the same sequence for the same seed. */
  function mulberry32(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const TYPE_RING = { regulation: 0, unit: 1, measure: 2 };

  /** Deterministic start positions: rings by distance from ``center`` (or by node type), nodes in id order. */
  function seedPositions(view, center) {
    const dist = {};
    if (center) {
      const near = {};
      for (const e of view.edges) {
        (near[e.source] = near[e.source] || []).push(e.target);
        (near[e.target] = near[e.target] || []).push(e.source);
      }
      dist[center] = 0;
      const queue = [center];
      while (queue.length) {
        const n = queue.shift();
        for (const m of near[n] || []) if (!(m in dist)) { dist[m] = dist[n] + 1; queue.push(m); }
      }
    }
    const ring = (n) => (center ? (n.id in dist ? dist[n.id] : 3) : (TYPE_RING[n.type] ?? 3));
    const rings = {};
    for (const n of [...view.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      (rings[ring(n)] = rings[ring(n)] || []).push(n.id);
    }
    const positions = {};
    for (const [r, ids] of Object.entries(rings)) {
      const radius = Number(r) === 0 && ids.length === 1 ? 0 : 60 + Number(r) * 110 + ids.length * 4;
      ids.forEach((id, i) => {
        const angle = (2 * Math.PI * i) / ids.length + Number(r) * 0.37;
        positions[id] = { x: Math.round(radius * Math.cos(angle)), y: Math.round(radius * Math.sin(angle)) };
      });
    }
    return positions;
  }

  /** Run a layout with Math.random seeded, so a force layout gives the same positions on every load. */
  function runSeeded(cy, options, seed = 20240615) {
    const random = Math.random;
    Math.random = mulberry32(seed);
    try {
      cy.layout(options).run();
    } finally {
      Math.random = random;
    }
  }

  // ------------------------------------------------------------ export
  function download(blob, name) {
    const a = h("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function exportPng(cy, name) {
    download(cy.png({ output: "blob", full: true, scale: 2, bg: "#ffffff" }), name + ".png");
  }

  const SVGNS = "http://www.w3.org/2000/svg";
  function el(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null && v !== "") e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }
  const num = (v) => parseFloat(v) || 0;
  const r1 = (v) => Math.round(v * 10) / 10;

  /** The drawn graph as an SVG document: straight or curved edges, node shapes, labels, in model coordinates. */
  function cySvg(cy) {
    const shown = cy.elements(":visible");
    const bb = shown.boundingBox({ includeLabels: true });
    const pad = 16;
    const [x0, y0, w, hgt] = [bb.x1 - pad, bb.y1 - pad, bb.w + 2 * pad, bb.h + 2 * pad].map(r1);
    const root = el("svg", { xmlns: SVGNS, viewBox: `${x0} ${y0} ${w} ${hgt}`, width: w, height: hgt,
      "font-family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif" });
    root.append(el("rect", { x: x0, y: y0, width: w, height: hgt, fill: "#ffffff" }));
    const edges = el("g", { class: "edges" });
    const nodes = el("g", { class: "nodes" });
    root.append(edges, nodes);
    shown.edges().forEach((e) => {
      const s = e.sourceEndpoint(), t = e.targetEndpoint();
      const cps = e.controlPoints && e.controlPoints();
      const d = cps && cps.length === 1
        ? `M${r1(s.x)},${r1(s.y)} Q${r1(cps[0].x)},${r1(cps[0].y)} ${r1(t.x)},${r1(t.y)}`
        : `M${r1(s.x)},${r1(s.y)} ` + [...(cps || []), t].map((p) => `L${r1(p.x)},${r1(p.y)}`).join(" ");
      const color = e.style("line-color");
      const g = el("g", { opacity: num(e.style("opacity")) < 1 ? e.style("opacity") : null });
      g.append(el("path", { d, fill: "none", stroke: color, "stroke-width": num(e.style("width")) }));
      if (e.style("target-arrow-shape") !== "none") {
        const from = cps && cps.length ? cps[cps.length - 1] : s;
        const a = Math.atan2(t.y - from.y, t.x - from.x), len = 6 + num(e.style("width"));
        const pt = (da, l) => `${r1(t.x - l * Math.cos(a + da))},${r1(t.y - l * Math.sin(a + da))}`;
        g.append(el("polygon", { points: `${r1(t.x)},${r1(t.y)} ${pt(0.45, len)} ${pt(-0.45, len)}`, fill: e.style("target-arrow-color") }));
      }
      const text = (label, at) => g.append(el("text", { x: r1(at.x), y: r1(at.y), "font-size": num(e.style("font-size")),
        "text-anchor": "middle", "dominant-baseline": "middle", fill: e.style("color") }, label));
      if (e.style("label")) text(e.style("label"), e.midpoint());
      if (e.style("target-label")) {  // drawn along the edge, ``target-text-offset`` before its end
        const len = Math.hypot(t.x - s.x, t.y - s.y) || 1, off = num(e.style("target-text-offset"));
        text(e.style("target-label"), { x: t.x - ((t.x - s.x) * off) / len, y: t.y - ((t.y - s.y) * off) / len });
      }
      edges.append(g);
    });
    shown.nodes().forEach((n) => {
      const p = n.position(), nw = n.width(), nh = n.height();
      const g = el("g", { opacity: num(n.style("opacity")) < 1 ? n.style("opacity") : null });
      const fill = n.style("background-color");
      const border = num(n.style("border-width")) ? { stroke: n.style("border-color"), "stroke-width": num(n.style("border-width")) } : {};
      const shape = n.style("shape");
      if (shape === "diamond") {
        g.append(el("polygon", { points: `${r1(p.x)},${r1(p.y - nh / 2)} ${r1(p.x + nw / 2)},${r1(p.y)} ${r1(p.x)},${r1(p.y + nh / 2)} ${r1(p.x - nw / 2)},${r1(p.y)}`, fill, ...border }));
      } else if (shape === "ellipse") {
        g.append(el("ellipse", { cx: r1(p.x), cy: r1(p.y), rx: r1(nw / 2), ry: r1(nh / 2), fill, ...border }));
      } else {
        g.append(el("rect", { x: r1(p.x - nw / 2), y: r1(p.y - nh / 2), width: r1(nw), height: r1(nh), rx: shape === "rectangle" ? 0 : 4, fill, ...border }));
      }
      const label = n.style("label");
      if (label) {
        const size = num(n.style("font-size"));
        const halign = n.style("text-halign"), valign = n.style("text-valign");
        let x = p.x, y = p.y, anchor = "middle", base = "middle";
        if (halign === "left") { x = p.x - nw / 2 - 4; anchor = "end"; } else if (halign === "right") { x = p.x + nw / 2 + 4; anchor = "start"; }
        if (valign === "bottom") { y = p.y + nh / 2 + num(n.style("text-margin-y")); base = "hanging"; } else if (valign === "top") { y = p.y - nh / 2 - 2; base = "auto"; }
        g.append(el("text", { x: r1(x), y: r1(y), "font-size": size, "text-anchor": anchor, "dominant-baseline": base,
          fill: n.style("color"), "font-weight": n.style("font-weight") === "bold" ? "bold" : null }, label));
      }
      nodes.append(g);
    });
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(root);
  }

  function exportSvg(cy, name) {
    download(new Blob([cySvg(cy)], { type: "image/svg+xml" }), name + ".svg");
  }

  // ------------------------------------------------------------ focus
  async function focusNames() {
    const [regs, units] = await Promise.all([P.loadRegulations(), P.cache.units || api("/units")]);
    P.cache.units = units;
    return { regs, units };
  }

  async function fillFocusNames() {
    const list = $("#focus-names");
    if (list.childElementCount) return;
    const { regs, units } = await focusNames();
    units.filter((u) => u.measures > 0).forEach((u) => list.append(h("option", { value: u.name }, `单位 · ${u.measures} 项措施`)));
    regs.filter((r) => r.measures > 0).forEach((r) => list.append(h("option", { value: r.name }, `法规 · ${r.measures} 项措施`)));
  }

  /** The id of the unit or regulation with this name or alias (the server resolves anything else). */
  async function focusId(name) {
    const { regs, units } = await focusNames();
    const match = (x) => x.id === name || x.name === name || (x.aliases || []).includes(name);
    const hit = units.find(match) || regs.find(match);
    return hit ? hit.id : name;
  }

  $("#focus-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("#g-focus").value.trim();
    if (!name) return;
    const p = new URLSearchParams({ center: await focusId(name), depth: "2", focus: name });
    location.hash = `#/graph?${p}`;
  });
  $("#g-focus").addEventListener("focus", () => { fillFocusNames().catch(() => {}); });
  $("#g-png").addEventListener("click", () => { if (window.cy) exportPng(window.cy, "policykg-graph"); });
  $("#g-svg").addEventListener("click", () => { if (window.cy) exportSvg(window.cy, "policykg-graph"); });

  Object.assign(P, { seedPositions, runSeeded, exportPng, exportSvg, cySvg, download });
})();
