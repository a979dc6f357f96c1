"""Read views over a :class:`~api.kb.KnowledgeBase` that the HTTP API and ``policykg viz`` share.

Plain functions (no web framework here): the graph as nodes/edges JSON for drawing, and the
self-contained offline HTML page of that graph.
"""

from __future__ import annotations

import html
import json
from collections import deque
from pathlib import Path
from typing import Any

import networkx as nx

from policykg.api.errors import NotFound
from policykg.api.kb import KnowledgeBase
from policykg.graph.networkx_view import responsibility_graph

STATIC_DIR = Path(__file__).resolve().parent / "static"
CYTOSCAPE_JS = STATIC_DIR / "vendor" / "cytoscape.min.js"
DRAWN_TYPES = ("unit", "measure", "regulation")
# The order nodes are kept in when the graph is capped: the few hubs first, then measures.
_TYPE_RANK = {"regulation": 0, "unit": 1, "measure": 2}
_NODE_FIELDS = ("year", "status", "kind", "section", "doc_id", "start", "end", "doc_type", "issuer", "chapter")
_EDGE_FIELDS = ("method", "quote", "start", "end", "score", "article")


def resolve_node(kb: KnowledgeBase, g: nx.MultiDiGraph, ref: str) -> str:
    """A node id from an id, a regulation name/alias or a unit name/alias; :class:`NotFound` otherwise."""
    if ref in g:
        return ref
    for find in (kb.find_regulation, kb.find_unit):
        try:
            node = find(ref).id
        except NotFound:
            continue
        if node in g:
            return node
    matches = [n for n in g if str(n).split(":", 1)[-1].startswith(ref)] if len(ref) >= 6 else []
    if len(matches) == 1:
        return str(matches[0])
    raise NotFound(f"no node {ref!r} in the graph (give an id, a regulation name or a unit name)")


def _undirected_ball(g: nx.MultiDiGraph, center: str, depth: int, max_nodes: int | None = None) -> list[str]:
    """Nodes within ``depth`` hops of ``center`` (edges in either direction), nearest first.

    When ``max_nodes`` would cut the ball, the first hop's nodes that lead further come first, each
    followed by the nodes it leads to, so a cut neighbourhood still shows whole paths (unit → measure →
    regulation), not only the first ring.
    """
    seen = {center: 0}
    queue = deque([center])
    while queue:
        n = queue.popleft()
        if seen[n] >= depth:
            continue
        for m in (*g.successors(n), *g.predecessors(n)):
            if m not in seen:
                seen[m] = seen[n] + 1
                queue.append(m)
    order = sorted(seen, key=lambda n: (seen[n], _TYPE_RANK.get(g.nodes[n].get("type", ""), 3), str(n)))
    if max_nodes is None or len(order) <= max_nodes or depth < 2:
        return order

    rank = {n: i for i, n in enumerate(order)}

    def onward(n: str) -> list[str]:
        return sorted({m for m in (*g.successors(n), *g.predecessors(n)) if seen.get(m) == 2}, key=rank.__getitem__)

    first = sorted((n for n in order if seen[n] == 1), key=lambda n: (-len(onward(n)), rank[n]))
    kept: dict[str, None] = {center: None}
    for n in first:
        new = [x for x in (n, *onward(n)) if x not in kept]
        if len(kept) + len(new) <= max_nodes:
            kept.update(dict.fromkeys(new))
    return [*kept, *(n for n in order if n not in kept)]


def _filtered(kb: KnowledgeBase, g: nx.MultiDiGraph, unit: str | None, regulation: str | None) -> nx.MultiDiGraph:
    """Keep the measures of ``unit`` (and its sub-units) and/or those implementing ``regulation``."""
    measures = {n for n, d in g.nodes(data=True) if d.get("type") == "measure"}
    if unit:
        u = kb.find_unit(unit)
        units = {u.id} | {x.id for x in kb.store.units() if x.parent_id == u.id}
        measures &= {m for x in units if x in g for m in g.successors(x) if m in measures}
    reg_id = None
    if regulation:
        reg_id = kb.find_regulation(regulation).id
        measures &= {m for m in g.predecessors(reg_id) if m in measures} if reg_id in g else set()
    keep = set(measures)
    for m in measures:
        for n in (*g.predecessors(m), *g.successors(m)):
            kind = g.nodes[n].get("type")
            if kind == "unit" or (kind == "regulation" and reg_id in (None, n)):
                keep.add(n)
    if reg_id is not None and reg_id in g:  # the chosen regulation only, even without measures
        keep.add(reg_id)
    return g.subgraph(keep).copy()


