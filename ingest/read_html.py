"""HTML to text: the article body (trafilatura, after the page chrome is stripped; a block-per-line fallback),
its title (h1, <title>, og:title) and date (meta tags, else the text), with a guard against deep nesting."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

from policykg.ingest.normalize import normalize_text
from policykg.ingest.raw_document import (
    CN_NUMERALS,
    GB_FAMILY,
    RawDocument,
    Unreadable,
    clean_site_title,
    codec_name,
    decode_bytes,
    drop_web_chrome,
    iso_date,
    md_title,
    stated_date,
)

MAX_HTML_DEPTH = 5000  # the HTML parser is quadratic in the depth of nested <div>/<ul> (100k: ~1 min)

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
    rf"(?<=[。！？；])[ \t\u3000]*(?=第[{CN_NUMERALS}]+[条章节](?:之[{CN_NUMERALS}]+)?[ \u3000])"
)


def _html_charset(data: bytes) -> str | None:
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", data[:4096], re.IGNORECASE)
    if not m:
        return None
    enc = m.group(1).decode("ascii", "replace").lower().replace("-", "_")
    if enc.startswith(("utf_16", "utf_32", "utf16", "utf32")):
        return None  # an ASCII-compatible page cannot declare UTF-16 in a meta tag (WHATWG: read as UTF-8)
    return "gb18030" if enc in GB_FAMILY else enc


def _decode_html(data: bytes) -> tuple[str, str]:
    declared = _html_charset(data)
    if declared and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            codecs.lookup(declared)
            text = data.decode(declared)
            if "\x00" not in text:
                return text, codec_name(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_bytes(data)


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
    title = clean_site_title(text_of(title_node)) if title_node is not None else None
    og = tree.css_first('meta[property="og:title"]')
    og_title = (og.attributes.get("content") or "").strip() if og is not None else ""
    for h in h1s:
        if not title or h in title or title in h:
            return h
    return title or og_title or (h1s[0] if h1s else None)


def _html_published(tree: Any) -> str | None:
    for node in tree.css("meta"):
        attrs = node.attributes
        name = (attrs.get("name") or attrs.get("property") or attrs.get("itemprop") or "").strip().lower()
        if name in _META_DATE_NAMES and (d := iso_date(attrs.get("content") or "")):
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


def read_html(path: Path, data: bytes) -> RawDocument:
    """The article text of an HTML page with its title and date; raises Unreadable (too deeply nested …)."""
    raw, enc = _decode_html(data)
    if (depth := _html_depth(raw)) > MAX_HTML_DEPTH:
        raise Unreadable(f"document structure too deeply nested ({depth} levels > {MAX_HTML_DEPTH})")
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(raw)
    page_text = normalize_text(_block_text(tree))
    cleaned = LexborHTMLParser(raw)
    _strip_chrome(cleaned)
    cleaned_html = cleaned.html or ""
    # trafilatura keeps the article body; chrome is removed first because on short pages it keeps everything.
    body = _trafilatura(cleaned_html).strip() or _trafilatura(raw).strip()
    if not body:
        body = "\n".join(drop_web_chrome(normalize_text(_block_text(cleaned)).split("\n")))
    text = normalize_text(_INLINE_ARTICLE.sub("\n", body))
    title = _html_title(tree) or md_title(text)
    published = _html_published(tree) or stated_date(text) or stated_date(page_text)
    return RawDocument(path, "html", text, title, published, enc)
