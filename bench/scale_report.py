"""bench/scale.py's output: the table of the run (embedded against scaled out), the sizing for 10M passages
extrapolated from it, and the notes on what the figures mean."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from scale_bm25 import SHARDS
from scale_sparql import QUERIES_SPARQL
from scale_vectors import K

TARGET = 10_000_000  # passages of the sizing table
NODE_RAM_GIB = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)  # this machine: the "nodes" unit
NODE_CORES = os.cpu_count() or 1
USABLE = 0.75  # share of a node's RAM a service may take


def _fmt_value(x: Any, fmt: str = ".1f") -> str:
    """``x`` formatted, "-" for None and NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def _ratio(a: Any, b: Any) -> str:
    """b / a to 2 decimals ("-" where it cannot be computed)."""
    try:
        return f"{float(b) / float(a):.2f}" if a and b is not None and float(a) > 0 else "-"
    except (TypeError, ValueError):
        return "-"


def _latency(d: dict[str, Any] | None) -> str:
    """"p50 / p99" in ms of a percentiles dict."""
    return f"{d['p50_ms']:.2f} / {d['p99_ms']:.2f}" if d and d.get("n") else "-"


def _recall_cell(res: dict[str, Any], key: str) -> str:
    """A recall and, in brackets, the same counting copies of the same source passage (``src_recall``)."""
    return f"{_fmt_value(res.get(key), '.3f')} ({_fmt_value(res.get(key.replace('recall', 'src_recall')), '.3f')})"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table, columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in [*rows, header]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(row) for row in rows)]


class _Rows(list[tuple[str, str, str, str, str]]):
    """The rows of the run's table: part, measure, embedded, scaled out, ratio."""

    def add(self, part: str, what: str, emb: Any, out: Any, ratio: str = "") -> None:
        self.append((part, what, str(emb), str(out), ratio))


def _ingest_rows(rows: _Rows, ing: dict[str, Any]) -> None:
    """Part 2: the local engine against Ray."""
    part = f"ingest {ing.get('files', '?')} docs"
    if "error" in ing:
        rows.add(part, "error", ing["error"], "", "")
    else:
        loc, ray = ing.get("local", {}), ing.get("ray", {})
        rs = ing.get("ray_startup", {})
        th = ing["threads"]
        rows.add(part, "engine", f"local (torch, {th} threads)", f"ray ({th} CPUs, loopback)", "out/emb")
        rows.add(part, "documents / passages stored", f"{loc.get('documents')} / {loc.get('passages')}",
                 f"{ray.get('documents')} / {ray.get('passages')}" if "error" not in ray else "-")
        if loc.get("failed") or ray.get("failed"):
            rows.add(part, "failed files (first)", "; ".join(loc.get("failed", [])) or "-", "; ".join(ray.get("failed", [])) or "-")
        lw = loc.get("wall_s")
        if "error" in ray:
            rows.add(part, "wall s", _fmt_value(lw), f"ERROR {ray['error']}")
        else:
            rw = ray.get("wall_s")
            rows.add(part, "wall s", _fmt_value(lw), _fmt_value(rw), _ratio(lw, rw))
            lp, rp = loc["passages"] / lw, ray["passages"] / rw
            rows.add(part, "passages/s", _fmt_value(lp), _fmt_value(rp), _ratio(lp, rp))
            rows.add(part, "passages/s per core", _fmt_value(lp / th, ".2f"), _fmt_value(rp / th, ".2f"), _ratio(lp, rp))
            rows.add(part, "Ray overhead: wall ray - local (s)", "", _fmt_value(rw - lw))
        rows.add(part, "local CPU s (process) / model load s", f"{_fmt_value(loc.get('cpu_s'))} / {_fmt_value(ing.get('model_load_s'))}", "")
        if "error" in rs:
            rows.add(part, "Ray startup", "", f"ERROR {rs['error']}")
        else:
            rows.add(part, "Ray startup: import / init / shutdown s", "",
                     f"{_fmt_value(rs.get('import_s'))} / {_fmt_value(rs.get('init_s'))} / {_fmt_value(rs.get('shutdown_s'))}")
            rows.add(part, "Ray idle processes RSS MB", "", _fmt_value(rs.get("rss_ray_mb"), ".0f"))


