"""``policykg ingest``, ``policykg remove`` and ``policykg sync``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from policykg.api.cli.common import DataOpt, JsonOpt, _fail, _guard, _kb, _print_json, app, err, out
from policykg.api.config import Engine
from policykg.graph.model import DocType


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories (walked recursively).", show_default=False)] = None,
    manifest: Annotated[Path | None, typer.Option(help="CSV with path, doc_type, title, issuer, year, published.")] = None,
    year: Annotated[int | None, typer.Option(help="The year a report reviews.")] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuing body, e.g. 天津市科学技术局.")] = None,
    doc_type: Annotated[DocType | None, typer.Option("--type", help="report or regulation.")] = None,
    title: Annotated[str | None, typer.Option(help="Document title.")] = None,
    engine: Annotated[Engine | None, typer.Option(help="local, or ray: read, extract and embed on a Ray cluster (pip install 'policykg\\[ray]'); default: \\[ingest] engine.")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address for --engine ray (default: a local Ray on 127.0.0.1).")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest reports and regulations (txt in UTF-8/GB18030, md, docx, pdf, html)."""
    from policykg.ingest.metadata import Metadata

    if not paths and manifest is None:
        _fail("give files or directories to ingest, or --manifest CSV")
    kb = _kb(data, must_exist=False)
    meta = Metadata(doc_type, title, issuer, year, None)
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
        for path in report.readded:
            out.print(f"note: {path} had been removed before; it is back (its tombstone is cleared)", highlight=False, markup=False)
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


def _interactive() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


@app.command()
def remove(
    refs: Annotated[list[str], typer.Argument(help="Document ids, unique id prefixes (6+ hex digits) or the paths they were ingested from.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove documents and everything that came from them (a tombstone records each; see `documents --removed`)."""
    kb = _kb(data)
    if not yes:
        if not _interactive():
            _fail("removal needs confirmation: rerun with --yes (stdin is not a terminal)")
        if not typer.confirm(f"remove {len(refs)} document(s) ({', '.join(refs[:3])}{' …' if len(refs) > 3 else ''}) from {kb.data_dir}?"):
            _fail("nothing removed")
    report = _guard(kb.remove, refs)
    if as_json:
        _print_json({**report.__dict__, "store": kb.stats()})
        return
    titles = {t.id: t.title for t in kb.removed_documents()}
    for doc_id in report.removed:
        out.print(f"removed {doc_id} {titles.get(doc_id, '')}", highlight=False, markup=False)
    for doc_id in report.already_removed:
        out.print(f"already removed: {doc_id} {titles.get(doc_id, '')}", highlight=False, markup=False)
    stats = kb.stats()
    out.print(
        f"{len(report.removed)} removed, {len(report.already_removed)} already removed in {report.seconds:.1f} s; "
        f"store: {stats['documents']} documents, {stats['measures']} measures, {stats['regulations']} regulations, "
        f"{stats['units']} units, {stats['passages']} passages",
        highlight=False,
    )


@app.command()
def sync(data: DataOpt = None) -> None:
    """Push the store's graph and vectors to the servers of policykg.toml / POLICYKG_*_URL (only what changed)."""
    kb = _kb(data)
    if not kb.config.servers:
        _fail("no servers configured: set POLICYKG_GRAPH_URL / POLICYKG_VECTORS_URL or write policykg.toml in the data directory")
    _print_json(_guard(kb.sync))