def _whole_graph_order(g: nx.MultiDiGraph, max_nodes: int) -> list[str]:
    """Best-connected measures first, each with its units and regulations, while they fit in ``max_nodes``."""
    measures = sorted((n for n, d in g.nodes(data=True) if d.get("type") == "measure"), key=lambda n: (-g.degree(n), str(n)))
    keep: dict[str, None] = {}
    for m in measures:
        new = [x for x in (m, *g.predecessors(m), *g.successors(m)) if x not in keep]
        if len(keep) + len(new) <= max_nodes:
            keep.update(dict.fromkeys(new))
    rest = sorted((n for n in g if n not in keep), key=lambda n: (_TYPE_RANK.get(g.nodes[n].get("type", ""), 3), -g.degree(n), str(n)))
    return [*keep, *rest]


def graph_view(
    kb: KnowledgeBase,
    *,
    center: str | None = None,
    depth: int = 1,
    year: int | None = None,
    unit: str | None = None,
    regulation: str | None = None,
    max_nodes: int = 500,
) -> dict[str, Any]:
    """Nodes and edges of the responsibility graph (units ↔ measures ↔ regulations) for drawing.

    ``center`` (an id, a regulation or unit name) gives its neighbourhood of ``depth`` hops;
    ``unit``/``regulation``/``year`` narrow the measures. At most ``max_nodes`` nodes are returned
    (the best-connected measures with their units and regulations); ``truncated`` says when some were left out.
    """
    full = kb.graph(year=year)
    g = responsibility_graph(full)
    if unit or regulation or year is not None:  # only the chosen measures and their units and regulations
        g = _filtered(kb, g, unit, regulation)
    if center:
        node = resolve_node(kb, g if center in g else full, center)
        if node not in g:  # e.g. a document or an article: draw it with its neighbours
            ball = [n for n in _undirected_ball(full, node, depth) if full.nodes[n].get("type") != "article" or n == node]
            g = full.subgraph(ball).copy()
        else:
            ball = _undirected_ball(g, node, depth, max_nodes)
        order = ball
    else:
        node = None
        order = _whole_graph_order(g, max_nodes)
    total = len(order)
    kept = order[:max_nodes]
    sub = g.subgraph(kept)
    if node is None:  # drop nodes the cap left without any edge
        kept = [n for n in kept if sub.degree(n) > 0]
        sub = g.subgraph(kept)
    nodes = []
    for n in kept:
        d = g.nodes[n]
        item: dict[str, Any] = {"id": str(n), "type": d.get("type", ""), "label": d.get("label", str(n)), "degree": int(sub.degree(n))}
        item.update({k: d[k] for k in _NODE_FIELDS if d.get(k) not in (None, "")})
        nodes.append(item)
    edges = []
    for i, (a, b, d) in enumerate(sub.edges(data=True)):
        e: dict[str, Any] = {"id": f"e{i}", "source": str(a), "target": str(b), "relation": d.get("relation", "")}
        e.update({k: d[k] for k in _EDGE_FIELDS if d.get(k) not in (None, "")})
        edges.append(e)
    return {
        "center": node, "nodes": nodes, "edges": edges, "truncated": total > max_nodes,
        "total_nodes": total, "filters": {"year": year, "unit": unit, "regulation": regulation, "depth": depth if center else None},
    }


def _script_safe(code: str) -> str:
    """JavaScript that can sit inside an inline <script> without ending it early."""
    return code.replace("</", "<\\/").replace("<!--", "<\\!--")


