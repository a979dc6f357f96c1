"""Read user documents (txt, md, docx, pdf, html) into normalised text with light metadata.

`read_document` never raises anything but `ReadError`, whose message is one line: "<file name>: <reason>".
"""

from __future__ import annotations

import codecs
import datetime as _dt
import io
import logging
import math
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policykg.ingest.normalize import normalize_text

__all__ = ["MAX_BYTES", "SUPPORTED_SUFFIXES", "RawDocument", "ReadError", "read_document"]

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm"})
MAX_BYTES = 50 * 1024 * 1024
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_DOCX_RATIO = 100
MAX_CHARS = 1_000_000  # ~9× the Civil Code; ingest time grows linearly (1M characters: ~15 s before embedding)
MAX_HTML_DEPTH = 5000  # the HTML parser is quadratic in the depth of nested <div>/<ul> (100k: ~1 min)

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


@dataclass(frozen=True)
class RawDocument:
    """A document's normalised text plus what the document itself says about its title and date."""

    path: Path
    format: str  # "txt" | "md" | "docx" | "pdf" | "html"
    text: str  # already normalize_text()-ed
    title: str | None
    published: str | None  # ISO date
    encoding: str | None  # txt/md/html: the detected encoding


class _Fail(Exception):
    """Internal: a reason for ReadError (the path is added by read_document)."""


# --------------------------------------------------------------------------------------------- helpers

