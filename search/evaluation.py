"""Recall@k and MRR@k of a search function on a labelled query set (bench/data/queries.jsonl).

A relevant item is a regulation article (``path`` + ``article``) or a report passage identified by
a verbatim ``quote``; a hit matches it when it is that article, or its span covers the quote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policykg.graph.readmodels import DocumentSummary
from policykg.search.searcher import Hit


@dataclass
class Judged:
    """One labelled query: its id, text, kind and the items relevant to it."""

    id: str
    q: str
    kind: str
    relevant: list[dict[str, Any]]


def load_queries(path: Path) -> list[Judged]:
    """The labelled queries of a JSON-lines file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(Judged(d["id"], d["q"], d.get("kind", ""), d["relevant"]))
    return out


class Judge:
    """Maps labels onto a store: corpus-relative paths to documents, quotes to offsets."""

    def __init__(self, documents: Iterable[DocumentSummary], text_of: Callable[[str], str]) -> None:
        self.doc_of: dict[str, str] = {}
        for d in documents:
            self.doc_of[d.path] = d.id
        self._text_of = text_of
        self._offsets: dict[tuple[str, str], int] = {}

    def _doc(self, rel_path: str) -> str | None:
        for path, doc_id in self.doc_of.items():  # a shown path: relative to the corpus, a file name, or absolute
            if path.endswith("/" + rel_path) or path == rel_path or rel_path.endswith("/" + path):
                return doc_id
        return None

    def matches(self, hit: Hit, item: dict[str, Any]) -> bool:
        """Whether ``hit`` is the labelled ``item`` (that article, or a span covering the quote)."""
        doc_id = self._doc(item["path"])
        if doc_id is None or hit.doc_id != doc_id:
            return False
        if "article" in item:
            return hit.article == item["article"]
        key = (doc_id, item["quote"])
        if key not in self._offsets:
            self._offsets[key] = self._text_of(doc_id).find(item["quote"])
        off = self._offsets[key]
        return off >= 0 and hit.start <= off < hit.end


def per_query(queries: list[Judged], results: list[list[Hit]], judge: Judge, k: int = 10) -> list[tuple[float, float]]:
    """(Recall@k, reciprocal rank@k) of each query: recall is found / min(#relevant, k)."""
    out = []
    for q, hits in zip(queries, results, strict=True):
        found: set[int] = set()
        first = 0
        for rank, hit in enumerate(hits[:k], 1):
            for i, item in enumerate(q.relevant):
                if i not in found and judge.matches(hit, item):
                    found.add(i)
                    first = first or rank
        out.append((len(found) / min(len(q.relevant), k), 1.0 / first if first else 0.0))
    return out


def score(queries: list[Judged], results: list[list[Hit]], judge: Judge, k: int = 10) -> dict[str, float]:
    """Mean Recall@k (found / min(#relevant, k)) and MRR@k over the queries."""
    rows = per_query(queries, results, judge, k)
    n = max(len(rows), 1)
    return {f"recall@{k}": sum(r for r, _ in rows) / n, f"mrr@{k}": sum(m for _, m in rows) / n, "queries": float(len(rows))}


def load_stard(path: Path, regulation_path: str = "regulations/minfadian.md") -> list[Judged]:
    """The STARD questions of ``path`` (stard-minfadian-dev.json) as labelled queries: each labelled
    ``中华人民共和国民法典第N条`` becomes the article 第N条 of ``regulation_path``."""
    out = []
    for d in json.loads(path.read_text(encoding="utf-8")):
        items = [{"path": regulation_path, "article": name[name.rindex("第"):]} for name in d["match_name"]]
        out.append(Judged(f"stard-{d['query_id']}", d["问题"], "lay", items))
    return out
