"""What every ``policykg`` command shares: the typer app, consoles, options, and error handling."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from policykg.api.config import default_data_dir
from policykg.api.errors import KnowledgeBaseError
from policykg.graph.readmodels import to_json

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
    from policykg.api.kb import KnowledgeBase

    directory = data or default_data_dir()
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
    sys.stdout.write(json.dumps(to_json(value), ensure_ascii=False, indent=2, default=str) + "\n")


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call into the knowledge base; user errors become one line and exit code 1."""
    try:
        return fn(*args, **kwargs)
    except KnowledgeBaseError as exc:
        _fail(str(exc))


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _answer(data: Path | None, as_json: bool, method: str, *args: Any, **kwargs: Any) -> Any:
    """``kb.<method>(*args, **kwargs)``; with ``--json`` printed here and None returned (nothing left to print)."""
    result = _guard(getattr(_kb(data), method), *args, **kwargs)
    if as_json:
        _print_json(result)
        return None
    return result