def _json_script(value: Any) -> str:
    """JSON for a <script type="application/json"> element: every ``<`` escaped, so no tag can close it."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def viz_html(view: dict[str, Any], *, title: str = "policykg 责任图谱") -> str:
    """One self-contained HTML page (cytoscape.js and the data inline) that draws ``view`` offline."""
    cytoscape = CYTOSCAPE_JS.read_text(encoding="utf-8")
    return _VIZ_TEMPLATE.format(
        title=html.escape(title),
        cytoscape=_script_safe(cytoscape),
        data=_json_script(view),
        summary=html.escape(
            f"{sum(n['type'] == 'unit' for n in view['nodes'])} 单位 · {sum(n['type'] == 'measure' for n in view['nodes'])} 措施 · "
            f"{sum(n['type'] == 'regulation' for n in view['nodes'])} 法规" + (" · 已截断" if view.get("truncated") else "")
        ),
    )


_VIZ_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  html, body {{ margin: 0; height: 100%; font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; color: #1f2933; }}
  body {{ display: flex; flex-direction: column; }}
  header {{ padding: 8px 14px; background: #1d3557; color: #fff; display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }}
  header h1 {{ font-size: 17px; margin: 0; }}
  .legend span {{ display: inline-block; margin-right: 12px; font-size: 13px; }}
  .legend i {{ display: inline-block; width: 11px; height: 11px; border-radius: 50%; margin-right: 4px; vertical-align: -1px; }}
  main {{ flex: 1; display: flex; min-height: 0; }}
  #cy {{ flex: 1; min-width: 0; }}
  aside {{ width: 340px; overflow: auto; border-left: 1px solid #d9e2ec; padding: 12px; font-size: 14px; line-height: 1.6; }}
  aside h2 {{ font-size: 16px; margin: 0 0 6px; }}
  .q {{ background: #fff8e1; border-left: 3px solid #f4a261; padding: 4px 8px; margin: 6px 0; }}
  .muted {{ color: #627d98; font-size: 12px; }}
  @media (max-width: 700px) {{ main {{ flex-direction: column; }} aside {{ width: auto; height: 38%; border-left: 0; border-top: 1px solid #d9e2ec; }} }}
</style>
</head>
<body>
<header><h1>{title}</h1><span>{summary}</span>
<span class="legend"><span><i style="background:#2a9d8f"></i>单位</span><span><i style="background:#457b9d"></i>措施</span><span><i style="background:#e76f51"></i>法规</span></span></header>
<main><div id="cy"></div><aside id="info"><p class="muted">点击节点查看详情与证据。</p></aside></main>
<script>{cytoscape}</script>
<script id="graph-data" type="application/json">{data}</script>
<script>
(function () {{
  var view = JSON.parse(document.getElementById("graph-data").textContent);
  var byId = {{}};
  view.nodes.forEach(function (n) {{ byId[n.id] = n; }});
  var els = view.nodes.map(function (n) {{ return {{ data: Object.assign({{}}, n, {{ short: n.label.length > 14 ? n.label.slice(0, 14) + "…" : n.label }}) }}; }})
    .concat(view.edges.map(function (e) {{ return {{ data: e }}; }}));
  var cy = window.cy = cytoscape({{
    container: document.getElementById("cy"), elements: els,
    style: [
      {{ selector: "node", style: {{ "label": "data(short)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 3,
        "font-family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif", "width": 16, "height": 16, "color": "#243b53" }} }},
      {{ selector: "node[type = 'unit']", style: {{ "background-color": "#2a9d8f", "shape": "round-rectangle", "width": 22, "height": 22 }} }},
      {{ selector: "node[type = 'measure']", style: {{ "background-color": "#457b9d" }} }},
      {{ selector: "node[type = 'regulation']", style: {{ "background-color": "#e76f51", "shape": "diamond", "width": 28, "height": 28, "font-weight": "bold" }} }},
      {{ selector: "edge", style: {{ "width": 1.2, "line-color": "#bcccdc", "curve-style": "bezier", "target-arrow-shape": "triangle", "target-arrow-color": "#bcccdc", "arrow-scale": 0.7 }} }},
      {{ selector: "edge[relation = 'implements']", style: {{ "line-color": "#f4a261", "target-arrow-color": "#f4a261" }} }},
      {{ selector: ":selected", style: {{ "border-width": 3, "border-color": "#e63946" }} }}
    ],
    layout: {{ name: "cose", animate: false, randomize: true, nodeRepulsion: 40000, idealEdgeLength: 90, nodeOverlap: 40, componentSpacing: 80, padding: 24 }}
  }});
  var info = document.getElementById("info");
  function add(parent, tag, text, cls) {{ var el = document.createElement(tag); el.textContent = text; if (cls) el.className = cls; parent.appendChild(el); return el; }}
  var names = {{ unit: "单位", measure: "措施", regulation: "法规" }};
  var statuses = {{ done: "已完成", planned: "计划" }};
  cy.on("tap", "node", function (evt) {{
    var n = evt.target.data();
    info.textContent = "";
    add(info, "h2", n.label);
    add(info, "div", (names[n.type] || n.type) + (n.year ? " · " + n.year : "") + (n.status ? " · " + (statuses[n.status] || n.status) : "") + (n.kind ? " · " + n.kind : ""), "muted");
    if (n.section) add(info, "div", n.section, "muted");
    evt.target.connectedEdges().forEach(function (e) {{
      var d = e.data();
      var other = byId[d.source === n.id ? d.target : d.source];
      var p = add(info, "div", "");
      add(p, "strong", ({{implements: "落实 ", drafts: "起草 ", revises: "修订 ", studies: "学习宣传 ", responsible_for: "负责 "}}[d.relation] || d.relation + " ") + (other ? other.label : ""));
      if (d.method) add(p, "span", " [" + d.method + (d.article ? " " + d.article : "") + (d.score != null ? " " + Number(d.score).toFixed(2) : "") + "]", "muted");
      if (d.quote) add(p, "div", d.quote, "q");
    }});
  }});
}})();
</script>
</body>
</html>
"""
