"""Canonical text normalisation: every stored offset in policykg indexes the output of `normalize_text`."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text"]

# CJK Radicals Supplement (U+2E80–U+2EFF) characters that PDF text extraction emits in place of ordinary
# ideographs. Only two of them (U+2E9F, U+2EF3) have an NFKC decomposition, so the rest are mapped here to
# their equivalent unified ideographs (Unicode EquivalentUnifiedIdeograph.txt).
_RADICAL_SUPPLEMENT: dict[str, str] = {
    "\u2e81": "厂", "\u2e85": "亻", "\u2e86": "冂", "\u2e89": "刂", "\u2e8a": "卜", "\u2e8b": "㔾",
    "\u2e8c": "小", "\u2e8e": "兀", "\u2e8f": "尣", "\u2e90": "尢", "\u2e92": "巳", "\u2e93": "幺",
    "\u2e94": "彑", "\u2e96": "忄", "\u2e97": "㣺", "\u2e98": "扌", "\u2e99": "攵", "\u2e9b": "旡",
    "\u2e9c": "日", "\u2e9d": "月", "\u2e9e": "歺", "\u2e9f": "母", "\u2ea0": "民", "\u2ea1": "氵",
    "\u2ea2": "氺", "\u2ea3": "灬", "\u2ea4": "爫", "\u2ea6": "丬", "\u2ea8": "犭", "\u2ea9": "王",
    "\u2eaa": "疋", "\u2eab": "罒", "\u2eac": "示", "\u2ead": "礻", "\u2eae": "竹", "\u2eaf": "糸",
    "\u2eb0": "纟", "\u2eb2": "罒", "\u2eb3": "㓁", "\u2eb6": "羊", "\u2eb7": "羊", "\u2eb9": "耂",
    "\u2eba": "肀", "\u2ebb": "聿", "\u2ebc": "月", "\u2ebd": "臼", "\u2ebe": "艹", "\u2ebf": "艹",
    "\u2ec0": "艹", "\u2ec1": "虎", "\u2ec2": "衤", "\u2ec3": "覀", "\u2ec4": "西", "\u2ec5": "见",
    "\u2ec6": "角", "\u2ec8": "讠", "\u2ec9": "贝", "\u2eca": "𧾷", "\u2ecb": "车", "\u2ecc": "辶",
    "\u2ecd": "辶", "\u2ece": "辶", "\u2ecf": "阝", "\u2ed0": "钅", "\u2ed1": "長", "\u2ed2": "镸",
    "\u2ed3": "长", "\u2ed4": "门", "\u2ed6": "阝", "\u2ed7": "雨", "\u2ed8": "青", "\u2ed9": "韦",
    "\u2eda": "页", "\u2edb": "风", "\u2edc": "飞", "\u2edd": "食", "\u2edf": "飠", "\u2ee0": "饣",
    "\u2ee2": "马", "\u2ee3": "骨", "\u2ee4": "鬼", "\u2ee5": "鱼", "\u2ee6": "鸟", "\u2ee7": "卤",
    "\u2ee8": "麦", "\u2ee9": "黄", "\u2eea": "黾", "\u2eeb": "斉", "\u2eec": "齐", "\u2eed": "歯",
    "\u2eee": "齿", "\u2eef": "竜", "\u2ef0": "龙", "\u2ef1": "龜", "\u2ef2": "亀", "\u2ef3": "龟",
}  # fmt: skip

# Kangxi radicals / radicals supplement, CJK compatibility ideographs (+ supplement).
_COMPAT_CJK = re.compile("[\u2e80-\u2fdf\uf900-\ufaff\U0002f800-\U0002fa1f]")
# Zero-width characters, and C0/C1 controls except \t and \n (\r is handled before), and lone surrogates.
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BOOKMARK = re.compile(r"\[bookmark:[^\]\n]*\]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _compat_cjk(match: re.Match[str]) -> str:
    ch = match.group()
    return _RADICAL_SUPPLEMENT.get(ch) or unicodedata.normalize("NFKC", ch)


def normalize_text(text: str) -> str:
    """Return the canonical stored form of `text` (idempotent).

    Removes Word residue (``[bookmark: …]``), maps CJK radicals and compatibility ideographs to unified
    ideographs (NFKC for those characters only: full-width punctuation and digits are kept), unifies line
    ends to ``\\n``, drops zero-width and control characters, strips every line, keeps at most one blank
    line in a row, and ends the text with exactly one ``\\n`` ("" if nothing is left).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _INVISIBLE.sub("", text)
    text = _COMPAT_CJK.sub(_compat_cjk, text)
    # Removing one bookmark may complete another one around it ("[book[bookmark: x]mark: y]").
    while True:
        stripped = _BOOKMARK.sub("", text)
        if stripped == text:
            break
        text = stripped
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_RUNS.sub("\n\n", text).strip()
    return text + "\n" if text else ""
