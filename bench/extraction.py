"""Extraction quality against the hand-annotated gold set: precision and recall per category and document.

    python bench/extraction.py --data DIR              # a store holding the gold documents (e.g. a copy of the corpus store)
    python bench/extraction.py                         # builds one in a temp dir: the gold documents + the shared regulations
    python bench/extraction.py --build DIR             # the same, kept in DIR (score it again with --data DIR)
    python bench/extraction.py --data DIR --verbose    # and every miss and false positive, with its quote
    python bench/extraction.py --data DIR --json out.json

Gold: ``bench/data/extraction/*.json``, one file per document, annotated by reading the text. Offsets index the
normalised text (``ingest.normalize.normalize_text``, what the store keeps); ``text_sha256`` detects a changed text
(the document is then skipped), and every offset carries its quote (``head``/``tail`` for long spans). Only the
``scope`` spans of a document were annotated: extracted items outside them are not scored. Entries marked
``optional`` count neither for recall nor against precision (a defensible reading either way).

A gold file: ``document`` (path in the corpus), ``issuer``, ``jurisdiction``, ``text_sha256``, ``text_length``,
``scope`` [{start, end, head, tail, note}], ``measures`` [{id, start, end, head, tail, status, parent, units:
[{name (full, in the issuer's jurisdiction), aliases?, mention?, start?, end?, default?, optional?, kind?,
either_source? (named only by 我们: named or default both right)}]}], ``mentions`` [{start, end, quote, form
(quoted | alias | bare), measure, relation, regulation: {name, aliases?, kind (or a list of acceptable kinds),
jurisdiction (null: national)}}], ``implicit_links`` [{measure, regulation, article, relation, start?, end?,
quote?}], ``indicators`` [{start, end, quote, measure, value, unit, label, label_key?, approximate, bound (at least
| at most | null), kind (actual | target | requirement), change (+ | - | null)}], ``notes``.

Matching: measures one-to-one by span (IoU >= 0.5, or the same start within 3 characters); units by name on
matched measures (full name or an accepted alias; "as written" also takes the unresolved short form);
regulation mentions by overlapping span (identity: name without 中华人民共和国 / jurisdiction prefix, kind,
jurisdiction); implicit links as (gold measure, regulation) pairs, the extracted link's measure mapped to the gold
measure it matches (else the one it overlaps most); indicators by overlapping span and equal value in the same
base unit (万/亿/万亿 scaled). The store is read through ``graph.store``'s read functions; fields other helpers
are adding (``Measure.parent_id``, ``Link.relation``, indicator ``change``) are read with ``getattr``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from policykg.graph.store import SQLiteStore
from policykg.ingest.normalize import normalize_text

GOLD_DIR = Path(__file__).resolve().parent / "data" / "extraction"
CORPUS = Path(os.environ.get("POLICYKG_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
START_SLACK = 3  # measures: the same start within this many characters is a match

# category -> (what it is, target precision, target recall); a rate has no recall
CATEGORIES: dict[str, tuple[str, float | None, float | None]] = {
    "measures": ("measures, item level (headings and their items)", 0.90, 0.90),
    "measure items": ("child items (一是…, （1）…) of a heading's measure", 0.90, 0.90),
    "item parent": ("matched child items: the parent is the heading's measure", None, None),
    "measure status": ("done / planned right, on matched measures", None, None),
    "units": ("units per measure, full name in the issuer's jurisdiction", 0.90, 0.80),
    "units as written": ("units per measure, short form accepted", None, None),
    "units source": ("matched measures: units named in the text vs the issuer by default, told right", None, None),
    "mentions explicit": ("regulation mentions in 《》 (and 《条例》 aliases)", 1.0, 1.0),
    "mentions bare": ("regulations named without 《》", None, None),
    "mention identity": ("matched mentions: name, kind, jurisdiction right", 0.95, None),
    "mention relation": ("matched mentions in a measure: implements/drafts/revises/studies right", None, None),
    "implicit links": ("measure -> regulation links the text implies", 0.85, 0.80),
    "implicit article": ("found implicit links with a gold article: article right", None, None),
    "implicit relation": ("found implicit links: implements/drafts/revises/studies right", None, None),
    "indicators": ("figures: value and unit", 0.95, 0.85),
    "indicator flags": ("matched figures: approximate and bound right", 0.95, None),
    "indicator change": ("matched figures with a signed change: sign right", None, None),
    "indicator kind": ("matched figures: actual / target right", None, None),
    "indicator label": ("matched figures: the label names the thing counted", None, None),
}
RATES = {"item parent", "measure status", "units source", "mention identity", "mention relation", "implicit article", "implicit relation", "indicator flags",
         "indicator change", "indicator kind", "indicator label"}

_PREFIX = re.compile(r"^(中华人民共和国|深圳经济特区|[\u4e00-\u9fff]{2,7}?(?:省|自治区|特别行政区|市))")
_SCALE = (("万亿", 1e12), ("千亿", 1e11), ("百亿", 1e10), ("亿", 1e8), ("千万", 1e7), ("百万", 1e6), ("万", 1e4), ("千", 1e3))
_BOUNDS = {"at least": "at least", "min": "at least", ">=": "at least", "lower": "at least", "at most": "at most",
           "max": "at most", "<=": "at most", "upper": "at most"}


# ------------------------------------------------------------------ gold
def load_gold(gold_dir: Path = GOLD_DIR) -> list[dict[str, Any]]:
    """Every gold file of ``gold_dir``, by document path (the founding report first)."""
    golds = [json.loads(p.read_text(encoding="utf-8")) | {"file": p.name} for p in gold_dir.glob("*.json")]
    return sorted(golds, key=lambda g: g["document"])


def gold_text(gold: dict[str, Any], corpus: Path = CORPUS) -> str:
    """The normalised text of a gold document, read from the corpus."""
    return normalize_text((corpus / gold["document"]).read_text(encoding="utf-8"))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_gold(gold: dict[str, Any], text: str) -> list[str]:
    """Problems of one gold file against the text: drift, offsets whose quote does not match, dangling ids."""
    problems: list[str] = []
    name = gold["document"]
    if sha256(text) != gold["text_sha256"]:
        return [f"{name}: the normalised text changed (sha256 differs): offsets are stale"]

    def quoted(kind: str, item: dict[str, Any]) -> None:
        s, e = item["start"], item["end"]
        if not 0 <= s < e <= len(text):
            problems.append(f"{name}: {kind} [{s},{e}) out of range")
        elif "quote" in item and text[s:e] != item["quote"]:
            problems.append(f"{name}: {kind} [{s},{e}) is {text[s:e]!r}, not {item['quote']!r}")
        elif "head" in item and not (text[s:e].startswith(item["head"]) and text[s:e].endswith(item["tail"])):
            problems.append(f"{name}: {kind} [{s},{e}) does not run from {item['head']!r} to {item['tail']!r}")

    for sc in gold["scope"]:
        quoted("scope", sc)
    ids = {m["id"] for m in gold["measures"]}
    for m in gold["measures"]:
        quoted(f"measure {m['id']}", m)
        if m["parent"] is not None and m["parent"] not in ids:
            problems.append(f"{name}: measure {m['id']} has an unknown parent {m['parent']}")
        if not in_scope(gold, m["start"]):
            problems.append(f"{name}: measure {m['id']} is outside the scope")
        for u in m["units"]:
            if "mention" in u:
                quoted(f"unit {u['name']} of {m['id']}", u | {"quote": u["mention"]})
    for i, item in enumerate(gold["mentions"]):
        quoted(f"mention {i}", item)
        if item["measure"] is not None and item["measure"] not in ids:
            problems.append(f"{name}: mention {item['quote']} names an unknown measure {item['measure']}")
    for link in gold["implicit_links"]:
        if link["measure"] not in ids:
            problems.append(f"{name}: implicit link to {link['regulation']} names an unknown measure {link['measure']}")
        if "quote" in link:
            quoted(f"implicit link {link['measure']} -> {link['regulation']}", link)
    for item in gold["indicators"]:
        quoted(f"indicator {item['quote']}", item)
        s = item["start"]
        if item["quote"][:1].isdigit() and s > 0 and (text[s - 1].isdigit() or text[s - 1] == "."):
            problems.append(f"{name}: indicator {item['quote']} at {s} starts inside a longer number")
        if item["measure"] is not None and item["measure"] not in ids:
            problems.append(f"{name}: indicator {item['quote']} names an unknown measure {item['measure']}")
    return problems


def in_scope(gold: dict[str, Any], pos: int) -> bool:
    """Whether a position lies inside one of the annotated spans of the document."""
    return any(sc["start"] <= pos < sc["end"] for sc in gold["scope"])


# ------------------------------------------------------------------ what the store holds
@dataclass
class XUnit:
    name: str
    aliases: list[str]


@dataclass
class XMeasure:
    id: str
    start: int
    end: int
    status: str
    parent_id: str | None
    units: list[XUnit]
    unit_source: str | None = None  # "text" | "parent" | "issuer" (when the store says)


@dataclass
class XRegulation:
    name: str
    kind: str
    jurisdiction: str | None
    aliases: list[str]


@dataclass
class XMention:
    start: int
    end: int
    surface: str
    method: str
    regulation: XRegulation
    relation: str | None = None


@dataclass
class XLink:
    measure_id: str
    regulation: XRegulation
    method: str
    relation: str
    article: str | None
    start: int
    end: int
    mention_start: int | None


@dataclass
class XIndicator:
    start: int
    end: int
    value: float
    unit: str
    name: str
    kind: str
    bound: str | None
    approximate: bool
    change: str | None


@dataclass
class Extracted:
    """One document as the store holds it."""

    doc_id: str
    issuer: str | None
    text: str
    measures: list[XMeasure] = field(default_factory=list)
    mentions: list[XMention] = field(default_factory=list)
    links: list[XLink] = field(default_factory=list)
    indicators: list[XIndicator] = field(default_factory=list)


def _sign(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return "-" if value < 0 else "+" if value > 0 else None
    text = str(value).strip().lower()
    if text in {"-", "down", "decrease", "decline", "negative", "下降", "减少", "降低"}:
        return "-"
    if text in {"+", "up", "increase", "rise", "positive", "增长", "增加", "提高"}:
        return "+"
    return None


def _indicator_change(ind: Any) -> str | None:
    for attr in ("change", "direction", "sign", "delta"):
        sign = _sign(getattr(ind, attr, None))
        if sign:
            return sign
    return "-" if ind.value < 0 else None


def read_document(store: SQLiteStore, gold: dict[str, Any]) -> Extracted | None:
    """The extraction of the gold document from the store (found by path, else by its text), or None."""
    docs = [d for d in store.documents() if d.doc_type == "report"]
    path = gold["document"]
    match = [d for d in docs if d.path == path] or [d for d in docs if Path(d.path).name == Path(path).name]
    found = None
    for d in match:
        detail = store.document(d.id)
        if detail is not None:
            found = (d, detail.text)
            break
    if found is None:  # another path: look for the same text
        for d in docs:
            detail = store.document(d.id)
            if detail is not None and sha256(detail.text) == gold["text_sha256"]:
                found = (d, detail.text)
                break
    if found is None:
        return None
    doc, text = found
    out = Extracted(doc.id, doc.issuer, text)
    units = {u.id: XUnit(u.name, list(u.aliases)) for u in store.units()}
    regs = {r.id: r for r in store.regulations()}
    by_key = {r.key: r for r in regs.values() if getattr(r, "key", "")}

    def xreg(r: Any) -> XRegulation:
        return XRegulation(r.name, str(r.kind), getattr(r, "jurisdiction", None), list(getattr(r, "aliases", []) or []))

    columns = getattr(store, "_table_columns", None)  # a store older than a field reads its default: not evidence
    has_source = not callable(columns) or "unit_source" in columns("measures")
    for m in store.measures(doc.id):
        out.measures.append(XMeasure(
            m.id, m.start, m.end, m.status, getattr(m, "parent_id", None),
            [units[u] for u in m.units if u in units], getattr(m, "unit_source", None) if has_source else None,
        ))
    measure_ids = {m.id for m in out.measures}
    for link in store.links():
        if link.measure_id not in measure_ids or link.regulation_id not in regs:
            continue
        ev = link.evidence
        out.links.append(XLink(
            link.measure_id, xreg(regs[link.regulation_id]), ev.method, getattr(link, "relation", None) or "implements",
            ev.article, ev.start, ev.end, ev.mention_start,
        ))
    relation_at = {lk.mention_start: lk.relation for lk in out.links if lk.mention_start is not None}
    for c in store.citations():
        if c.doc_id != doc.id:
            continue
        reg = by_key.get(c.regulation_key)
        x = xreg(reg) if reg is not None else XRegulation(c.regulation_key, "other", None, [])
        out.mentions.append(XMention(c.start, c.end, c.surface, c.method, x, relation_at.get(c.start)))
    for ind in store.indicators(doc.id):
        out.indicators.append(XIndicator(
            ind.start, ind.end, ind.value, ind.unit, ind.name, ind.kind, getattr(ind, "bound", None),
            bool(getattr(ind, "approximate", False)), _indicator_change(ind),
        ))
    return out


# ------------------------------------------------------------------ matching helpers
def name_key(name: str) -> str:
    """A regulation name without 《》, (草案), 中华人民共和国 or a jurisdiction prefix: 天津市科学技术进步促进条例 → 科学技术进步促进条例."""
    name = re.sub(r"[《》〈〉\s]", "", name)
    name = re.sub(r"[（(](草案|征求意见稿|修订草案|\d{4}年(修订|修正)?)[）)]$", "", name)
    stripped = _PREFIX.sub("", name)
    return stripped if len(stripped) >= 3 else name


def _jurisdiction_ok(gold: str | None, got: str | None) -> bool:
    if not gold:
        return not got or got in {"中华人民共和国", "全国", "中国"}
    if not got:
        return False
    return gold.startswith(got) or got.startswith(gold) or gold.rstrip("市省") == got.rstrip("市省")


def regulation_names(gold_reg: dict[str, Any]) -> set[str]:
    return {name_key(gold_reg["name"]), *(name_key(a) for a in gold_reg.get("aliases", []))}


def same_regulation(gold_reg: dict[str, Any] | str, x: XRegulation) -> bool:
    names = regulation_names(gold_reg) if isinstance(gold_reg, dict) else {name_key(gold_reg)}
    return bool(names & {name_key(x.name), *(name_key(a) for a in x.aliases)})


def identity_right(gold_reg: dict[str, Any], x: XRegulation) -> bool:
    kinds = gold_reg["kind"] if isinstance(gold_reg["kind"], list) else [gold_reg["kind"]]
    return same_regulation(gold_reg, x) and x.kind in kinds and _jurisdiction_ok(gold_reg["jurisdiction"], x.jurisdiction)


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


def overlap(a: tuple[int, int], b: tuple[int, int], slack: int = 0) -> int:
    return min(a[1], b[1]) + slack - max(a[0], b[0])


def scaled(value: float, unit: str) -> tuple[float, str]:
    """(value in the base unit, base unit): 126 万亿元 → (1.26e14, 元); 600 万 → (6e6, "")."""
    unit = unit.strip()
    for prefix, factor in _SCALE:
        if unit.startswith(prefix):
            return abs(value) * factor, unit[len(prefix):]
    return abs(value), unit


def same_figure(g: dict[str, Any], x: XIndicator) -> bool:
    gv, gu = scaled(float(g["value"]), g["unit"])
    xv, xu = scaled(float(x.value), x.unit)
    same_unit = gu == xu or not gu or not xu  # 超600万 (人次): a bare magnitude leaves the unit to the label
    return same_unit and abs(gv - xv) <= 1e-6 * max(abs(gv), 1.0)


# ------------------------------------------------------------------ scoring
@dataclass
class Count:
    """Hits against the gold (recall) and against what was extracted (precision); for a rate, right of n."""

    tp_gold: int = 0
    gold: int = 0
    tp_found: int = 0
    found: int = 0

    def add(self, other: Count) -> None:
        self.tp_gold += other.tp_gold
        self.gold += other.gold
        self.tp_found += other.tp_found
        self.found += other.found

    @property
    def precision(self) -> float | None:
        return self.tp_found / self.found if self.found else None

    @property
    def recall(self) -> float | None:
        return self.tp_gold / self.gold if self.gold else None


@dataclass
class DocumentScore:
    document: str
    counts: dict[str, Count] = field(default_factory=lambda: {c: Count() for c in CATEGORIES})
    misses: list[str] = field(default_factory=list)  # in the gold, not found
    false: list[str] = field(default_factory=list)  # found, not in the gold
    wrong: list[str] = field(default_factory=list)  # found, with a wrong attribute
    skipped: str | None = None


def _rate(count: Count, right: bool) -> None:
    count.found += 1
    count.tp_found += int(right)


def match_measures(gold: dict[str, Any], found: Sequence[XMeasure]) -> dict[str, XMeasure]:
    """Gold measure id → the extracted measure matched to it, one-to-one, best IoU first."""
    pairs = []
    for g in gold["measures"]:
        for x in found:
            score = iou((g["start"], g["end"]), (x.start, x.end))
            if score >= 0.5 or abs(g["start"] - x.start) <= START_SLACK:
                pairs.append((max(score, 0.5 if abs(g["start"] - x.start) <= START_SLACK else 0.0), score, g["id"], x))
    pairs.sort(key=lambda p: (-p[0], -p[1]))
    out: dict[str, XMeasure] = {}
    used: set[str] = set()
    for _, _, gid, x in pairs:
        if gid not in out and x.id not in used:
            out[gid] = x
            used.add(x.id)
    return out


def _unit_names(u: dict[str, Any]) -> set[str]:
    return {u["name"], *u.get("aliases", [])}


def _unit_as_written(u: dict[str, Any], x: XUnit) -> bool:
    forms = _unit_names(u) | ({u["mention"]} if u.get("mention") else set())
    return any(n in forms or (len(n) >= 2 and any(f.endswith(n) for f in forms)) for n in [x.name, *x.aliases])


def _quote(text: str, start: int, end: int) -> str:
    return text[start:end] if end - start <= 40 else f"{text[start:start + 24]}…{text[end - 8:end]}"


def score_document(gold: dict[str, Any], x: Extracted) -> DocumentScore:
    """Every category for one document, within its annotated scope."""
    s = DocumentScore(gold["document"])
    matched = _score_measures(gold, x, s)
    _score_units(gold, x, s, matched)
    _score_mentions(gold, x, s)
    _score_links(gold, x, s, matched)
    _score_indicators(gold, x, s)
    return s


def _score_measures(gold: dict[str, Any], x: Extracted, s: DocumentScore) -> dict[str, XMeasure]:
    c = s.counts
    found = [m for m in x.measures if in_scope(gold, m.start)]
    matched = match_measures(gold, found)
    matched_ids = {xm.id for xm in matched.values()}
    optional_hits = {matched[g["id"]].id for g in gold["measures"] if g.get("optional") and g["id"] in matched}
    has_parent = any(m.parent_id for m in x.measures)
    for g in gold["measures"]:
        if g.get("optional"):
            continue
        hit = g["id"] in matched
        for cat in ("measures", *(("measure items",) if g["parent"] else ())):
            c[cat].gold += 1
            c[cat].tp_gold += int(hit)
        if not hit:
            s.misses.append(f"measure {g['id']} [{g['start']},{g['end']}) {_quote(x.text, g['start'], g['end'])}")
    for m in found:
        if m.id in optional_hits:
            continue
        c["measures"].found += 1
        c["measures"].tp_found += int(m.id in matched_ids)
        if has_parent and m.parent_id:  # an item found: right when it is a gold measure (its heading may be out of scope)
            c["measure items"].found += 1
            c["measure items"].tp_found += int(m.id in matched_ids)
        if m.id not in matched_ids:
            s.false.append(f"measure [{m.start},{m.end}) {_quote(x.text, m.start, m.end)}")
    by_id = {g["id"]: g for g in gold["measures"]}
    for g in gold["measures"]:
        if g["parent"] and not g.get("optional") and g["id"] in matched and g["parent"] in matched:
            right = matched[g["id"]].parent_id == matched[g["parent"]].id
            _rate(c["item parent"], right)
            if not right:
                s.wrong.append(f"measure {g['id']}: parent {matched[g['id']].parent_id}, gold {g['parent']}")
    for gid, m in matched.items():
        _rate(c["measure status"], m.status == by_id[gid]["status"])
        if m.status != by_id[gid]["status"]:
            s.wrong.append(f"measure {gid} status {m.status}, gold {by_id[gid]['status']}")
    return matched


def _score_units(gold: dict[str, Any], x: Extracted, s: DocumentScore, matched: dict[str, XMeasure]) -> None:
    """Units of the matched measures: required ones for recall; anything but required or optional ones is false."""
    by_id = {g["id"]: g for g in gold["measures"]}

    def strict(u: dict[str, Any], xu: XUnit) -> bool:
        return xu.name in _unit_names(u)

    for gid, m in matched.items():
        g = by_id[gid]
        where = _quote(x.text, g["start"], g["end"])
        required = [u for u in g["units"] if not u.get("optional")]
        if m.unit_source is not None and required:
            default = all(u.get("default") for u in required)
            either = any(u.get("either_source") for u in required)  # 我们 in a work report: named or by default
            right = either or m.unit_source in ({"issuer", "parent"} if default else {"text"})
            _rate(s.counts["units source"], right)
            if not right:
                s.wrong.append(f"units of {gid}: source {m.unit_source}, gold {'default' if default else 'named in the text'}")
        for cat, same in (("units", strict), ("units as written", _unit_as_written)):
            count = s.counts[cat]
            for u in required:
                found = any(same(u, xu) for xu in m.units)
                count.gold += 1
                count.tp_gold += int(found)
                if not found and cat == "units":
                    s.misses.append(f"unit {u['name']} ({u.get('mention') or 'default'}) of {gid} {where}")
            for xu in m.units:
                right = any(same(u, xu) for u in required)
                if not right and any(same(u, xu) for u in g["units"]):
                    continue  # an optional unit
                count.found += 1
                count.tp_found += int(right)
                if not right and cat == "units":
                    s.false.append(f"unit {xu.name} on {gid} {where}")


def _form(g: dict[str, Any]) -> str:
    return "mentions bare" if g["form"] == "bare" else "mentions explicit"


def _score_mentions(gold: dict[str, Any], x: Extracted, s: DocumentScore) -> None:
    c = s.counts
    xmentions = [mn for mn in x.mentions if in_scope(gold, mn.start)]
    mapped: dict[int, dict[str, Any]] = {}  # extracted mention index -> the gold mention it matches
    for g in gold["mentions"]:
        hit = next((k for k, mn in enumerate(xmentions)
                    if k not in mapped and overlap((g["start"], g["end"]), (mn.start, mn.end)) > 0), None)
        if hit is not None:
            mapped[hit] = g
        if g.get("optional"):
            continue
        c[_form(g)].gold += 1
        c[_form(g)].tp_gold += int(hit is not None)
        if hit is None:
            s.misses.append(f"mention {g['quote']} ({g['form']}, {g['relation']}) at {g['start']}")
            continue
        mn = xmentions[hit]
        reg = g["regulation"]
        right = identity_right(reg, mn.regulation)
        _rate(c["mention identity"], right)
        if not right:
            s.wrong.append(f"mention {g['quote']}: {mn.regulation.name} ({mn.regulation.kind}, {mn.regulation.jurisdiction}); "
                           f"gold {reg['name']} ({reg['kind']}, {reg['jurisdiction']})")
        if g["measure"] is not None:
            _rate(c["mention relation"], mn.relation == g["relation"])
            if mn.relation != g["relation"]:
                s.wrong.append(f"mention {g['quote']}: relation {mn.relation}, gold {g['relation']}")
    group_spans = [(lk["start"], lk["end"]) for lk in gold["implicit_links"] if "start" in lk]
    for k, mn in enumerate(xmentions):
        matched_gold = mapped.get(k)
        if matched_gold is not None and matched_gold.get("optional"):
            continue
        if matched_gold is None and any(overlap(span, (mn.start, mn.end)) > 0 for span in group_spans):
            continue  # a reference the gold holds as implicit links (科技进步“一法一条例” → its members)
        if matched_gold is None:
            cat = "mentions explicit" if mn.surface.startswith("《") else "mentions bare"
            s.false.append(f"mention {mn.surface} at {mn.start} -> {mn.regulation.name}")
        else:
            cat = _form(matched_gold)
        c[cat].found += 1
        c[cat].tp_found += int(matched_gold is not None)


def _score_links(gold: dict[str, Any], x: Extracted, s: DocumentScore, matched: dict[str, XMeasure]) -> None:
    """Implicit links as (gold measure, regulation) pairs; links that come from a mention are the mentions' business."""
    c = s.counts
    by_id = {g["id"]: g for g in gold["measures"]}
    gold_of = {xm.id: gid for gid, xm in matched.items()}
    xmeasures = {m.id: m for m in x.measures}

    def gold_measure_of(measure_id: str) -> str | None:
        if measure_id in gold_of:
            return gold_of[measure_id]
        xm = xmeasures.get(measure_id)
        if xm is None:
            return None
        best = max(gold["measures"], key=lambda g: overlap((g["start"], g["end"]), (xm.start, xm.end)), default=None)
        if best is None or overlap((best["start"], best["end"]), (xm.start, xm.end)) <= 0:
            return None
        return str(best["id"])

    def family(gid: str) -> set[str]:
        parent = by_id[gid]["parent"]
        return {gid, *([parent] if parent else []), *(k for k, v in by_id.items() if v["parent"] == gid)}

    pairs: dict[tuple[str, str], list[XLink]] = {}
    for lk in x.links:
        gid = gold_measure_of(lk.measure_id)
        if gid is not None:
            pairs.setdefault((gid, lk.regulation.name), []).append(lk)
    for g in gold["implicit_links"]:
        hits = [lk for (gid, _), lks in pairs.items() if gid == g["measure"] for lk in lks if same_regulation(g["regulation"], lk.regulation)]
        if g.get("optional"):
            continue
        c["implicit links"].gold += 1
        c["implicit links"].tp_gold += int(bool(hits))
        m = by_id[g["measure"]]
        if not hits:
            s.misses.append(f"implicit link {g['measure']} -> {g['regulation']}{' ' + g['article'] if g.get('article') else ''}"
                            f" ({g.get('quote') or _quote(x.text, m['start'], m['end'])})")
            continue
        if g.get("article"):
            _rate(c["implicit article"], g["article"] in {lk.article for lk in hits})
        relation, relations = g.get("relation", "implements"), {lk.relation for lk in hits}
        _rate(c["implicit relation"], relation in relations)
        if relation not in relations:
            s.wrong.append(f"implicit link {g['measure']} -> {g['regulation']}: relation {'/'.join(sorted(relations))}, gold {relation}")
    gold_spans = [(g["start"], g["end"]) for g in gold["mentions"]]
    for (gid, _), lks in pairs.items():
        lk = lks[0]
        from_mention = any(k.method in {"citation", "alias"} or (k.mention_start is not None and any(
            a <= k.mention_start < b for a, b in gold_spans)) for k in lks)
        if from_mention:
            continue
        named = any(g["measure"] in family(gid) and same_regulation(g["regulation"], lk.regulation) for g in gold["mentions"])
        golds = [g for g in gold["implicit_links"] if g["measure"] in family(gid) and same_regulation(g["regulation"], lk.regulation)]
        if named or (golds and all(g.get("optional") for g in golds)):
            continue
        c["implicit links"].found += 1
        c["implicit links"].tp_found += int(bool(golds))
        if not golds:
            m = by_id[gid]
            s.false.append(f"implicit link {gid} -> {lk.regulation.name} {lk.article or ''}"
                           f" ({', '.join(sorted({k.method for k in lks}))}) {_quote(x.text, m['start'], m['end'])}")


