"""The ``policykg`` command: thin calls into :class:`api.kb.KnowledgeBase`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    name="policykg",
    help="Knowledge graph and semantic search over Chinese government reports and regulations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Data directory (default: $POLICYKG_DATA or ./policykg-data).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _kb(data: Path | None, *, must_exist: bool = True) -> Any:
    from policykg.api.kb import KnowledgeBase, KnowledgeBaseError

    directory = data or Path(os.environ.get("POLICYKG_DATA", "policykg-data"))
    if must_exist and not (directory / "policykg.sqlite").exists():
        _fail(f"{directory}: no policykg data here (run `policykg ingest` first)")
    try:
        return KnowledgeBase(directory)
    except KnowledgeBaseError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call into the knowledge base; user errors become one line and exit code 1."""
    from policykg.api.kb import KnowledgeBaseError

    try:
        return fn(*args, **kwargs)
    except KnowledgeBaseError as exc:
        _fail(str(exc))


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories (walked recursively).", show_default=False)] = None,
    manifest: Annotated[Path | None, typer.Option(help="CSV with path, doc_type, title, issuer, year, published.")] = None,
    year: Annotated[int | None, typer.Option(help="The year a report reviews.")] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuing body, e.g. 天津市科学技术局.")] = None,
    doc_type: Annotated[str | None, typer.Option("--type", help="report or regulation.")] = None,
    title: Annotated[str | None, typer.Option(help="Document title.")] = None,
    engine: Annotated[str, typer.Option(help="local, or ray: read, extract and embed on a Ray cluster (pip install 'policykg[ray]').")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address for --engine ray (default: a local Ray on 127.0.0.1).")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest reports and regulations (txt in UTF-8/GB18030, md, docx, pdf, html)."""
    from policykg.ingest.pipeline import Metadata

    if not paths and manifest is None:
        _fail("give files or directories to ingest, or --manifest CSV")
    if doc_type not in (None, "report", "regulation"):
        _fail(f"--type must be report or regulation, not {doc_type!r}")
    if engine not in ("local", "ray"):
        _fail(f"--engine must be local or ray, not {engine!r}")
    kb = _kb(data, must_exist=False)
    meta = Metadata(doc_type, title, issuer, year, None)  # type: ignore[arg-type]
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("ingest", total=None)

        def progress(name: str, i: int, total: int) -> None:
            bar.update(task, total=total, completed=i, description=name[:40])

        report = _guard(
            kb.ingest, list(paths or []), manifest=manifest, metadata=meta, progress=progress, engine=engine, address=address,
        )
    stats = kb.stats()
    if as_json:
        _print_json({**report.__dict__, "store": stats})
    else:
        for line in report.failed:
            err.print(f"[red]failed:[/red] {line}", highlight=False)
        links = ", ".join(f"{k} {v}" for k, v in sorted(stats["links"].items())) or "none"
        out.print(
            f"ingested {len(report.added)} new, {len(report.replaced)} replaced, {len(report.unchanged)} unchanged, "
            f"{len(report.failed)} failed in {report.seconds:.1f} s\n"
            f"store: {stats['documents']} documents, {stats['measures']} measures, {stats['regulations']} regulations "
            f"({stats['articles']} articles), {stats['units']} units, {stats['indicators']} indicators, "
            f"{stats['passages']} passages; links: {links}",
            highlight=False,
        )
    if report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for, in Chinese.", show_default=False)] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=200, help="Number of hits.")] = 10,
    year: Annotated[int | None, typer.Option(help="Only reports reviewing this year.")] = None,
    year_from: Annotated[int | None, typer.Option("--from", help="First year.")] = None,
    year_to: Annotated[int | None, typer.Option("--to", help="Last year.")] = None,
    doc_type: Annotated[str | None, typer.Option("--type", help="report or regulation.")] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuer (substring).")] = None,
    regulation: Annotated[str | None, typer.Option(help="Only a regulation's articles and the measures linked to it.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
    group: Annotated[bool, typer.Option("--group", help="One hit per document.")] = False,
    batch: Annotated[Path | None, typer.Option(help="JSONL file of {\"q\", \"k\", \"type\", \"year\"}; '-' for stdin.")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hybrid semantic search over report passages and regulation articles."""
    if mode not in ("hybrid", "dense", "bm25"):
        _fail(f"--mode must be hybrid, dense or bm25, not {mode!r}")
    if doc_type not in (None, "report", "regulation"):
        _fail(f"--type must be report or regulation, not {doc_type!r}")
    if year is not None and (year_from is not None or year_to is not None):
        _fail("give --year or --from/--to, not both")
    kb = _kb(data)
    if batch is not None:
        fh = sys.stdin if str(batch) == "-" else None
        try:
            lines = (fh or batch.open(encoding="utf-8")).read().splitlines()
        except OSError as exc:
            _fail(f"{batch}: {exc.strerror or exc}")
        requests = []
        for n, line in enumerate(lines, 1):
            if line.strip():
                try:
                    req = json.loads(line)
                except json.JSONDecodeError as exc:
                    _fail(f"{batch}:{n}: not JSON ({exc.msg})")
                if not isinstance(req, dict):
                    _fail(f"{batch}:{n}: each line must be a JSON object")
                requests.append(req)
        results = _guard(kb.search_batch, requests, mode=mode)
        for hits in results:
            sys.stdout.write(json.dumps([h.to_dict() for h in hits], ensure_ascii=False) + "\n")
        return
    if not query:
        _fail("give a QUERY or --batch FILE")
    hits = _guard(
        kb.search, query, k=k, year=year, year_from=year_from, year_to=year_to, doc_type=doc_type,
        issuer=issuer, regulation=regulation, mode=mode, group_by_doc=group,
    )
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    if not hits:
        out.print("no hits")
    for i, h in enumerate(hits, 1):
        where = h.article or h.section.split(" > ")[-1]
        out.print(f"[bold]{i}. {h.title}[/bold] {h.year or ''} · {where} · [{h.start}, {h.end}) · {h.score:.4f}", highlight=False)
        text = h.text if len(h.text) <= 220 else h.text[:220] + "…"
        for t in sorted(h.terms, key=len, reverse=True):
            text = text.replace(t, f"[yellow]{t}[/yellow]")
        out.print(f"   {text}", highlight=False)


@app.command()
def timeline(
    query: Annotated[str, typer.Argument(help="A topic: 科技成果转化, 营商环境 …")],
    per_year: Annotated[int, typer.Option("--per-year", min=1, max=20)] = 3,
    issuer: Annotated[str | None, typer.Option(help="Issuer (substring).")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """For each year in the store, the best report passages on a topic."""
    kb = _kb(data)
    years = _guard(kb.timeline, query, per_year=per_year, issuer=issuer)
    if as_json:
        _print_json({str(y): [h.to_dict() for h in hits] for y, hits in years.items()})
        return
    for y, hits in years.items():
        out.print(f"[bold]{y}[/bold]")
        for h in hits:
            out.print(f"  {h.score:.4f} {h.issuer or ''} · {h.text[:120]}", highlight=False)


@app.command()
def measures(
    regulation: Annotated[str, typer.Option(help="Canonical name or any alias: 实验动物管理条例, 《条例》's full name …")],
    year: Annotated[int | None, typer.Option(help="Only measures of this year.")] = None,
    method: Annotated[list[str] | None, typer.Option(help="citation, alias, topic, semantic (repeatable).")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which measures implement a regulation, with their evidence."""
    kb = _kb(data)
    result = _guard(kb.measures_for, regulation, year=year, methods=method)
    if as_json:
        _print_json(result)
        return
    reg = result["regulation"]
    out.print(f"[bold]{reg['name']}[/bold] ({reg['kind']}) aliases: {', '.join(reg['aliases']) or '-'}", highlight=False)
    if not result["measures"]:
        out.print("no measures linked")
    for m in result["measures"]:
        units = "、".join(u["name"] for u in m["units"])
        out.print(f"\n[bold]{m['title']}[/bold] · {m['year']} {m['status']} · {m['document']['title']} · {units}", highlight=False)
        for e in m["evidence"]:
            art = f" {e['article']}" if e["article"] else ""
            out.print(f"  [{e['method']}{art} {e['score']:.2f}] [{e['start']}, {e['end']}) {e['quote']}", highlight=False)


@app.command()
def regulations(data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Regulations in the store: ingested in full or cited by reports."""
    kb = _kb(data)
    regs = kb.regulations()
    if as_json:
        _print_json(regs)
        return
    table = Table("name", "kind", "aliases", "articles", "measures")
    for r in regs:
        table.add_row(r["name"], r["kind"], "、".join(r["aliases"][:4]), str(r["articles"]), str(r["measures"]))
    out.print(table)


@app.command()
def units(data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Units (organisations and roles) and how many measures each is responsible for."""
    kb = _kb(data)
    items = kb.units()
    if as_json:
        _print_json(items)
        return
    names = {u["id"]: u["name"] for u in items}
    table = Table("name", "kind", "part of", "measures")
    for u in items:
        table.add_row(u["name"], u["kind"], names.get(u["parent_id"], ""), str(u["measures"]))
    out.print(table)


@app.command()
def unit(name: Annotated[str, typer.Argument(help="Unit name or alias: 局党委, 市科技局 …")], data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """A unit, its parent and sub-units, and the measures it is responsible for."""
    kb = _kb(data)
    u = _guard(kb.unit, name)
    if as_json:
        _print_json(u)
        return
    out.print(f"[bold]{u['name']}[/bold] ({u['kind']})" + (f" · part of {u['parent']['name']}" if u["parent"] else ""), highlight=False)
    if u["children"]:
        out.print("sub-units: " + "、".join(c["name"] for c in u["children"]), highlight=False)
    for m in u["measures"]:
        out.print(f"  {m['year']} {m['status']} · {m['title']} · {m['document']['title']}", highlight=False)


@app.command()
def documents(data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Documents in the store."""
    kb = _kb(data)
    docs = kb.documents()
    if as_json:
        _print_json(docs)
        return
    table = Table("id", "type", "title", "issuer", "year", "measures")
    for d in docs:
        table.add_row(d["id"], d["doc_type"], d["title"], d["issuer"] or "", str(d["year"] or ""), str(d["measures"]))
    out.print(table)


@app.command()
def show(
    doc_id: Annotated[str, typer.Argument(help="Document id (or its unique prefix).")],
    text: Annotated[bool, typer.Option("--text", help="Print the stored text.")] = False,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A document's metadata (and its stored text, which every offset indexes)."""
    kb = _kb(data)
    doc = _guard(kb.document, doc_id)
    meta = doc.meta()
    if as_json:
        _print_json({**meta, **({"text": doc.text} if text else {})})
        return
    for key, value in meta.items():
        out.print(f"{key}: {value}", highlight=False)
    if text:
        sys.stdout.write("\n" + doc.text)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="turtle, jsonld, nt or graphml.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    data: DataOpt = None,
) -> None:
    """Export the graph as RDF (Turtle, JSON-LD, N-Triples) or GraphML."""
    kb = _kb(data)
    n = _guard(kb.export, fmt, output)
    out.print(f"wrote {output} ({n} {'edges' if fmt == 'graphml' else 'triples'})", highlight=False)


@app.command()
def sparql(
    query: Annotated[str, typer.Argument(help="A SELECT/ASK/CONSTRUCT query; '@FILE' reads it from a file.")],
    limit: Annotated[int, typer.Option(help="Row limit.")] = 10_000,
    timeout: Annotated[float, typer.Option(help="Seconds before the query is stopped.")] = 30.0,
    data: DataOpt = None,
) -> None:
    """Read-only SPARQL over the graph (prefixes pkg eli org oa dct prov skos are predefined)."""
    if query.startswith("@"):
        try:
            query = Path(query[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"{query[1:]}: {exc.strerror or exc}")
    kb = _kb(data)
    _print_json(_guard(kb.sparql, query, limit=limit, timeout=timeout))


@app.command()
def stats(data: DataOpt = None) -> None:
    """Counts of what the store holds."""
    _print_json(_kb(data).stats())


@app.command()
def sync(data: DataOpt = None) -> None:
    """Push the store's graph and vectors to the servers of policykg.toml / POLICYKG_*_URL (only what changed)."""
    kb = _kb(data)
    if not kb.config.servers:
        _fail("no servers configured: set POLICYKG_GRAPH_URL / POLICYKG_VECTORS_URL or write policykg.toml in the data directory")
    _print_json(_guard(kb.sync))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the upload API key (unset: uploads off).")] = "POLICYKG_API_KEY",
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", min=1, max=1024, help="Upload size limit in MB.")] = 50,
    cors_origin: Annotated[list[str] | None, typer.Option("--cors-origin", help="Allowed CORS origin (repeatable; default none).")] = None,
    data: DataOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page at / with uvicorn."""
    try:
        import uvicorn

        from policykg.api.http import create_app
    except ImportError as exc:
        _fail(f"the server needs fastapi and uvicorn: pip install 'policykg[server]' ({exc.name} missing)")
    kb = _kb(data)
    api_key = os.environ.get(api_key_env) or None
    application = create_app(kb, api_key=api_key, max_upload_bytes=max_upload_mb * 1024 * 1024, cors_origins=list(cors_origin or []))
    err.print(
        f"policykg on http://{host}:{port}/ (data {kb.data_dir}; uploads {'on' if api_key else 'off'})", highlight=False,
    )
    uvicorn.run(application, host=host, port=port, log_level="info", server_header=False)


@app.command()
def viz(
    output: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
    regulation: Annotated[str | None, typer.Option(help="Only the measures implementing this regulation.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only the measures of this unit (and its sub-units).")] = None,
    year: Annotated[int | None, typer.Option(help="Only measures of this year.")] = None,
    max_nodes: Annotated[int, typer.Option("--max-nodes", min=1, help="Cap on the nodes drawn.")] = 2000,
    data: DataOpt = None,
) -> None:
    """Write the responsibility graph as one self-contained HTML page (opens offline)."""
    from policykg.api.views import graph_view, viz_html

    kb = _kb(data)
    view = _guard(graph_view, kb, year=year, unit=unit, regulation=regulation, max_nodes=max_nodes)
    title = "policykg 责任图谱" + "".join(f" · {x}" for x in (regulation, unit, year) if x)
    try:
        output.write_text(viz_html(view, title=title), encoding="utf-8")
    except OSError as exc:
        _fail(f"{output}: {exc.strerror or exc}")
    out.print(
        f"wrote {output} ({len(view['nodes'])} nodes, {len(view['edges'])} edges{', truncated' if view['truncated'] else ''})",
        highlight=False,
    )


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


@app.command()
def diff(
    issuer: Annotated[str, typer.Option(help="Issuer (or a part of its name): 深圳市人民政府, 国务院.")],
    year_from: Annotated[int, typer.Option("--from", help="The year the earlier report reviews.")],
    year_to: Annotated[int, typer.Option("--to", help="The year the later report reviews.")],
    status: Annotated[str | None, typer.Option(help="Only done or planned measures.")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two reports: continued, new and dropped measures."""
    result = _guard(_kb(data).diff, issuer, year_from, year_to, status=status)
    if as_json:
        _print_json(result)
        return
    c = result["counts"]
    out.print(
        f"{result['from']['title']} → {result['to']['title']}: {c['continued']} continued, {c['new']} new, "
        f"{c['dropped']} dropped ({result['seconds']:.2f} s)", highlight=False,
    )
    table = Table("status", "score", f"{result['to']['year']}", f"{result['from']['year']}", "key terms")
    for p in result["continued"]:
        table.add_row("continued", f"{p['score']:.3f}", _short(p["to"]["title"], 30), _short(p["from"]["title"], 30), "、".join(p["key_terms"][:4]))
    for m in result["new"]:
        table.add_row("new", "", _short(m["title"], 30), "", "")
    for m in result["dropped"]:
        table.add_row("dropped", "", "", _short(m["title"], 30), "")
    out.print(table)


@app.command()
def plans(
    issuer: Annotated[str, typer.Option(help="Issuer (or a part of its name).")],
    year: Annotated[int, typer.Option(help="The year planned for (reviewed by the later report).")],
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plans for a year against what the report on that year says was done."""
    result = _guard(_kb(data).plans, issuer, year)
    if as_json:
        _print_json(result)
        return
    c = result["counts"]
    out.print(
        f"{result['plan']['title']} → {result['outcome']['title']}: {c['carried out']} of {c['planned']} plans carried out "
        f"({result['seconds']:.2f} s)", highlight=False,
    )
    table = Table("status", "score", "plan", "matching passage")
    for p in result["plans"]:
        match = p.get("match") or {}
        table.add_row(p["status"], f"{p['score']:.3f}", _short(p["plan"]["title"], 30), _short(match.get("quote", ""), 50))
    out.print(table)


@app.command()
def indicators(
    issuer: Annotated[str, typer.Option(help="Issuer (or a part of its name).")],
    name: Annotated[str | None, typer.Option(help="Indicator name or variant: 国内生产总值增长, 经济增长, GDP增长, 信访.")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Indicator series: targets and actuals by year, with their quotes."""
    items = _guard(_kb(data).indicators, issuer, name)
    if as_json:
        _print_json(items)
        return
    table = Table("name", "year", "kind", "value", "unit", "quote")
    for i in items:
        value = f"{i['low']:g}–{i['high']:g}" if i["high"] != i["low"] else f"{i['value']:g}"
        value += {"at least": " 以上", "at most": " 以内"}.get(i["bound"] or "", "") + (" 左右" if i["approximate"] else "")
        table.add_row(i["name"], str(i["year"]), i["kind"], value, i["unit"], _short(i["quote"], 40))
    out.print(table)


def main() -> None:
    """Entry point: unexpected errors print one line (set POLICYKG_DEBUG=1 for the traceback)."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("POLICYKG_DEBUG"):
            raise
        err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
