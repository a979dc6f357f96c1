"""What is known about a file before it is read: the user's metadata (manifest row or options),
and what is inferred from the text when they say nothing (title, type, issuer, years)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from policykg.graph.model import DocType, check_choice
from policykg.ingest.laws import regulation_kind
from policykg.ingest.readers import RawDocument
from policykg.ingest.structure import ARTICLE_RE, iter_lines

DOC_TYPES: tuple[str, ...] = get_args(DocType)


@dataclass
class Metadata:
    """What the user says about a file (manifest row or command-line options); None = infer."""

    doc_type: DocType | None = None
    title: str | None = None
    issuer: str | None = None
    year: int | None = None
    published: str | None = None

    def over(self, other: Metadata) -> Metadata:
        """These values, with ``other``'s where these are unset (command line over manifest row)."""
        return Metadata(
            self.doc_type or other.doc_type, self.title or other.title, self.issuer or other.issuer,
            self.year or other.year, self.published or other.published,
        )


class ManifestError(Exception):
    """The manifest CSV cannot be used."""


def read_manifest(path: Path) -> dict[Path, Metadata]:
    """Rows of a manifest CSV (path, doc_type, title, issuer, year, published), keyed by resolved path."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{path}: cannot read manifest ({exc})") from exc
    if rows and "path" not in rows[0]:
        raise ManifestError(f"{path}: manifest has no 'path' column")
    out: dict[Path, Metadata] = {}
    for i, row in enumerate(rows, start=2):
        try:
            doc_type: DocType | None = check_choice((row.get("doc_type") or "").strip() or None, DocType, "doc_type")
        except ValueError as exc:
            raise ManifestError(f"{path}:{i}: {exc}") from exc
        year = (row.get("year") or "").strip()
        if year and not year.isdigit():
            raise ManifestError(f"{path}:{i}: year must be a number, not {year!r}")
        out[(path.parent / row["path"]).resolve()] = Metadata(
            doc_type,
            (row.get("title") or "").strip() or None,
            (row.get("issuer") or "").strip() or None,
            int(year) if year else None,
            (row.get("published") or "").strip() or None,
        )
    return out


def _count_articles(text: str) -> int:
    return sum(1 for line in iter_lines(text) if ARTICLE_RE.match(line.text))


def infer_metadata(raw: RawDocument, given: Metadata) -> Metadata:
    """Fill what the user did not say from the text and the file name."""
    text = raw.text
    first = next(iter_lines(text), None)
    first_text = first.text.lstrip("# ").strip() if first else ""
    if not first_text or first_text.endswith(("：", ":")) or len(first_text) > 60:
        first_text = ""
    raw_title = raw.title if raw.title and not raw.title.endswith(("：", ":")) else None
    title = given.title or raw_title or first_text or raw.path.stem
    is_gwr = "政府工作报告" in title or bool(re.search(r"我代表[^。\n]{2,16}?(?:报告政府工作|作政府工作报告)", text[:600]))
    doc_type = given.doc_type
    if doc_type is None:
        doc_type = "regulation" if regulation_kind(title) and _count_articles(text) >= 3 else "report"
    published = given.published or raw.published
    year = given.year
    issuer = given.issuer
    if doc_type == "report":
        head = text[:400]
        delivered = re.search(r"(20\d{2})年\d{1,2}月\d{1,2}日在", head)
        if published is None and delivered:
            published = delivered.group(1)
        review = re.search(r"(20\d{2})年(?:[^。\n]{0,8})?工作回顾", text[:3000])
        if year is None:
            if is_gwr or delivered:
                src = published or _year_in(raw.path.name)
                year = int(review.group(1)) if review else (int(src[:4]) - 1 if src else None)
            else:
                y = _year_in(title) or _year_in(raw.path.name)
                year = int(y) if y else None
        if issuer is None:
            m = re.search(r"我代表(国务院|[\u4e00-\u9fff]{2,6}?人民政府)", text[:2000])
            if m:
                issuer = "中华人民共和国国务院" if m.group(1) == "国务院" else m.group(1)
            else:
                pm = re.match(r"^([\u4e00-\u9fff]{2,12}?)(?:20\d{2}年|关于)", title)
                issuer = pm.group(1) if pm else None
        if is_gwr and published is None and year is not None:
            published = str(year + 1)
        if is_gwr and (title == "政府工作报告" or title == raw.path.stem) and published:
            title = f"{published[:4]}年{issuer or ''}政府工作报告"
    return Metadata(doc_type, title, issuer, year, published)


def _year_in(s: str) -> str | None:
    m = re.search(r"(?<!\d)(20\d{2}|19\d{2})(?!\d)", s)
    return m.group(1) if m else None


__all__ = ["DOC_TYPES", "ManifestError", "Metadata", "infer_metadata", "read_manifest"]