def _score_indicators(gold: dict[str, Any], x: Extracted, s: DocumentScore) -> None:
    c = s.counts
    xinds = [i for i in x.indicators if in_scope(gold, i.start) or in_scope(gold, max(i.start, i.end - 1))]
    taken: set[int] = set()
    optional_taken: set[int] = set()
    for g in gold["indicators"]:
        hit = next((k for k, i in enumerate(xinds) if k not in taken
                    and overlap((g["start"], g["end"]), (i.start, i.end), 2) > 0 and same_figure(g, i)), None)
        if hit is not None:
            taken.add(hit)
            if g.get("optional"):
                optional_taken.add(hit)
        if g.get("optional"):
            continue
        c["indicators"].gold += 1
        c["indicators"].tp_gold += int(hit is not None)
        if hit is None:
            s.misses.append(f"indicator {g['quote']} ({g['label']}) at {g['start']}")
            continue
        ind = xinds[hit]
        bound = _BOUNDS.get(str(ind.bound).lower()) if ind.bound else None
        flags_right = ind.approximate == g["approximate"] and bound == g["bound"]
        _rate(c["indicator flags"], flags_right)
        if not flags_right:
            s.wrong.append(f"indicator {g['quote']}: approximate {ind.approximate}, bound {ind.bound}; "
                           f"gold {g['approximate']}, {g['bound']}")
        if g["change"]:
            sign_right = ind.change == g["change"] or (g["change"] == "+" and ind.change is None)
            _rate(c["indicator change"], sign_right)
            if not sign_right:
                s.wrong.append(f"indicator {g['quote']}: change {ind.change}, gold {g['change']}")
        kind_right = (g["kind"] == "actual") == (ind.kind == "actual")
        _rate(c["indicator kind"], kind_right)
        if not kind_right:
            s.wrong.append(f"indicator {g['quote']}: kind {ind.kind}, gold {g['kind']}")
        if g.get("label_key"):
            _rate(c["indicator label"], g["label_key"] in ind.name)
            if g["label_key"] not in ind.name:
                s.wrong.append(f"indicator {g['quote']}: label {ind.name!r}, gold {g['label']!r}")
    for k, ind in enumerate(xinds):
        if k in optional_taken:
            continue
        c["indicators"].found += 1
        c["indicators"].tp_found += int(k in taken)
        if k not in taken:
            s.false.append(f"indicator {x.text[ind.start:ind.end]} = {ind.value:g} {ind.unit} ({ind.name}) at {ind.start}")


