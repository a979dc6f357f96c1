"""RawDocument (a file's normalised text and what the file says about its title and date) and what every
format reader shares to build one: the failure reason, byte decoding (BOM, UTF-8, charset-normalizer; the
GBK family read as GB18030), the title and date a text states, and dropping the chrome of a web page."""

from __future__ import annotations

import codecs
import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RawDocument:
    """A document's normalised text plus what the document itself says about its title and date."""

    path: Path
    format: str  # "txt" | "md" | "docx" | "pdf" | "html"
    text: str  # already normalize_text()-ed
    title: str | None
    published: str | None  # ISO date
    encoding: str | None  # txt/md/html: the detected encoding


class Unreadable(Exception):
    """A reason why a file cannot be read; ``read_document`` turns it into a ReadError with the path."""


# ------------------------------------------------------------------------------------- title and date

CN_NUMERALS = "零〇一二三四五六七八九十百千万两"
_TITLE_BAD_END = "。！？；，、：,.;:!?…"
_DATE = re.compile(r"((?:19|20)\d{2})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
_LABELLED_DATE = re.compile(r"^(?:(?:发布|公布|印发|成文|发文)(?:日期|时间)|日期)\s*[:：]\s*(.*)$")
_INFO_END = "<!-- INFO END -->"


def iso_date(s: str) -> str | None:
    """The first date in ``s`` (2019年5月28日, 2019-05-28, 2019/5/28) as ISO, if it is a real date."""
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


def first_line_title(text: str) -> str | None:
    """The first non-blank line, if it looks like a title (short, no closing punctuation)."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip() if _title_like(line) else None
    return None


def md_title(text: str) -> str | None:
    """The first Markdown level-1 heading (``# …``)."""
    for line in text.split("\n"):
        if line.startswith("# "):
            return line[2:].strip().rstrip("#").strip() or None
    return None


def stated_date(text: str) -> str | None:
    """An ISO date the text states plainly: a labelled date line near the top, or the LawRefBook info block."""
    lines = text.split("\n")
    for line in lines[:30]:
        m = _LABELLED_DATE.match(line)
        if m and (d := iso_date(m[1])):
            return d
    if _INFO_END in text:
        for line in lines[: lines.index(_INFO_END) if _INFO_END in lines else 30]:
            if re.search(r"(公布|发布)\s*$", line) and (d := iso_date(line)):
                return d
    return None


def clean_site_title(title: str | None) -> str | None:
    """'实验动物管理条例_政策法规' → '实验动物管理条例' (drop the site/section suffix)."""
    if not title:
        return None
    first = re.split(r"_| [|｜] | - | — | – |[|｜]", title.strip())[0].strip()
    return first or title.strip() or None


# ------------------------------------------------------------------------------------------- decoding

GB_FAMILY = {"gbk", "gb2312", "gb18030", "cp936", "ms936", "hz", "hz_gb_2312", "euc_cn", "euccn", "x_gbk"}


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    return bad / len(text)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode bytes from their content (BOM, strict UTF-8, then charset-normalizer); GBK family → gb18030."""
    binary = Unreadable("binary or unknown encoding")
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
        if enc in GB_FAMILY:
            enc = "gb18030"
        try:
            text = data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            text = data.decode(enc, errors="replace") if enc != best.encoding else str(best)
            if text.count("\ufffd") > max(2, len(text) // 100):
                raise binary from None
    if _control_ratio(text) > 0.05:
        raise binary
    return text, codec_name(enc)


def codec_name(enc: str) -> str:
    """Python's canonical name of an encoding (``GBK`` → ``gbk``); unknown names unchanged."""
    try:
        return codecs.lookup(enc).name
    except LookupError:
        return enc


# ------------------------------------------------------------------------------------ web-page chrome

# a line that starts a block of its own: a heading, an article (第…条), a list item
BLOCK_START = re.compile(
    rf"^(?:#|<!--|第[{CN_NUMERALS}\d]+[条章节编](?:之[{CN_NUMERALS}]+)?(?:\s|$)|第[{CN_NUMERALS}\d]+部分|[{CN_NUMERALS}]+、|"
    rf"[（(][{CN_NUMERALS}\d]+[)）]|\d+[.．、](?!\d)|[①-⑳])"
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


def _is_nav(line: str) -> bool:
    parts = [p.strip() for p in re.split(r"[|｜]", line)]
    return len(parts) >= 3 and all(0 < len(p) <= 10 for p in parts)


def drop_web_chrome(lines: list[str]) -> list[str]:
    """Drop navigation, breadcrumb, tool and footer lines, and a trailing list of related links."""
    out = [ln for ln in lines if not (_WEB_CHROME.search(ln) or _is_nav(ln))]
    for i in range(len(out) - 1, max(-1, len(out) - 30), -1):
        if _RELATED_HEAD.match(out[i]):
            tail = out[i + 1 :]
            if len(tail) <= 15 and not any(BLOCK_START.match(t) for t in tail):
                return out[:i]
    return out
