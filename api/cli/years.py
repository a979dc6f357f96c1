"""Across the years: ``policykg diff``, ``plans`` and ``indicators``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from policykg.api.cli.common import DataOpt, JsonOpt, _answer, _short, app, out
from policykg.graph.model import MeasureStatus


@app.command()
def diff(
    issuer: Annotated[str, typer.Option(help="Issuer (or a part of its name): 深圳市人民政府, 国务院.")],
    year_from: Annotated[int, typer.Option("--from", help="The year the earlier report reviews.")],
    year_to: Annotated[int, typer.Option("--to", help="The year the later report reviews.")],
    status: Annotated[MeasureStatus | None, typer.Option(help="Only done or planned measures.")] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two reports: continued, new and dropped measures."""
    if (result := _answer(data, as_json, "diff", issuer, year_from, year_to, status=status)) is None:
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
    if (result := _answer(data, as_json, "plans", issuer, year)) is None:
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
    if (items := _answer(data, as_json, "indicators", issuer, name)) is None:
        return
    table = Table("name", "year", "kind", "value", "unit", "quote")
    for i in items:
        value = f"{i['low']:g}–{i['high']:g}" if i["high"] != i["low"] else f"{i['value']:g}"
        value += {"at least": " 以上", "at most": " 以内"}.get(i["bound"] or "", "") + (" 左右" if i["approximate"] else "")
        table.add_row(i["name"], str(i["year"]), i["kind"], value, i["unit"], _short(i["quote"], 40))
    out.print(table)