def shared_units(store: SQLiteStore) -> list[tuple[str, list[str]]]:
    """Units named by measures of reports of more than one issuer (a short name shared across jurisdictions)."""
    issuers = {d.id: d.issuer or "" for d in store.documents() if d.doc_type == "report"}
    names = {u.id: u.name for u in store.units()}
    by_unit: dict[str, set[str]] = {}
    for m in store.measures():
        for u in m.units:
            if m.doc_id in issuers:
                by_unit.setdefault(u, set()).add(issuers[m.doc_id])
    return sorted((names.get(u, u), sorted(i)) for u, i in by_unit.items() if len(i) > 1 and names.get(u, u) not in i)


# ------------------------------------------------------------------ running
def score(store: SQLiteStore, golds: Iterable[dict[str, Any]], corpus: Path = CORPUS) -> list[DocumentScore]:
    """Score every gold document against an open store (a document whose text or gold drifted is skipped, saying why)."""
    out = []
    for gold in golds:
        problems = check_gold(gold, gold_text(gold, corpus))
        x = read_document(store, gold)
        if problems:
            out.append(DocumentScore(gold["document"], skipped="; ".join(problems[:3])))
        elif x is None:
            out.append(DocumentScore(gold["document"], skipped="not in the store"))
        elif sha256(x.text) != gold["text_sha256"]:
            out.append(DocumentScore(gold["document"], skipped="the stored text differs from the annotated one"))
        else:
            out.append(score_document(gold, x))
    return out


