"""PDF to text: page numbers and running headers and footers dropped, lines the PDF broke inside a sentence
re-joined, the chrome of a web page printed to PDF dropped; the title from the metadata or the text."""

from __future__ import annotations

import io
import math
import re
import unicodedata
from pathlib import Path

from policykg.ingest.normalize import normalize_text
from policykg.ingest.raw_document import (
    BLOCK_START,
    RawDocument,
    Unreadable,
    clean_site_title,
    drop_web_chrome,
    first_line_title,
    md_title,
    stated_date,
)

_SENTENCE_END = "。！？；：」』”）!?;:"
_PAGE_NUMBER = re.compile(
    r"^(?:[-–—]\s*\d+\s*[-–—]|\d+|第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|"
    r"(?:page\s*)?\d+\s*of\s*\d+|page\s*\d+)$",
    re.IGNORECASE,
)


def _width(line: str) -> float:
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5 for ch in line)


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers, and headers/footers repeating at the top or bottom of most pages."""
    pages = [[ln for ln in page if ln and not _PAGE_NUMBER.match(ln)] for page in pages]
    if len(pages) < 3:
        return pages
    key = re.compile(r"\d+")
    counts: dict[str, int] = {}
    for page in pages:
        for k in {key.sub("#", ln) for ln in page[:2] + page[-2:]}:
            counts[k] = counts.get(k, 0) + 1
    running = {k for k, n in counts.items() if n >= math.ceil(0.6 * len(pages))}
    if not running:
        return pages
    out = []
    for page in pages:
        edge = set(range(min(2, len(page)))) | set(range(max(0, len(page) - 2), len(page)))
        out.append([ln for i, ln in enumerate(page) if not (i in edge and key.sub("#", ln) in running)])
    return out


def _join_broken_lines(lines: list[str]) -> list[str]:
    """Re-join lines the PDF broke inside a sentence (no space between CJK characters)."""
    if not lines:
        return lines
    widths = sorted(_width(ln) for ln in lines)
    full = widths[min(len(widths) - 1, int(0.9 * len(widths)))] if len(widths) >= 5 else widths[-1]
    out: list[str] = []
    for line in lines:
        if out:
            prev = out[-1]
            if (
                prev[-1] not in _SENTENCE_END
                and not prev.startswith(("#", "<!--"))
                and not BLOCK_START.match(line)
                and _width(prev) >= 0.75 * full  # a short line is a title or a paragraph's end
            ):
                glue = " " if _ascii_alnum(prev[-1]) and _ascii_alnum(line[0]) else ""
                out[-1] = prev + glue + line
                continue
        out.append(line)
    return out


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def read_pdf(path: Path, data: bytes, max_pages: int) -> RawDocument:
    """The text of a PDF's pages, cleaned; raises Unreadable (not a PDF, encrypted, too many pages …)."""
    if b"%PDF-" not in data[:1024]:
        raise Unreadable("not a valid PDF (missing %PDF- header)")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF (password required)")
        n = len(reader.pages)
    except Unreadable:
        raise
    except Exception as e:
        raise Unreadable(f"not a valid PDF ({str(e) or type(e).__name__})") from None
    if n > max_pages:
        raise Unreadable(f"too many pages ({n} > {max_pages})")
    pages: list[list[str]] = []
    for i, page in enumerate(reader.pages, 1):
        try:
            raw = page.extract_text() or ""
        except Exception as e:
            raise Unreadable(f"cannot extract text from PDF page {i} ({str(e) or type(e).__name__})") from None
        pages.append(normalize_text(raw).split("\n"))
    lines = drop_web_chrome([ln for page in _drop_running_lines(pages) for ln in page])
    text = normalize_text("\n".join(_join_broken_lines(lines)))
    meta_title: str | None = None
    try:
        meta = reader.metadata
        meta_title = str(meta.title).strip() if meta is not None and meta.title else None
    except Exception:
        meta_title = None
    title = clean_site_title(meta_title) if meta_title else None
    if title and (title.lower().startswith("microsoft word") or title.lower().endswith((".doc", ".docx"))):
        title = None
    return RawDocument(
        path, "pdf", text, title or md_title(text) or first_line_title(text), stated_date(text), None
    )
