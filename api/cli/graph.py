"""The graph commands: regulations, measures, coverage, units, documents, export, SPARQL, stats and viz."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from policykg.api.cli.common import DataOpt, JsonOpt, _answer, _fail, _guard, _kb, _print_json, app, out
from policykg.graph.readmodels import to_json


@app.command()
def measures(
    regulation: Annotated[str, typer.Option(help="Canonical name or any alias: 实验动物管理条例, 《条例》's full name …")],
    year: Annotated[int | None, typer.Option(help="Only measures of this year.")] = None,
    method: Annotated[list[str] | None, typer.Option(help="citation, alias, topic, semantic (repeatable).")] = None,
    relation: Annotated[list[str] | None, typer.Option(
        help="implements (default), drafts, revises, studies (repeatable); 'any' for every relation.")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which measures implement a regulation (or draft, revise, study it), with their evidence."""
    relations = None if relation and "any" in relation else (relation or ["implements"])
    if (result := _answer(data, as_json, "measures_for", regulation, year=year, methods=method, relations=relations)) is None:
        return
    reg = result.regulation
    out.print(f"[bold]{reg.name}[/bold] ({reg.kind}) aliases: {', '.join(reg.aliases) or '-'}", highlight=False)
    if not result.measures:
        others = [] if relations is None else _guard(_kb(data).measures_for, regulation, year=year, methods=method, relations=None).measures
        if relations is not None and others:
            done = "/".join(sorted({r for m in others for r in m.relations}))
            out.print(f"no measure {'/'.join(relations)} it; {len(others)} {done} it (--relation any)", highlight=False)
        else:
            out.print("no measures linked")
    for m in result.measures:
        units = "、".join(u.name for u in m.units)
        shown = "" if m.relations == ["implements"] else f" · {'/'.join(m.relations)}"
        out.print(f"\n[bold]{m.title}[/bold] · {m.year} {m.status} · {m.document.title} · {units}{shown}", highlight=False)
        for e in m.evidence:
            art = f" {e.article}" if e.article else ""
            out.print(f"  [{e.method}{art} {e.score:.2f}] [{e.start}, {e.end}) {e.quote}", highlight=False, markup=False)


@app.command()
def regulations(data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Regulations in the store: ingested in full or cited by reports."""
    if (regs := _answer(data, as_json, "regulations")) is None:
        return
    table = Table("name", "kind", "aliases", "articles", "measures")
    for r in regs:
        table.add_row(r.name, r.kind, "、".join(r.aliases[:4]), str(r.articles), str(r.measures))
    out.print(table)


@app.command()
def units(data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Units (organisations and roles) and how many measures each is responsible for."""
    if (items := _answer(data, as_json, "units")) is None:
        return
    names = {u.id: u.name for u in items}
    table = Table("name", "kind", "part of", "measures")
    for u in items:
        table.add_row(u.name, u.kind, names.get(u.parent_id or "", ""), str(u.measures))
    out.print(table)


@app.command()
def unit(name: Annotated[str, typer.Argument(help="Unit name or alias: 局党委, 市科技局 …")], data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """A unit, its parent and sub-units, and the measures it is responsible for."""
    if (u := _answer(data, as_json, "unit", name)) is None:
        return
    out.print(f"[bold]{u.name}[/bold] ({u.kind})" + (f" · part of {u.parent.name}" if u.parent else ""), highlight=False)
    if u.children:
        out.print("sub-units: " + "、".join(c.name for c in u.children), highlight=False)
    for m in u.measures:
        out.print(f"  {m.year} {m.status} · {m.title} · {m.document.title}", highlight=False)


@app.command()
def documents(
    removed: Annotated[bool, typer.Option("--removed", help="List the removed documents (tombstones) instead.")] = False,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Documents in the store (with --removed: those removed, and when)."""
    if removed:
        if (gone := _answer(data, as_json, "removed_documents")) is None:
            return
        table = Table("id", "type", "title", "path", "removed at")
        for t in gone:
            table.add_row(t.id, t.doc_type, t.title, t.path, t.removed_at)
        out.print(table)
        return
    if (docs := _answer(data, as_json, "documents")) is None:
        return
    table = Table("id", "type", "title", "issuer", "year", "measures")
    for d in docs:
        table.add_row(d.id, d.doc_type, d.title, d.issuer or "", str(d.year or ""), str(d.measures))
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
    meta = {k: v for k, v in to_json(doc).items() if k != "text"}
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


@app.command()
def coverage(
    regulation: Annotated[str, typer.Argument(help="A regulation held in full: name, alias or id.")],
    issuer: Annotated[str | None, typer.Option(help="Only measures of documents whose issuer contains this.")] = None,
    year_from: Annotated[int | None, typer.Option("--from", help="Only measures of this year or later.")] = None,
    year_to: Annotated[int | None, typer.Option("--to", help="Only measures of this year or earlier.")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which articles of a regulation have implementing measures, in which years (and the articles none touches)."""
    if (cov := _answer(data, as_json, "coverage", regulation, issuer=issuer, year_from=year_from, year_to=year_to)) is None:
        return
    s = cov.summary
    out.print(
        f"[bold]{cov.regulation.name}[/bold]: {s.covered} of {s.articles} articles covered by {s.measures} measures, "
        f"{s.uncovered} uncovered", highlight=False,
    )
    years = [y for y in cov.years if any(y in a.counts_by_year for c in cov.chapters for a in c.articles)]
    table = Table("chapter", "article", *(f"{y % 100:02d}" for y in years), "total", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for chapter in cov.chapters:
        shown = False
        for a in chapter.articles:
            if a.total:
                label = "" if shown else chapter.title.split(" ")[0]
                table.add_row(label, a.label, *(str(a.counts_by_year.get(y, "")) for y in years), str(a.total))
                shown = True
    if s.covered:
        out.print(table)
    out.print("uncovered:", highlight=False)
    for chapter in cov.chapters:
        labels = [a.label for a in chapter.articles if not a.total]
        if labels:
            out.print(f"  {chapter.title or '-'}: {'、'.join(labels)}", highlight=False)
    if cov.without_article:
        out.print(f"linked to the regulation without an article: {s.without_article} measures", highlight=False)
        for m in cov.without_article:
            out.print(f"  {m.year} · {m.title} · {m.document.title} \\[{m.method}]", highlight=False)