def score_store(data_dir: Path, golds: Iterable[dict[str, Any]], corpus: Path = CORPUS) -> list[DocumentScore]:
    """Score every gold document against the store in ``data_dir`` (opened read-only)."""
    store = SQLiteStore(Path(data_dir) / "policykg.sqlite", readonly=True)
    try:
        return score(store, golds, corpus)
    finally:
        store.close()


def total(scores: Sequence[DocumentScore]) -> dict[str, Count]:
    out = {cat: Count() for cat in CATEGORIES}
    for s in scores:
        if s.skipped is None:
            for cat, count in s.counts.items():
                out[cat].add(count)
    return out


def _fmt(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.2f}"


def _cell(cat: str, count: Count) -> str:
    if cat in RATES:
        return f"{_fmt(count.precision)} ({count.tp_found}/{count.found})" if count.found else "-"
    if not count.gold and not count.found:
        return "-"
    return f"{_fmt(count.precision)} {_fmt(count.recall)} ({count.tp_gold}/{count.gold})"


def short_name(document: str) -> str:
    return Path(document).stem.replace("-gwr", "").replace("state-council", "sc").replace("shenzhen", "sz")


def table(scores: Sequence[DocumentScore]) -> str:
    """The table: one row per category; per document and in all, precision recall (found/gold), and the target."""
    docs = [s for s in scores if s.skipped is None]
    heads = ["category", *(short_name(s.document) for s in docs), "all", "target P / R"]
    rows = [heads]
    overall = total(scores)
    for cat, (_, tp, tr) in CATEGORIES.items():
        target = " / ".join(f"≥{t:.2f}" if t is not None else "-" for t in (tp, tr)) if tp or tr else "-"
        if cat in RATES and tp:
            target = f"≥{tp:.2f}"
        rows.append([cat, *(_cell(cat, s.counts[cat]) for s in docs), _cell(cat, overall[cat]), target])
    widths = [max(len(r[i]) for r in rows) for i in range(len(heads))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("cells: precision recall (found/gold); rates: share right (right/n)")
    for s in scores:
        if s.skipped:
            lines.append(f"skipped {s.document}: {s.skipped}")
    return "\n".join(lines)


def build_store(golds: Sequence[dict[str, Any]], corpus: Path, target: Path, encoder: Any = None) -> Path:
    """Ingest the gold documents and the shared regulations (by the manifest) into ``target``: the default encoder
    unless ``encoder`` is given (semantic links depend on it)."""
    from policykg.api.kb import KnowledgeBase

    kb = KnowledgeBase(target, encoder=encoder)
    try:
        paths = [corpus / g["document"] for g in golds] + sorted((corpus / "regulations").glob("*.md"))
        report = kb.ingest(paths, manifest=corpus / "manifest.csv")
        if not report.ok:
            raise SystemExit(f"ingest failed: {report.failed}")
    finally:
        kb.close()
    return target


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, help="a policykg data directory holding the gold documents (read only)")
    ap.add_argument("--gold", type=Path, default=GOLD_DIR, help="the gold files (default: bench/data/extraction)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="the shared corpus (default: ../shared/corpus)")
    ap.add_argument("--build", type=Path, help="without --data: build the store in this directory and keep it")
    ap.add_argument("--verbose", "-v", action="store_true", help="print the misses, false positives and wrong attributes")
    ap.add_argument("--json", type=Path, help="also write the counts as JSON")
    args = ap.parse_args(argv)
    golds = load_gold(args.gold)
    tmp = None
    data = args.data
    if data is None:
        target = args.build or Path(tempfile.mkdtemp(prefix="policykg-extraction-"))
        tmp = None if args.build else target
        print(f"building a store of {len(golds)} gold documents + the shared regulations in {target} …", file=sys.stderr)
        data = build_store(golds, args.corpus, target)
    try:
        scores = score_store(data, golds, args.corpus)
        print(table(scores))
        store = SQLiteStore(Path(data) / "policykg.sqlite", readonly=True)
        try:
            shared = shared_units(store)
        finally:
            store.close()
        print(f"units named by reports of several issuers (not one of the issuers): {len(shared)}"
              + (f", e.g. {', '.join(n for n, _ in shared[:8])}" if shared else ""))
        if args.verbose:
            for s in scores:
                if s.skipped:
                    continue
                print(f"\n== {s.document}")
                for head, items in (("missed", s.misses), ("false", s.false), ("wrong", s.wrong)):
                    for item in items:
                        print(f"  {head:6} {item}")
            for name, issuers in shared:
                print(f"  shared unit {name}: {', '.join(issuers)}")
        if args.json:
            args.json.write_text(json.dumps({
                "documents": [{"document": s.document, "skipped": s.skipped, "counts": {k: asdict(v) for k, v in s.counts.items()}}
                              for s in scores],
                "all": {k: asdict(v) for k, v in total(scores).items()},
            }, ensure_ascii=False, indent=1), encoding="utf-8")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