def _vector_rows(rows: _Rows, part: str, v: dict[str, Any]) -> None:
    """Part 3 at one size: faiss against Milvus Lite."""
    fa, mv = v["faiss"], v["milvus"]
    rows.add(part, "backend", f"faiss {fa['kind']} (in process)", "Milvus Lite (server)", "out/emb")
    if "error" in mv:
        rows.add(part, "Milvus", "", f"ERROR {mv['error']}")
    rows.add(part, "build s / Milvus insert + flush + index", _fmt_value(fa["build_s"]),
             f"{_fmt_value(mv.get('build_s'))} = {_fmt_value(mv.get('insert_s'))} + {_fmt_value(mv.get('flush_s'))} + {_fmt_value(mv.get('index_wait_s'))}",
             _ratio(fa["build_s"], mv.get("build_s")))
    fy = f"year == {v['filter_year']} ({v['filter_share']:.0%})"
    q, fq = mv.get("query"), mv.get("filtered")
    if q:
        label = "MilvusIndex"
        rows.add(part, f"query k={K} p50 / p99 ms [Milvus: {label}]", _latency(fa["query"]), _latency(q), _ratio(fa["query"]["p50_ms"], q["p50_ms"]))
        rows.add(part, f"recall@10 (same source) [Milvus: {label}]", _recall_cell(fa, "recall@10"), _recall_cell(mv, "recall@10"))
        rows.add(part, f"filtered {fy} p50 / p99 ms [{label}]", _latency(fa["filtered"]), _latency(fq),
                 _ratio(fa["filtered"]["p50_ms"], (fq or {}).get("p50_ms")))
        rows.add(part, f"filtered recall@10 (same source) [{label}]", _recall_cell(fa, "filtered_recall@10"), _recall_cell(mv, "filtered_recall@10"))
        rows.add(part, f"filtered: missing of top 10 [{label}]", _fmt_value(fa.get("filtered_short"), ".1f"), _fmt_value(mv.get("filtered_short"), ".1f"))
    rows.add(part, "index MB (faiss serialized) / RSS growth MB", f"{_fmt_value(fa['index_mb'], '.0f')} / {_fmt_value(fa['rss_mb'], '.0f')}", "")
    rows.add(part, "Milvus server RSS MB (empty) / disk MB / segments", "",
             f"{_fmt_value(mv.get('rss_mb'), '.0f')} ({_fmt_value(mv.get('rss_empty_mb'), '.0f')}) / {_fmt_value(mv.get('disk_mb'), '.0f')} / {mv.get('segments', '-')}",
             _ratio(fa["index_mb"], mv.get("rss_mb")))
    rows.add(part, "exact numpy search ms/query (recall reference)", _fmt_value(v["exact_numpy_s_per_query"] * 1000, ".2f"), "")


def _sparql_rows(rows: _Rows, sp: dict[str, Any]) -> None:
    """Part 4: rdflib against Oxigraph at each number of copies."""
    if "error" in sp:
        rows.add("sparql", "error", sp["error"], "")
    for s in sp.get("sizes", []):
        part = f"sparql x{s['copies']}"
        e, o = s.get("rdflib"), s["oxigraph"]
        rows.add(part, "backend / triples", f"rdflib Graph: {e['triples']:,}" if e else "(not run)",
                 f"Oxigraph: {o.get('triples', 0):,}" if "error" not in o else f"ERROR {o['error']}", "out/emb")
        if "error" in o and not e:
            continue
        rows.add(part, "load s (Oxigraph: GSP POST, bulk no_transaction)", _fmt_value(e and e["load_s"]), _fmt_value(o.get("load_s")),
                 _ratio(e and e["load_s"], o.get("load_s")))
        if "load_tx_s" in o or "load_tx_error" in o:
            rows.add(part, "Oxigraph GSP POST, one transaction each: load s / disk MB", "",
                     o.get("load_tx_error") or f"{_fmt_value(o['load_tx_s'])} / {_fmt_value(o['disk_tx_mb'], '.0f')}", _ratio(e and e["load_s"], o.get("load_tx_s")))
        for name in QUERIES_SPARQL:
            rows.add(part, f"{name} p50 / p99 ms (rows)",
                     f"{_latency(e[name])} ({e[f'rows_{name}']})" if e else "-",
                     f"{_latency(o.get(name))} ({o.get(f'rows_{name}', '-')})",
                     _ratio(e and e[name]["p50_ms"], (o.get(name) or {}).get("p50_ms")))
        rows.add(part, "RSS MB (rdflib: growth; Oxigraph: server) / disk MB", _fmt_value(e and e["rss_mb"], ".0f"),
                 f"{_fmt_value(o.get('rss_mb'), '.0f')} / {_fmt_value(o.get('disk_mb'), '.0f')}", _ratio(e and e["rss_mb"], o.get("rss_mb")))
    if sp.get("skipped_100"):
        rows.add("sparql x100", "skipped", "", sp["skipped_100"])