_SENTENCE_END = "。！？；：」』”）!?;:"
_TITLE_BAD_END = "。！？；，、：,.;:!?…"
_CN_NUM = "零〇一二三四五六七八九十百千万两"
_DATE = re.compile(r"((?:19|20)\d{2})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
_LABELLED_DATE = re.compile(r"^(?:(?:发布|公布|印发|成文|发文)(?:日期|时间)|日期)\s*[:：]\s*(.*)$")
_INFO_END = "<!-- INFO END -->"


def _fmt_size(n: float) -> str:
    mb = n / (1024 * 1024)
    if mb >= 1:
        return f"{mb:.1f}".removesuffix(".0") + " MB"
    if n >= 1024:
        return f"{n / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{int(n)} bytes"


def _iso_date(s: str) -> str | None:
    m = _DATE.search(s)
    if not m:
        return None
    try:
        return _dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return None


def _title_like(line: str, max_len: int = 60) -> bool:
    line = line.strip().lstrip("#").strip()
    return 0 < len(line) <= max_len and line[-1] not in _TITLE_BAD_END and any(ch.isalpha() for ch in line)


def _first_line_title(text: str) -> str | None:
    for line in text.split("\n"):
        if line.strip():
            return line.strip() if _title_like(line) else None
    return None


def _md_title(text: str) -> str | None:
    for line in text.split("\n"):
        if line.startswith("# "):
            return line[2:].strip().rstrip("#").strip() or None
    return None


def _published(text: str) -> str | None:
    """An ISO date the text states plainly: a labelled date line near the top, or the LawRefBook info block."""
    lines = text.split("\n")
    for line in lines[:30]:
        m = _LABELLED_DATE.match(line)
        if m and (d := _iso_date(m[1])):
            return d
    if _INFO_END in text:
        for line in lines[: lines.index(_INFO_END) if _INFO_END in lines else 30]:
            if re.search(r"(公布|发布)\s*$", line) and (d := _iso_date(line)):
                return d
    return None


# ------------------------------------------------------------------------------------------ txt / md

_GB_FAMILY = {"gbk", "gb2312", "gb18030", "cp936", "ms936", "hz", "hz_gb_2312", "euc_cn", "euccn", "x_gbk"}


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    return bad / len(text)


def _decode(data: bytes) -> tuple[str, str]:
    """Decode bytes from their content (BOM, strict UTF-8, then charset-normalizer); GBK family → gb18030."""
    binary = _Fail("binary or unknown encoding")
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                break
            if _control_ratio(text) > 0.05:
                raise binary
            return text, enc
    if b"\x00" in data:
        raise binary
    try:
        text, enc = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        import charset_normalizer

        best = charset_normalizer.from_bytes(data).best()
        if best is None or not best.encoding:
            raise binary from None
        enc = best.encoding.lower().replace("-", "_")
        if enc in _GB_FAMILY:
            enc = "gb18030"
        try:
            text = data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            text = data.decode(enc, errors="replace") if enc != best.encoding else str(best)
            if text.count("\ufffd") > max(2, len(text) // 100):
                raise binary from None
    if _control_ratio(text) > 0.05:
        raise binary
    return text, _codec_name(enc)


def _codec_name(enc: str) -> str:
    try:
        return codecs.lookup(enc).name
    except LookupError:
        return enc


def _read_plain(path: Path, data: bytes, fmt: str) -> RawDocument:
    raw, enc = _decode(data)
    text = normalize_text(raw)
    title = _md_title(text) if fmt == "md" else _first_line_title(text)
    return RawDocument(path, fmt, text, title, _published(text), enc)


# ------------------------------------------------------------------------------------------------ docx


def _docx_lines(data: bytes) -> tuple[list[str], str | None]:
    """Paragraph and table-cell texts of a .docx in body order, and its title (core props or heading)."""
    bad = "not a valid .docx ({})"
    buf = io.BytesIO(data)
    if not zipfile.is_zipfile(buf):
        raise _Fail(bad.format("not a zip archive"))
    try:
        with zipfile.ZipFile(buf) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise _Fail(bad.format(e or type(e).__name__)) from None
    if "word/document.xml" not in {i.filename for i in infos}:
        raise _Fail(bad.format("word/document.xml missing"))
    total = sum(i.file_size for i in infos)
    if total > MAX_DOCX_UNCOMPRESSED:
        raise _Fail(bad.format(f"uncompressed size {_fmt_size(total)} > {_fmt_size(MAX_DOCX_UNCOMPRESSED)}"))
    # Tiny archives may legitimately compress very well; the ratio guard is for what would get big.
    if total > 10 * 1024 * 1024 and total / max(len(data), 1) > MAX_DOCX_RATIO:
        raise _Fail(
            bad.format(f"compression ratio {total / len(data):.0f} > {MAX_DOCX_RATIO}, possible zip bomb")
        )

    import docx
    from docx.oxml.ns import qn
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise _Fail(bad.format(str(e) or type(e).__name__)) from None

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
    return RawDocument(path, "docx", text, title or _first_line_title(text), _published(text), None)


# ------------------------------------------------------------------------------------------------- pdf

_PAGE_NUMBER = re.compile(
    r"^(?:[-–—]\s*\d+\s*[-–—]|\d+|第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|"
    r"(?:page\s*)?\d+\s*of\s*\d+|page\s*\d+)$",
    re.IGNORECASE,
)
_BLOCK_START = re.compile(
    rf"^(?:#|<!--|第[{_CN_NUM}\d]+[条章节编](?:之[{_CN_NUM}]+)?(?:\s|$)|第[{_CN_NUM}\d]+部分|[{_CN_NUM}]+、|"
    rf"[（(][{_CN_NUM}\d]+[)）]|\d+[.．、](?!\d)|[①-⑳])"
)
# Chrome of a government web page printed to PDF: navigation, breadcrumbs, tools, footer.
_WEB_CHROME = re.compile(
    r"^(?:当前位置|您的位置|你的位置|您现在的位置)\s*[:：]|打印本页|关闭窗口|【?\s*打印\s*】|"
    r"字号\s*[:：]?\s*[\[【(（]?\s*大\s*中\s*小|版权所有|ICP\s*备|网站标识码|"
    r"公网安备"
)
_RELATED_HEAD = re.compile(
    r"^(?:相关链接|相关文章|相关阅读|相关新闻|相关文件|相关稿件|相关信息|友情链接)\s*[:：]?$"
)


def _width(line: str) -> float:
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5 for ch in line)


def _is_nav(line: str) -> bool:
    parts = [p.strip() for p in re.split(r"[|｜]", line)]
    return len(parts) >= 3 and all(0 < len(p) <= 10 for p in parts)


def _drop_web_chrome(lines: list[str]) -> list[str]:
    out = [ln for ln in lines if not (_WEB_CHROME.search(ln) or _is_nav(ln))]
    for i in range(len(out) - 1, max(-1, len(out) - 30), -1):
        if _RELATED_HEAD.match(out[i]):
            tail = out[i + 1 :]
            if len(tail) <= 15 and not any(_BLOCK_START.match(t) for t in tail):
                return out[:i]
    return out


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
                and not _BLOCK_START.match(line)
                and _width(prev) >= 0.75 * full  # a short line is a title or a paragraph's end
            ):
                glue = " " if _ascii_alnum(prev[-1]) and _ascii_alnum(line[0]) else ""
                out[-1] = prev + glue + line
                continue
        out.append(line)
    return out


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _read_pdf(path: Path, data: bytes, max_pages: int) -> RawDocument:
    if b"%PDF-" not in data[:1024]:
        raise _Fail("not a valid PDF (missing %PDF- header)")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise _Fail("encrypted PDF (password required)")
        n = len(reader.pages)
    except _Fail:
        raise
    except Exception as e:
        raise _Fail(f"not a valid PDF ({str(e) or type(e).__name__})") from None
    if n > max_pages:
        raise _Fail(f"too many pages ({n} > {max_pages})")
    pages: list[list[str]] = []
    for i, page in enumerate(reader.pages, 1):
        try:
            raw = page.extract_text() or ""
        except Exception as e:
            raise _Fail(f"cannot extract text from PDF page {i} ({str(e) or type(e).__name__})") from None
        pages.append(normalize_text(raw).split("\n"))
    lines = _drop_web_chrome([ln for page in _drop_running_lines(pages) for ln in page])
    text = normalize_text("\n".join(_join_broken_lines(lines)))
    meta_title: str | None = None
    try:
        meta = reader.metadata
        meta_title = str(meta.title).strip() if meta is not None and meta.title else None
    except Exception:
        meta_title = None
    title = _clean_site_title(meta_title) if meta_title else None
    if title and (title.lower().startswith("microsoft word") or title.lower().endswith((".doc", ".docx"))):
        title = None
    return RawDocument(
        path, "pdf", text, title or _md_title(text) or _first_line_title(text), _published(text), None
    )


