"""``policykg search`` and ``policykg timeline``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from policykg.api.cli.common import DataOpt, JsonOpt, _answer, _fail, _guard, _kb, _print_json, app, out
from policykg.graph.model import DocType
from policykg.search.ranking import Mode


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for, in Chinese.", show_default=False)] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=200, help="Number of hits.")] = 10,
    year: Annotated[int | None, typer.Option(help="Only reports reviewing this year.")] = None,
    year_from: Annotated[int | None, typer.Option("--from", help="First year.")] = None,
    year_to: Annotated[int | None, typer.Option("--to", help="Last year.")] = None,
    doc_type: Annotated[DocType | None, typer.Option("--type", help="report or regulation.")] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuer (substring).")] = None,
    regulation: Annotated[str | None, typer.Option(help="Only a regulation's articles and the measures linked to it.")] = None,
    mode: Annotated[Mode, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
    group: Annotated[bool, typer.Option("--group", help="One hit per document.")] = False,
    batch: Annotated[Path | None, typer.Option(help="JSONL file of {\"q\", \"k\", \"type\", \"year\"}; '-' for stdin.")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hybrid semantic search over report passages and regulation articles."""
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
    """For each year in the store, the best report passages on a topic; a year with nothing on it says so."""
    if (years := _answer(data, as_json, "timeline", query, per_year=per_year, issuer=issuer, keep_empty=True)) is None:
        return
    for y, hits in years.items():
        out.print(f"[bold]{y}[/bold]")
        if not hits:
            out.print("  nothing on this topic", style="dim")
        for h in hits:
            out.print(f"  {h.score:.4f} {h.issuer or ''} · {h.text[:120]}", highlight=False)