def _bm25_rows(rows: _Rows, part: str, b: dict[str, Any]) -> None:
    """Part 5 at one size: one bm25s index against shards."""
    si, sh = b["single"], b["sharded"]
    rows.add(part, "index", "bm25s, one index", f"bm25s, {b['shards']} shards, merged top-{b['depth']}", "out/emb")
    rows.add(part, "build s", _fmt_value(si["build_s"]), _fmt_value(sh["build_s"]), _ratio(si["build_s"], sh["build_s"]))
    rows.add(part, "RSS growth MB (arrays MB)", f"{_fmt_value(si['rss_mb'], '.0f')} ({_fmt_value(si['arrays_mb'], '.0f')})", _fmt_value(sh["rss_mb"], ".0f"),
             _ratio(si["rss_mb"], sh["rss_mb"]))
    rows.add(part, "query p50 / p99 ms (shards in sequence)", _latency(si["query"]), _latency(sh["query"]),
             _ratio(si["query"]["p50_ms"], sh["query"]["p50_ms"]))
    rows.add(part, "query p50 / p99 ms (slowest shard = parallel)", "", _latency(sh["query_parallel"]),
             _ratio(si["query"]["p50_ms"], sh["query_parallel"]["p50_ms"]))
    rows.add(part, "top-10 overlap with one index", "1", _fmt_value(sh["overlap@10"], ".3f"))
    rows.add(part, "vocabulary / terms per passage", f"{si['vocab']:,} / {b['terms_per_passage']:.0f}", "")
    rows.add(part, "token lists (input) RSS MB / synth s", f"{_fmt_value(b['rss_token_lists_mb'], '.0f')} / {_fmt_value(b['synth_s'])}", "")



def _sized_rows(
    rows: _Rows, kind: str, results: list[dict[str, Any]], rows_of: Callable[[_Rows, str, dict[str, Any]], None]
) -> None:
    """The rows of a part run at several sizes (vectors, bm25): its error, or ``rows_of`` its figures."""
    for res in results:
        part = f"{kind} {res.get('n', 0):,}"
        if "error" in res:
            rows.add(part, "error", res["error"], "")
        else:
            rows_of(rows, part, res)


def report(r: dict[str, Any]) -> str:
    """The run as a table: each part's figures, embedded against scaled out, then the sizing and the notes."""
    rows = _Rows()
    if r.get("ingest"):
        _ingest_rows(rows, r["ingest"])
    _sized_rows(rows, "vectors", r.get("vectors", []), _vector_rows)
    if r.get("sparql"):
        _sparql_rows(rows, r["sparql"])
    _sized_rows(rows, "bm25", r.get("bm25", []), _bm25_rows)
    out = [r.get("title", ""), "", *_table(("part", "measure", "embedded", "scaled out", "ratio"), rows)]
    out += ["", *sizing(r), "", *r.get("notes", [])]
    return "\n".join(out)