# ------------------------------------------------------------------------------------------------ html

_CHROME_TAGS = (
    "script, style, noscript, template, nav, header, footer, aside, form, iframe, svg, button, select"
)
# Class/id tokens (or their prefixes, "nav-top", "footer_wrap") of page chrome.
_CHROME_TOKEN = re.compile(
    r"^(?:nav|navbar|navigation|menu|breadcrumbs?|crumbs?|bread|footer|foot|header|sidebar|"
    r"related|relate|share|toolbar|tools|copyright|position|location|weizhi|dqwz|pagination|pager|"
    r"friendlinks?|links)(?:$|[-_])",
    re.IGNORECASE,
)
_BLOCK_TAGS = {
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "article",
    "blockquote", "pre", "ul", "ol", "dd", "dt", "dl", "hr", "main", "td", "th",
}  # fmt: skip
_META_DATE_NAMES = (
    "article:published_time", "og:published_time", "pubdate", "publishdate", "publish_date", "published_time",
    "firstpublishedtime", "dc.date", "dc.date.issued", "dcterms.issued", "dcterms.date", "date", "articledate",
)  # fmt: skip
_INLINE_ARTICLE = re.compile(
    rf"(?<=[。！？；])[ \t\u3000]*(?=第[{_CN_NUM}]+[条章节](?:之[{_CN_NUM}]+)?[ \u3000])"
)


def _html_charset(data: bytes) -> str | None:
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", data[:4096], re.IGNORECASE)
    if not m:
        return None
    enc = m.group(1).decode("ascii", "replace").lower().replace("-", "_")
    if enc.startswith(("utf_16", "utf_32", "utf16", "utf32")):
        return None  # an ASCII-compatible page cannot declare UTF-16 in a meta tag (WHATWG: read as UTF-8)
    return "gb18030" if enc in _GB_FAMILY else enc


def _decode_html(data: bytes) -> tuple[str, str]:
    declared = _html_charset(data)
    if declared and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            codecs.lookup(declared)
            text = data.decode(declared)
            if "\x00" not in text:
                return text, _codec_name(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    return _decode(data)


def _strip_chrome(tree: Any) -> None:
    """Remove scripts, navigation, breadcrumbs, headers, footers, sidebars and related links in place."""
    doomed = list(tree.css(_CHROME_TAGS))
    for node in tree.css("[class], [id]"):
        tokens = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}".split()
        if node.tag not in ("html", "body", "main", "article") and any(
            _CHROME_TOKEN.match(t) for t in tokens
        ):
            doomed.append(node)
    ids = {n.mem_id for n in doomed}
    for node in doomed:
        parent, nested = node.parent, False
        while parent is not None and not nested:
            nested = parent.mem_id in ids
            parent = parent.parent
        if not nested:
            node.decompose()


def _block_text(tree: Any) -> str:
    """Text of the page body, one line per block element."""
    body = tree.body or tree.root
    if body is None:
        return ""
    parts: list[str] = []

    def walk(node: Any, depth: int) -> None:
        child = node.child
        while child is not None:
            tag = child.tag
            if tag == "-text":
                parts.append(child.text_content or "")
            elif depth < 200 and tag != "-comment":
                block = tag in _BLOCK_TAGS
                if block:
                    parts.append("\n")
                walk(child, depth + 1)
                if block:
                    parts.append("\n")
            child = child.next

    walk(body, 0)
    return "".join(parts)


