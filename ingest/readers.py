"""Read user documents (txt, md, docx, pdf, html) into normalised text with light metadata: the public entry
point `read_document`, its limits, dispatch on the file type, and the plain-text and .docx readers (PDF and
HTML have modules of their own: read_pdf.py, read_html.py; what they share is in raw_document.py).

`read_document` never raises anything but `ReadError`, whose message is one line: "<file name>: <reason>".
"""

from __future__ import annotations

import io
import logging
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from policykg.ingest.normalize import normalize_text
from policykg.ingest.raw_document import (
    RawDocument,
    Unreadable,
    decode_bytes,
    first_line_title,
    md_title,
    stated_date,
)
from policykg.ingest.read_html import MAX_HTML_DEPTH, read_html
from policykg.ingest.read_pdf import read_pdf

__all__ = ["MAX_BYTES", "MAX_CHARS", "MAX_HTML_DEPTH", "SUPPORTED_SUFFIXES", "RawDocument", "ReadError", "read_document"]

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm"})
MAX_BYTES = 50 * 1024 * 1024
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_DOCX_RATIO = 100
MAX_CHARS = 1_000_000  # ~9× the Civil Code; ingest time grows linearly (1M characters: ~15 s before embedding)

_FORMATS = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".docx": "docx",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
}

for _name in ("pypdf", "trafilatura", "htmldate", "courlan", "justext", "readability", "charset_normalizer"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


class ReadError(Exception):
    """A document could not be read; ``str(err)`` is one line: ``"<file name>: <reason>"``."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split()) or "unreadable"
        super().__init__(f"{self.path.name}: {self.reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


def _fmt_size(n: float) -> str:
    mb = n / (1024 * 1024)
    if mb >= 1:
        return f"{mb:.1f}".removesuffix(".0") + " MB"
    if n >= 1024:
        return f"{n / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{int(n)} bytes"


# ------------------------------------------------------------------------------------------ txt / md


def _read_plain(path: Path, data: bytes, fmt: str) -> RawDocument:
    raw, enc = decode_bytes(data)
    text = normalize_text(raw)
    title = md_title(text) if fmt == "md" else first_line_title(text)
    return RawDocument(path, fmt, text, title, stated_date(text), enc)


# ------------------------------------------------------------------------------------------------ docx


def _docx_lines(data: bytes) -> tuple[list[str], str | None]:
    """Paragraph and table-cell texts of a .docx in body order, and its title (core props or heading)."""
    bad = "not a valid .docx ({})"
    buf = io.BytesIO(data)
    if not zipfile.is_zipfile(buf):
        raise Unreadable(bad.format("not a zip archive"))
    try:
        with zipfile.ZipFile(buf) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise Unreadable(bad.format(e or type(e).__name__)) from None
    if "word/document.xml" not in {i.filename for i in infos}:
        raise Unreadable(bad.format("word/document.xml missing"))
    total = sum(i.file_size for i in infos)
    if total > MAX_DOCX_UNCOMPRESSED:
        raise Unreadable(bad.format(f"uncompressed size {_fmt_size(total)} > {_fmt_size(MAX_DOCX_UNCOMPRESSED)}"))
    # Tiny archives may legitimately compress very well; the ratio guard is for what would get big.
    if total > 10 * 1024 * 1024 and total / max(len(data), 1) > MAX_DOCX_RATIO:
        raise Unreadable(
            bad.format(f"compression ratio {total / len(data):.0f} > {MAX_DOCX_RATIO}, possible zip bomb")
        )

    import docx
    from docx.oxml.ns import qn
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise Unreadable(bad.format(str(e) or type(e).__name__)) from None

    p_tag, tbl_tag, sdt_tag = qn("w:p"), qn("w:tbl"), qn("w:sdt")
    tr_tag, tc_tag, content_tag = qn("w:tr"), qn("w:tc"), qn("w:sdtContent")
    lines: list[str] = []
    heading: str | None = None

    def walk(parent: Any, depth: int = 0) -> None:
        nonlocal heading
        if depth > 50:
            return
        for child in parent.iterchildren():
            if child.tag == p_tag:
                para = Paragraph(child, doc)
                text = para.text
                lines.append(text)
                if heading is None and text.strip():
                    style = (child.style or "").lower()
                    if style.startswith(("heading", "title")) or style in {"1", "title"}:
                        heading = text.strip()
            elif child.tag == tbl_tag:
                for tr in child.iterchildren(tr_tag):
                    for tc in tr.iterchildren(tc_tag):
                        walk(tc, depth + 1)
            elif child.tag == sdt_tag:
                for content in child.iterchildren(content_tag):
                    walk(content, depth + 1)

    walk(doc.element.body)
    title = (doc.core_properties.title or "").strip() or heading
    return lines, title


def _read_docx(path: Path, data: bytes) -> RawDocument:
    lines, title = _docx_lines(data)
    text = normalize_text("\n".join(lines))
    return RawDocument(path, "docx", text, title or first_line_title(text), stated_date(text), None)


# ------------------------------------------------------------------------------------------- dispatch


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Unreadable(f"too large (> {_fmt_size(max_bytes)})")
    return data


def read_document(
    path: Path, *, max_bytes: int = MAX_BYTES, max_pdf_pages: int = 2000, max_chars: int = MAX_CHARS
) -> RawDocument:
    """Read a .txt/.md/.docx/.pdf/.html file into a RawDocument; raise ReadError (only) on failure."""
    path = Path(path)
    try:
        doc = _read_document(path, max_bytes, max_pdf_pages)
    except ReadError:
        raise
    except Unreadable as e:
        raise ReadError(path, str(e)) from None
    except RecursionError:
        raise ReadError(path, "document structure too deeply nested") from None
    except MemoryError:
        raise ReadError(path, "out of memory while reading") from None
    except Exception as e:
        raise ReadError(path, f"unexpected {type(e).__name__}: {e}") from e
    if not doc.text.strip():
        raise ReadError(path, "no text")
    if len(doc.text) > max_chars:
        raise ReadError(path, f"text too long ({len(doc.text):,} characters > {max_chars:,})")
    return doc


def _read_document(path: Path, max_bytes: int, max_pdf_pages: int) -> RawDocument:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise Unreadable("file not found") from None
    except OSError as e:
        raise Unreadable(f"cannot access ({e.strerror or e})") from None
    if path.is_dir():
        raise Unreadable("is a directory")
    suffix = path.suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        raise Unreadable(f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no suffix)")
    if st.st_size > max_bytes:
        raise Unreadable(f"too large ({_fmt_size(st.st_size)} > {_fmt_size(max_bytes)})")
    if st.st_size == 0:
        raise Unreadable("empty file")
    try:
        data = _read_bytes(path, max_bytes)
    except OSError as e:
        raise Unreadable(f"cannot read ({e.strerror or e})") from None
    if not data:
        raise Unreadable("empty file")
    readers: dict[str, Callable[[], RawDocument]] = {
        "txt": lambda: _read_plain(path, data, "txt"),
        "md": lambda: _read_plain(path, data, "md"),
        "docx": lambda: _read_docx(path, data),
        "pdf": lambda: read_pdf(path, data, max_pdf_pages),
        "html": lambda: read_html(path, data),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return readers[fmt]()