def _largest(items: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    ok = [x for x in items if "error" not in x and key in x and "error" not in x[key]]
    return max(ok, key=lambda x: x["n"]) if ok else None


def sizing(r: dict[str, Any]) -> list[str]:
    """10M passages extrapolated linearly from this run's per-passage figures."""
    n = TARGET
    st = r.get("store", {})
    gib = 2**30
    node_mem = NODE_RAM_GIB * USABLE
    rows: list[tuple[str, str, str, str, str]] = []

    def add(what: str, mem: float | None, disk: float | None, basis: str) -> None:
        nodes = str(max(1, math.ceil(mem / node_mem))) if mem is not None and not math.isnan(mem) else "-"
        rows.append((what, _fmt_value(mem), _fmt_value(disk), nodes, basis))

    raw = n * 384 * 4 / gib
    add("vectors, raw float32 (10M x 384 x 4 B)", raw, raw, "arithmetic")
    v = _largest(r.get("vectors", []), "faiss")
    if v:
        per = v["faiss"]["index_mb"] * 2**20 / v["n"]
        add(f"faiss {v['faiss']['kind']}, in every API process", per * n / gib, per * n / gib,
            f"{per:.0f} B/passage (serialized index at {v['n']:,})")
    vm = _largest(r.get("vectors", []), "milvus")
    if vm and vm["milvus"].get("rss_mb"):
        mv = vm["milvus"]
        per = (mv["rss_mb"] - mv.get("rss_empty_mb", 0)) * 2**20 / vm["n"]
        per_disk = mv.get("disk_mb", 0) * 2**20 / vm["n"]
        add("Milvus (Lite figures; replicas multiply)", per * n / gib, per_disk * n / gib,
            f"{per:.0f} B/passage RSS, {per_disk:.0f} B/passage disk (at {vm['n']:,})")
    if st.get("passages"):
        per = st["sqlite_bytes"] / st["passages"]
        add("SQLite store (texts, tokens, vectors, graph)", None, per * n / gib, f"{per:.0f} B/passage (copied store)")
    b = _largest(r.get("bm25", []), "single")
    if b:
        per = b["single"]["rss_mb"] * 2**20 / b["n"]
        saved = st["bm25_bytes"] / st["passages"] if st.get("bm25_bytes") else float("nan")
        add("bm25s, one index in every API process", per * n / gib, saved * n / gib,
            f"{per:.0f} B/passage RSS (at {b['n']:,}); disk: saved index of the store, {saved:.0f} B/passage")
        per_s = b["sharded"]["rss_mb"] * 2**20 / b["n"]
        add(f"bm25s, {SHARDS} shards (each; the alternative to Milvus's BM25)", per_s * n / gib / SHARDS, None,
            f"{per_s:.0f} B/passage over all shards")
        text = st["text_bytes"] / st["passages"] if st.get("text_bytes") else 0.0
        # the vectors part inserts no text; Milvus's sparse BM25 index is an inverted index over jieba
        # words like bm25s's, so its size is taken from bm25s's, plus the raw text Milvus keeps
        add("keywords in Milvus (BM25 sparse index + text; estimate)", (per + text) * n / gib, (per + text) * n / gib,
            f"bm25s's {per:.0f} B/passage + {text:.0f} B/passage of text (not measured in Milvus)")
    sp = r.get("sparql", {})
    if sp.get("base_triples"):
        tpp = sp["base_triples"] / sp["passages"]
        triples = tpp * n
        big = max((s for s in sp.get("sizes", []) if "error" not in s["oxigraph"]), key=lambda s: s["copies"], default=None)
        emb = max((s for s in sp.get("sizes", []) if s.get("rdflib")), key=lambda s: s["copies"], default=None)
        if emb:
            per = emb["rdflib"]["rss_mb"] * 2**20 / emb["rdflib"]["triples"]
            add(f"graph, rdflib in memory ({triples / 1e6:.0f}M triples)", per * triples / gib, None,
                f"{tpp:.1f} triples/passage; {per:.0f} B/triple (x{emb['copies']})")
        if big:
            o = big["oxigraph"]
            per = (o["rss_mb"] - o.get("rss_empty_mb", 0)) * 2**20 / o["triples"]
            per_disk = o["disk_mb"] * 2**20 / o["triples"]
            load = o["load_s"] / o["triples"] * triples / 3600
            # RocksDB works from disk: its RSS stays small; the latencies above had the files in the page cache
            add(f"graph, Oxigraph ({triples / 1e6:.0f}M triples)", per_disk * triples / gib, per_disk * triples / gib,
                f"{per_disk:.0f} B/triple disk (bulk load; memory = page cache to keep it hot, RSS only {per:.0f} B/triple); "
                f"bulk load ~{load:.1f} h (x{big['copies']})")
    ing = r.get("ingest", {})
    extra: list[str] = []
    loc = ing.get("local") or {}
    if loc.get("wall_s"):
        ppc = loc["passages"] / loc["wall_s"] / ing["threads"]
        ch = n / ppc / 3600
        extra.append(f"- ingest (read, extract, embed, link, index), local engine: {ppc:.2f} passages/s per core → {ch:,.0f} "
                     f"core-hours for 10M passages = {ch / NODE_CORES / 24:,.1f} days on one {NODE_CORES}-core node, "
                     f"{math.ceil(ch / NODE_CORES / 24):,} such nodes to finish in a day")
        ray = ing.get("ray") or {}
        if ray.get("wall_s"):
            ppc_r = ray["passages"] / ray["wall_s"] / ing["threads"]
            extra.append(f"- the Ray engine as measured here (startup included): {ppc_r:.2f} passages/s per core → "
                         f"{n / ppc_r / 3600:,.0f} core-hours")
    mem = {row[0]: float(row[1]) for row in rows if row[1] != "-"}
    emb_keys = [k for k in mem if k.startswith(("faiss", "bm25s, one", "graph, rdflib"))]
    out_keys = [k for k in mem if k.startswith(("Milvus", "keywords in Milvus", "graph, Oxigraph"))]
    if emb_keys:
        add("= embedded: each API process (faiss + bm25s + rdflib)", sum(mem[k] for k in emb_keys), None, "sum of its rows above")
    if out_keys:
        total = sum(mem[k] for k in out_keys)
        add("= scaled out: servers (Milvus with vectors and keywords + Oxigraph)", total, None,
            "sum of its rows above; API replicas hold only the model")
    hdr = ("item at 10M passages", "memory GiB", "disk GiB", f"nodes ({NODE_RAM_GIB:.0f} GiB x {USABLE:.0%})", "basis")
    out = ["Sizing for 10M passages (linear extrapolation of this run's per-passage figures):", "", *_table(hdr, rows)]
    return [*out, "", *extra]


def notes(r: dict[str, Any]) -> list[str]:
    """What the figures mean, and the extrapolations that are not in the sizing table."""
    out = ["Notes:"]
    st = r.get("store", {})
    if st:
        out.append(f"- copied store: {st['documents']} documents, {st['passages']:,} passages, SQLite {st['sqlite_bytes'] / 2**20:.0f} MB "
                   f"({st['sqlite_bytes'] / st['passages']:.0f} B/passage); saved faiss {st['faiss_bytes'] / st['passages']:.0f} "
                   f"B/passage, saved bm25s {st['bm25_bytes'] / st['passages']:.0f} B/passage")
    c = r.get("corpus")
    if c:
        out.append(f"- synthetic corpus: {c['documents']} documents, {c['bytes'] / 2**20:.1f} MB, written in {c['seconds']:.1f} s "
                   f"(ingest used a sample of {r['args']['ingest_docs']} under 100 KB)")
    for b in r.get("bm25", []):
        if "error" in b:
            continue
        si = b["single"]
        per = si["rss_mb"] * 2**20 / b["n"]
        out.append(f"- BM25 at 10^7 passages: one bm25s index ~{per * 1e7 / 2**30:.1f} GiB RSS ({per:.0f} B/passage at {b['n']:,}; "
                   f"score arrays {si['arrays_mb'] * 2**20 / b['n']:.0f} B/passage) in every API process; query p50 grows ~linearly "
                   f"with postings (x{1e7 / b['n']:.0f} → ~{si['query']['p50_ms'] * 1e7 / b['n']:.0f} ms); "
                   f"the token lists of a rebuild add {b['rss_token_lists_mb'] * 2**20 / b['n']:.0f} B/passage while it runs")
    out.append("- vectors: synthetic passage i = real passage i mod N + noise, so ~n/N near-copies of each real passage whose "
               "order is noise only: recall@10 of an approximate index looks worse than on real data; (same source) counts "
               "a copy of the same real passage as a hit. Filtered = the product's paths: faiss with an IDSelectorBatch of the "
               "allowed ids, Milvus with a year expression")
    out.append("- Milvus Lite (milvus-lite 3.x) is a pure-Python server: segments of <= 100k rows, each with its own faiss "
               "HNSW (AUTOINDEX: M 16, efConstruction 200, ef 64 unless the search passes one), built in the background after "
               "a flush (the index column above waits for it); its latencies say nothing about a Milvus cluster, its "
               "recall does say what MilvusIndex gets from Lite")
    out.append("- Oxigraph bulk = POST /store?graph=…&no_transaction (its bulk loader); one transaction per POST is slower and "
               "grows superlinearly; graph copies are disjoint (every https://policykg.org/id/ URI suffixed per copy)")
    out.append("- ratio = scaled out / embedded (time, memory: > 1 means the scaled-out side costs more on this one machine)")
    out.append(f"- total wall {r['wall_s'] / 60:.1f} min; load avg at the end {r.get('loadavg_end', '?')}")
    return out