def _html_title(tree: Any) -> str | None:
    def text_of(node: Any) -> str:
        return " ".join(node.text(separator=" ").split())

    h1s = [t for t in (text_of(n) for n in tree.css("h1")) if t]
    title_node = tree.css_first("title")
    title = _clean_site_title(text_of(title_node)) if title_node is not None else None
    og = tree.css_first('meta[property="og:title"]')
    og_title = (og.attributes.get("content") or "").strip() if og is not None else ""
    for h in h1s:
        if not title or h in title or title in h:
            return h
    return title or og_title or (h1s[0] if h1s else None)


def _clean_site_title(title: str | None) -> str | None:
    """'实验动物管理条例_政策法规' → '实验动物管理条例' (drop the site/section suffix)."""
    if not title:
        return None
    first = re.split(r"_| [|｜] | - | — | – |[|｜]", title.strip())[0].strip()
    return first or title.strip() or None


def _html_published(tree: Any) -> str | None:
    for node in tree.css("meta"):
        attrs = node.attributes
        name = (attrs.get("name") or attrs.get("property") or attrs.get("itemprop") or "").strip().lower()
        if name in _META_DATE_NAMES and (d := _iso_date(attrs.get("content") or "")):
            return d
    return None


def _trafilatura(html: str) -> str:
    import trafilatura

    try:
        out = trafilatura.extract(
            html,
            output_format="txt",
            include_comments=False,
            include_tables=True,
            include_links=False,
            deduplicate=False,
        )
    except Exception:
        return ""
    return out or ""


# Tags that never nest (void) or close themselves (optional end tags); the rest count toward the depth.
_HTML_NO_DEPTH = frozenset((
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
    "keygen", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup",
    "rb", "rt", "rp", "html", "head", "body",
))  # fmt: skip
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*?(/?)>")


def _html_depth(raw: str) -> int:
    """The deepest nesting of elements that must be closed, by a tag count (no parse)."""
    depth = deepest = 0
    for m in _HTML_TAG.finditer(raw):
        if m.group(3) or m.group(2).lower() in _HTML_NO_DEPTH:
            continue
        if m.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _read_html(path: Path, data: bytes) -> RawDocument:
    raw, enc = _decode_html(data)
    if (depth := _html_depth(raw)) > MAX_HTML_DEPTH:
        raise _Fail(f"document structure too deeply nested ({depth} levels > {MAX_HTML_DEPTH})")
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(raw)
    page_text = normalize_text(_block_text(tree))
    cleaned = LexborHTMLParser(raw)
    _strip_chrome(cleaned)
    cleaned_html = cleaned.html or ""
    # trafilatura keeps the article body; chrome is removed first because on short pages it keeps everything.
    body = _trafilatura(cleaned_html).strip() or _trafilatura(raw).strip()
    if not body:
        body = "\n".join(_drop_web_chrome(normalize_text(_block_text(cleaned)).split("\n")))
    text = normalize_text(_INLINE_ARTICLE.sub("\n", body))
    title = _html_title(tree) or _md_title(text)
    published = _html_published(tree) or _published(text) or _published(page_text)
    return RawDocument(path, "html", text, title, published, enc)


# ------------------------------------------------------------------------------------------- dispatch


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _Fail(f"too large (> {_fmt_size(max_bytes)})")
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
    except _Fail as e:
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
        raise _Fail("file not found") from None
    except OSError as e:
        raise _Fail(f"cannot access ({e.strerror or e})") from None
    if path.is_dir():
        raise _Fail("is a directory")
    suffix = path.suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        raise _Fail(f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no suffix)")
    if st.st_size > max_bytes:
        raise _Fail(f"too large ({_fmt_size(st.st_size)} > {_fmt_size(max_bytes)})")
    if st.st_size == 0:
        raise _Fail("empty file")
    try:
        data = _read_bytes(path, max_bytes)
    except OSError as e:
        raise _Fail(f"cannot read ({e.strerror or e})") from None
    if not data:
        raise _Fail("empty file")
    readers: dict[str, Callable[[], RawDocument]] = {
        "txt": lambda: _read_plain(path, data, "txt"),
        "md": lambda: _read_plain(path, data, "md"),
        "docx": lambda: _read_docx(path, data),
        "pdf": lambda: _read_pdf(path, data, max_pdf_pages),
        "html": lambda: _read_html(path, data),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return readers[fmt]()
