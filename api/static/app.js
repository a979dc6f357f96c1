/* policykg web page: search, regulations, responsibility graph, timeline. Plain JS, no build step.
   All data is inserted as text nodes (never innerHTML), so document text cannot inject markup.
   The helpers other scripts use (overview.js, graphtools.js, coverage.js) are on window.policykg;
   they register their tabs in policykg.views and are called once the page has loaded. */
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const METHOD = { citation: "引用", alias: "简称", topic: "主题", semantic: "语义" };
  const TYPE = { report: "报告", regulation: "法规", unit: "单位", measure: "措施" };
  const STATUS = { done: "已完成", planned: "计划" };
  const KIND = { law: "法律", regulation: "行政法规", rules: "规章", local_regulation: "地方性法规", draft: "草案", policy: "政策文件", other: "其他",
    organisation: "机构", role: "职务", group: "群体" };
  const cache = { regulations: null, units: null };

  /** Create an element: h("div", {class: "x", onclick: fn}, "text", child, ...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
      else if (v !== "" && v != null) url.searchParams.set(k, v);
    }
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const d = body.detail;
      throw new Error(typeof d === "string" ? d : Array.isArray(d) ? d.map((e) => e.msg).join("; ") : `HTTP ${res.status}`);
    }
    return body;
  }

  function setStatus(el, text, isError) {
    el.textContent = text || "";
    el.classList.toggle("error", !!isError);
  }

  /** Text with the given words wrapped in <mark>, as a fragment. */
  function highlight(text, terms) {
    const frag = document.createDocumentFragment();
    const words = [...new Set((terms || []).filter((t) => t && t.length))].sort((a, b) => b.length - a.length);
    if (!words.length) { frag.append(text); return frag; }
    const re = new RegExp("(" + words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|") + ")", "g");
    let last = 0;
    let mark = null;
    for (const m of text.matchAll(re)) {
      if (mark && m.index === last) mark.append(m[0]);  // adjacent words: one mark
      else {
        if (m.index > last) frag.append(text.slice(last, m.index));
        mark = h("mark", null, m[0]);
        frag.append(mark);
      }
      last = m.index + m[0].length;
    }
    if (last < text.length) frag.append(text.slice(last));
    return frag;
  }

  const fmtScore = (s) => (s == null ? "" : Number(s).toFixed(3));

  /** Background and text colour of a cell counting ``n`` of at most ``max`` measures (log scale; 0: unshaded). */
  function heat(n, max) {
    if (!n) return ["", ""];
    const t = max > 1 ? Math.min(1, Math.log1p(n - 1) / Math.log1p(max - 1)) : 1;
    const mix = (a, b) => Math.round(a + (b - a) * (0.15 + 0.85 * t));
    return [`rgb(${mix(254, 153)}, ${mix(236, 45)}, ${mix(214, 20)})`, t > 0.5 ? "#fff" : "#3d1a0c"];
  }

  // ------------------------------------------------------------ document viewer
  async function openDocument(docId, start, end) {
    const panel = $("#doc");
    $("#doc-title").textContent = "加载中…";
    $("#doc-meta").textContent = "";
    $("#doc-text").textContent = "";
    panel.hidden = false;
    try {
      const doc = await api(`/documents/${encodeURIComponent(docId)}`);
      $("#doc-title").textContent = doc.title;
      $("#doc-meta").textContent = [TYPE[doc.doc_type] || doc.doc_type, doc.issuer, doc.year, doc.published]
        .filter(Boolean).join(" · ") + (start != null ? ` · 字符 [${start}, ${end})` : "");
      const box = $("#doc-text");
      if (start == null || end == null) { box.append(doc.text); box.scrollTop = 0; return; }
      const mark = h("mark", { id: "doc-hl" }, doc.text.slice(start, end));
      box.append(doc.text.slice(0, start), mark, doc.text.slice(end));
      requestAnimationFrame(() => mark.scrollIntoView({ block: "center" }));
    } catch (e) {
      $("#doc-title").textContent = "无法打开文档";
      $("#doc-meta").textContent = e.message;
    }
  }
  $("#doc-close").addEventListener("click", () => { $("#doc").hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("#doc").hidden = true; });

  const openLink = (label, docId, start, end) =>
    h("button", { type: "button", class: "link", onclick: () => openDocument(docId, start, end) }, label);

  // ------------------------------------------------------------ side panel (measures behind a cell or an edge)
  /** Show a title, a line of context and content in the side panel; returns its body. */
  function openSide(title, meta, ...content) {
    $("#side-title").textContent = title;
    $("#side-meta").textContent = meta || "";
    const body = $("#side-body");
    body.textContent = "";
    body.append(...content.flat().filter(Boolean));
    body.scrollTop = 0;
    $("#side").hidden = false;
    return body;
  }
  $("#side-close").addEventListener("click", () => { $("#side").hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && $("#doc").hidden) $("#side").hidden = true; });

  /** A measure with one quote per piece of evidence: ``{title, year, document, units, quote, start, end, method, article}`` or links. */
  function renderQuoted(m, evidence) {
    return h("div", { class: "card measure", dataset: { id: m.id } },
      h("div", { class: "hit-head" },
        h("span", { class: "measure-title" }, m.title),
        m.year ? h("span", { class: "badge" }, m.year) : null,
        m.units && m.units.length ? h("span", { class: "muted" }, "责任单位：" + m.units.map((u) => u.name).join("、")) : null),
      h("div", { class: "muted" }, m.document.title),
      evidence.map((e) => h("div", { class: "evidence" },
        h("span", { class: `badge m-${e.method}` }, METHOD[e.method] || e.method),
        e.regulation ? h("span", { class: "badge" }, e.regulation.name) : null,
        e.article ? h("span", { class: "badge" }, e.article) : null, " ",
        openLink("在原文中查看 →", m.document.id, e.start, e.end),
        h("span", { class: "quote" }, e.quote))));
  }

  // ------------------------------------------------------------ search
  async function runSearch(params) {
    const status = $("#search-status");
    const list = $("#hits");
    list.textContent = "";
    setStatus(status, "搜索中…");
    try {
      const hits = await api("/search", { k: 20, ...params });
      setStatus(status, hits.length ? `${hits.length} 条结果` : "没有结果");
      for (const hit of hits) list.append(renderHit(hit));
    } catch (e) {
      setStatus(status, e.message, true);
    }
  }

  function renderHit(hit) {
    const where = hit.article || (hit.section || "").split(" > ").pop();
    return h("li", { class: "card hit" },
      h("div", { class: "hit-head" },
        h("span", { class: "hit-title" }, hit.title),
        h("span", { class: `badge ${hit.doc_type}` }, TYPE[hit.doc_type] || hit.doc_type),
        hit.year ? h("span", { class: "badge" }, hit.year) : null,
        hit.issuer ? h("span", { class: "muted" }, hit.issuer) : null,
        h("span", { class: "muted" }, `相关度 ${fmtScore(hit.score)}`)),
      where ? h("div", { class: "muted" }, where) : null,
      h("p", { class: "hit-text" }, highlight(hit.text, hit.terms)),
      openLink("在原文中查看 →", hit.doc_id, hit.start, hit.end));
  }

  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const params = { q: $("#q").value.trim(), year: $("#s-year").value, issuer: $("#s-issuer").value.trim(), type: $("#s-type").value };
    if (!params.q) return;
    const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
    if (location.hash !== `#/search?${qs}`) history.replaceState(null, "", `#/search?${qs}`);
    runSearch(params);
  });

  // ------------------------------------------------------------ regulations
  async function loadRegulations() {
    if (!cache.regulations) cache.regulations = await api("/regulations");
    return cache.regulations;
  }

  let regListBuilt = null;
  async function showRegulationList(activeId) {
    const ul = $("#reg-list");
    regListBuilt = regListBuilt || buildRegulationList(ul);
    await regListBuilt;
    ul.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.id === activeId));
  }

  async function buildRegulationList(ul) {
    {
      const regs = await loadRegulations();
      regs.sort((a, b) => b.measures - a.measures || b.articles - a.articles);
      for (const r of regs) {
        ul.append(h("li", null, h("button", {
          type: "button", dataset: { id: r.id },
          onclick: () => { location.hash = `#/regulations/${encodeURIComponent(r.id)}`; },
        }, h("span", { class: "count" }, `${r.measures} 项措施`), r.name)));
      }
    }
  }

  async function showRegulation(id) {
    const pane = $("#reg-detail");
    pane.textContent = "";
    pane.append(h("p", { class: "status" }, "加载中…"));
    try {
      const [reg, impl] = await Promise.all([api(`/regulations/${encodeURIComponent(id)}`), api(`/regulations/${encodeURIComponent(id)}/measures`)]);
      await showRegulationList(reg.id);
      pane.textContent = "";
      pane.append(
        h("h2", null, reg.name),
        h("p", { class: "muted" }, [KIND[reg.kind] || reg.kind, reg.aliases.length ? "又称 " + reg.aliases.join("、") : null, reg.topic ? "主题：" + reg.topic : null].filter(Boolean).join(" · ")),
        h("div", { class: "filters" },
          h("button", { type: "button", onclick: () => { location.hash = `#/graph?regulation=${encodeURIComponent(reg.id)}`; } }, "在责任图谱中查看"),
          reg.doc_id ? h("button", { type: "button", onclick: () => openDocument(reg.doc_id) }, "全文") : null));
      if (reg.doc_id && window.policykg.coverage) pane.append(window.policykg.coverage(reg));
      pane.append(h("h3", null, `落实措施（${impl.measures.length}）`));
      if (!impl.measures.length) pane.append(h("p", { class: "status" }, "尚无措施与此法规关联。"));
      const byYear = new Map();
      for (const m of impl.measures) {
        const y = m.year || "年份不详";
        if (!byYear.has(y)) byYear.set(y, []);
        byYear.get(y).push(m);
      }
      for (const [year, items] of byYear) {
        pane.append(h("div", { class: "year-group" }, h("h3", null, `${year} 年`), items.map(renderMeasure)));
      }
      if (reg.articles.length) {
        const det = h("details", { class: "articles", open: reg.articles.length <= 60 }, h("summary", null, `条文（${reg.articles.length}）`));
        let chapter = null;
        for (const a of reg.articles) {
          if (a.chapter && a.chapter !== chapter) { chapter = a.chapter; det.append(h("div", { class: "chapter" }, chapter)); }
          const body = a.text.startsWith(a.label) ? a.text.slice(a.label.length).trim() : a.text;
          det.append(h("div", { class: "article", id: `art-${a.number}` }, h("b", null, a.label), body, " ",
            reg.doc_id ? openLink("原文", reg.doc_id, a.start, a.end) : null));
        }
        pane.append(det);
      }
    } catch (e) {
      pane.textContent = "";
      pane.append(h("p", { class: "status error" }, e.message));
    }
  }

  function renderMeasure(m) {
    return h("div", { class: "card measure", dataset: { id: m.id } },
      h("div", { class: "hit-head" },
        h("span", { class: "measure-title" }, m.title),
        h("span", { class: "badge" }, STATUS[m.status] || m.status),
        m.units.length ? h("span", { class: "muted" }, "责任单位：" + m.units.map((u) => u.name).join("、")) : null),
      h("div", { class: "muted" }, `${m.document.title} · ${m.section.split(" > ").slice(0, -1).pop() || ""}`),
      (m.evidence || []).map((e) => h("div", { class: "evidence" },
        h("span", { class: `badge m-${e.method}` }, METHOD[e.method] || e.method),
        e.article ? h("span", { class: "badge" }, e.article) : null, " ",
        h("span", { class: "muted" }, `得分 ${Number(e.score).toFixed(2)}`), " ",
        openLink("在原文中查看 →", m.document.id, e.start, e.end),
        h("span", { class: "quote" }, e.mention ? highlight(e.quote, [e.mention]) : e.quote))));
  }

  // ------------------------------------------------------------ graph
  const COLORS = { unit: "#2a9d8f", measure: "#457b9d", regulation: "#e76f51", document: "#8d99ae", article: "#f4a261", indicator: "#a8dadc" };
  let graphParams = null;
  const FOCUS_MAX_NODES = 250;

  async function fillGraphFilters() {
    const [regs, units] = await Promise.all([loadRegulations(), cache.units || api("/units")]);
    cache.units = units;
    const regSel = $("#g-reg");
    const unitSel = $("#g-unit");
    if (regSel.options.length > 1) return;
    regs.filter((r) => r.measures > 0).forEach((r) => regSel.append(h("option", { value: r.id }, r.name)));
    units.filter((u) => u.measures > 0).sort((a, b) => b.measures - a.measures)
      .forEach((u) => unitSel.append(h("option", { value: u.id }, `${u.name}（${u.measures}）`)));
  }

  async function drawGraph(params) {
    const key = JSON.stringify(params);
    if (window.cy && graphParams === key) { window.cy.resize(); return; }
    graphParams = key;
    const status = $("#graph-status");
    setStatus(status, "加载图谱…");
    try {
      const view = await api("/graph", params.center ? { max_nodes: FOCUS_MAX_NODES, ...params } : params);
      const focus = view.center ? view.nodes.find((n) => n.id === view.center) : null;
      setStatus(status, (focus ? `聚焦「${focus.label}」${view.filters.depth} 步邻域 · ` : "") + `${view.nodes.length} 个节点 · ${view.edges.length} 条边` +
        (view.truncated ? `（共 ${view.total_nodes} 个，已截断）` : "") + (!view.center && view.truncated ? " · 全局结构请看“总览”" : ""));
      const elements = [
        ...view.nodes.map((n) => ({ data: { ...n, short: n.label.length > 12 ? n.label.slice(0, 12) + "…" : n.label } })),
        ...view.edges.map((e) => ({ data: e })),
      ];
      if (window.cy) window.cy.destroy();
      const cy = (window.cy = cytoscape({
        container: $("#graph-canvas"), elements, minZoom: 0.2, maxZoom: 3,
        style: [
          { selector: "node", style: { label: "data(short)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 3, color: "#243b53",
            "font-family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif", width: 16, height: 16, "background-color": "#8d99ae",
            "text-background-color": "#fff", "text-background-opacity": 0.7, "text-background-padding": 1 } },
          ...Object.entries(COLORS).map(([t, c]) => ({ selector: `node[type = "${t}"]`, style: { "background-color": c } })),
          { selector: 'node[type = "measure"]', style: { "font-size": 9, "min-zoomed-font-size": 7 } },
          { selector: 'node[type = "unit"]', style: { shape: "round-rectangle", width: 22, height: 22 } },
          { selector: 'node[type = "regulation"]', style: { shape: "diamond", width: 30, height: 30, "font-weight": "bold", "font-size": 11 } },
          { selector: "edge", style: { width: 1.2, "line-color": "#bcccdc", "curve-style": "bezier", "target-arrow-shape": "triangle", "target-arrow-color": "#bcccdc", "arrow-scale": 0.7 } },
          { selector: 'edge[relation = "implements"]', style: { "line-color": "#f4a261", "target-arrow-color": "#f4a261" } },
          { selector: ":selected", style: { "border-width": 3, "border-color": "#e63946" } },
          { selector: ".faded", style: { opacity: 0.2 } },
        ],
        layout: { name: "preset", positions: window.policykg.seedPositions(view, params.center) },
      }));
      window.policykg.runSeeded(cy, { name: "cose", animate: false, randomize: false, nodeRepulsion: 40000, idealEdgeLength: 90,
        nodeOverlap: 40, componentSpacing: 80, padding: 24 });
      cy.on("tap", "node", (evt) => showNode(evt.target));
      cy.on("tap", (evt) => { if (evt.target === cy) cy.elements().removeClass("faded"); });
      if (params.center && cy.getElementById(params.center).nonempty()) showNode(cy.getElementById(params.center), false);
    } catch (e) {
      setStatus(status, e.message, true);
    }
  }

  async function showNode(node, fade = true) {
    const cy = window.cy;
    const n = node.data();
    cy.elements().removeClass("faded");
    if (fade) {
      cy.elements().addClass("faded");
      node.closedNeighborhood().removeClass("faded");
    } else {
      node.select();
    }
    const info = $("#node-info");
    info.textContent = "";
    info.append(h("h2", null, n.label),
      h("p", { class: "muted" }, [TYPE[n.type] || n.type, n.year, STATUS[n.status] || n.status, KIND[n.kind] || n.kind].filter(Boolean).join(" · ")));
    const edges = node.connectedEdges().map((e) => e.data());
    for (const d of edges) {
      const other = cy.getElementById(d.source === n.id ? d.target : d.source).data();
      const rel = { implements: "落实", drafts: "起草", revises: "修订", studies: "学习宣传", responsible_for: "负责", sub_unit_of: "隶属" }[d.relation] || d.relation;
      const measureId = n.type === "measure" ? n.id : other && other.type === "measure" ? other.id : null;
      const docId = measureId ? cy.getElementById(measureId).data("doc_id") : null;
      info.append(h("div", { class: "evidence" },
        h("strong", null, `${rel} `), other ? other.label : "",
        d.method ? h("span", { class: "muted" }, ` [${METHOD[d.method] || d.method}${d.article ? " " + d.article : ""} ${fmtScore(d.score)}]`) : null,
        d.quote ? h("span", { class: "quote" }, d.quote) : null,
        d.quote && docId ? openLink("在原文中查看 →", docId, d.start, d.end) : null));
    }
    try {
      if (n.type === "measure") {
        const m = await api(`/measures/${encodeURIComponent(n.id)}`);
        info.insertBefore(h("p", { class: "hit-text" }, m.text.length > 260 ? m.text.slice(0, 260) + "…" : m.text, " ", openLink("原文 →", m.document.id, m.start, m.end)), info.children[2] || null);
        if (m.indicators.length) info.append(h("h3", null, "指标"), m.indicators.map((i) => h("div", { class: "muted" }, i.quote)));
      } else if (n.type === "regulation") {
        info.insertBefore(h("div", { class: "filters" }, h("button", { type: "button", onclick: () => { location.hash = `#/regulations/${encodeURIComponent(n.id)}`; } }, "法规详情")), info.children[2] || null);
      } else if (n.type === "unit") {
        const u = await api(`/units/${encodeURIComponent(n.id)}`);
        const extra = [u.parent ? "上级：" + u.parent.name : null, u.children.length ? "下设：" + u.children.map((c) => c.name).join("、") : null, `负责措施 ${u.measures.length} 项`];
        info.insertBefore(h("p", { class: "muted" }, extra.filter(Boolean).join(" · ")), info.children[2] || null);
      }
    } catch (e) { /* the edges above are already shown */ }
  }

  $("#graph-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new URLSearchParams(Object.entries({ year: $("#g-year").value, unit: $("#g-unit").value, regulation: $("#g-reg").value }).filter(([, v]) => v));
    location.hash = `#/graph?${p}`;
  });

  // ------------------------------------------------------------ timeline
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text != null) el.textContent = text;
    return el;
  }

  function barChart(years, width) {
    const W = Math.max(320, Math.round(width || 760)), H = 220, left = 44, bottom = 28, top = 20;
    const max = Math.max(...years.map((y) => y.best), 1e-9);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "每年最佳相关度" });
    const plotW = W - left - 10, plotH = H - top - bottom;
    for (const f of [0, 0.5, 1]) {
      const y = top + plotH * (1 - f);
      root.append(svg("line", { x1: left, x2: W - 10, y1: y, y2: y, class: "axis" }), svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, (max * f).toFixed(2)));
    }
    const step = plotW / years.length;
    const bw = Math.min(56, step * 0.6);
    years.forEach((y, i) => {
      const bh = Math.max(1, (y.best / max) * plotH);
      const x = left + step * i + (step - bw) / 2;
      const bar = svg("rect", { x, y: top + plotH - bh, width: bw, height: bh, class: "bar", rx: 3 });
      bar.append(svg("title", null, `${y.year}: ${y.best.toFixed(3)}`));
      bar.addEventListener("click", () => document.getElementById(`tl-${y.year}`)?.scrollIntoView({ behavior: "smooth" }));
      root.append(bar,
        svg("text", { x: x + bw / 2, y: top + plotH - bh - 4, "text-anchor": "middle" }, y.best.toFixed(3)),
        svg("text", { x: x + bw / 2, y: H - 8, "text-anchor": "middle" }, String(y.year)));
    });
    return root;
  }

  async function runTimeline(q, issuer) {
    const status = $("#timeline-status");
    const chart = $("#chart");
    const list = $("#timeline-list");
    chart.textContent = "";
    list.textContent = "";
    setStatus(status, "计算中…");
    try {
      const tl = await api("/timeline", { q, issuer, per_year: 3 });
      if (!tl.years.length) { setStatus(status, "没有含年份的报告段落"); return; }
      setStatus(status, `「${tl.query}」在 ${tl.years.length} 个年份的最佳段落`);
      chart.append(barChart(tl.years, chart.clientWidth - 16));
      for (const y of tl.years) {
        list.append(h("div", { class: "tl-year", id: `tl-${y.year}` }, h("h3", null, `${y.year} 年 · 最佳 ${y.best.toFixed(3)}`),
          h("ol", { class: "hits" }, y.hits.map(renderHit))));
      }
    } catch (e) {
      setStatus(status, e.message, true);
    }
  }

  $("#timeline-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new URLSearchParams(Object.entries({ q: $("#t-q").value.trim(), issuer: $("#t-issuer").value.trim() }).filter(([, v]) => v));
    if (p.get("q")) location.hash = `#/timeline?${p}`;
  });

  // ------------------------------------------------------------ routing
  function route() {
    const hash = location.hash.replace(/^#\/?/, "") || "search";
    const [path, query] = hash.split("?");
    const params = Object.fromEntries(new URLSearchParams(query || ""));
    const [tab, ...rest] = path.split("/");
    const views = window.policykg.views;
    const name = ["search", "regulations", "graph", "timeline", ...Object.keys(views)].includes(tab) ? tab : "search";
    document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${name}`; });
    document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.tab === name));
    if (name === "search" && params.q) {
      $("#q").value = params.q;
      $("#s-year").value = params.year || "";
      $("#s-issuer").value = params.issuer || "";
      $("#s-type").value = params.type || "";
      if (!$("#hits").childElementCount) runSearch(params);
    } else if (name === "regulations") {
      const id = rest.length ? decodeURIComponent(rest.join("/")) : null;
      showRegulationList(id).catch((e) => setStatus($("#reg-detail").firstElementChild || $("#reg-detail"), e.message, true));
      if (id) showRegulation(id);
    } else if (name === "graph") {
      $("#g-year").value = params.year || "";
      $("#g-focus").value = params.focus || "";
      fillGraphFilters().then(() => {
        $("#g-unit").value = params.unit || "";
        $("#g-reg").value = params.regulation || "";
      }).catch(() => {});
      drawGraph(params);
    } else if (views[name]) {
      views[name](params, rest);
    } else if (name === "timeline" && params.q) {
      $("#t-q").value = params.q;
      $("#t-issuer").value = params.issuer || "";
      runTimeline(params.q, params.issuer);
    }
  }

  async function init() {
    window.addEventListener("hashchange", route);
    route();
    try {
      const [health, docs] = await Promise.all([api("/health"), api("/documents")]);
      $("#stats").textContent = `${health.documents} 份文档 · ${health.measures} 项措施 · ${health.regulations} 部法规 · ${health.units} 个单位`;
      const issuers = [...new Set(docs.map((d) => d.issuer).filter(Boolean))];
      issuers.forEach((i) => $("#issuers").append(h("option", { value: i })));
    } catch (e) { /* the header counts are optional */ }
  }

  window.policykg = {
    $, h, api, setStatus, highlight, openDocument, openLink, openSide, renderQuoted, loadRegulations, cache,
    heat, METHOD, STATUS, KIND, TYPE, COLORS, views: {},
  };
  document.addEventListener("DOMContentLoaded", init);
})();
