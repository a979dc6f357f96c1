"""The docx, pdf, html and GB18030 versions yield the same measures and articles as their plain twins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import prepare

REPORT_TWINS = [
    ("formats/state-council-gwr-2019.gbk.txt", "reports/gov-work/state-council-gwr-2019.txt", Metadata(issuer="中华人民共和国国务院", year=2018)),
]
REGULATION_TWINS = [
    ("formats/shiyan-dongwu-guanli-tiaoli.html", "regulations/shiyan-dongwu-guanli-tiaoli.md"),
    ("formats/renlei-yichuan-ziyuan-guanli-tiaoli-2019.pdf", "regulations/renlei-yichuan-ziyuan-guanli-tiaoli-2019.md"),
]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(("variant", "plain", "meta"), REPORT_TWINS, ids=lambda v: str(v)[:30])
def test_report_twins_yield_the_same_measures(corpus: Path, variant: str, plain: str, meta: Metadata) -> None:
    a = prepare(corpus / variant, meta).extraction
    b = prepare(corpus / plain, meta).extraction
    assert len(b.measures) > 10
    assert [(m.title, _squash(m.text), m.status, m.year) for m in a.measures] == [
        (m.title, _squash(m.text), m.status, m.year) for m in b.measures
    ]
    assert sorted(c.surface for c in a.citations) == sorted(c.surface for c in b.citations)
    assert [(i.name, i.value, i.unit) for i in a.indicators] == [(i.name, i.value, i.unit) for i in b.indicators]


def test_docx_twin_of_the_founding_report(corpus: Path) -> None:
    """The .docx lacks one line the .txt has: the plan heading "(二)持续深入推动依法全面履行职能".

    Every other measure is the same; in the .docx the body of that (二) belongs to (一).
    """
    meta = Metadata(issuer="天津市科学技术局", year=2023)
    a = prepare(corpus / "formats/tianjin-kjj-fazhi-2023.docx", meta).extraction
    b = prepare(corpus / "reports/fazhi/tianjin-kjj-fazhi-2023.txt", meta).extraction
    assert "[bookmark" not in a.document.text
    done_a = [(m.title, _squash(m.text), m.units) for m in a.measures if m.status == "done"]
    done_b = [(m.title, _squash(m.text), m.units) for m in b.measures if m.status == "done"]
    assert len(done_b) == 18 and done_a == done_b
    plan_a = [m for m in a.measures if m.status == "planned"]
    plan_b = [m for m in b.measures if m.status == "planned"]
    missing = "持续深入推动依法全面履行职能"
    assert [m.title for m in plan_a] == [m.title for m in plan_b if m.title != missing]
    merged = _squash(plan_b[0].text) + _squash(plan_b[1].text).removeprefix("(二)" + missing)
    assert _squash(plan_a[0].text) == merged
    assert _squash(plan_a[1].text) == _squash(plan_b[2].text)
    assert all(m.year == 2024 for m in plan_a)
    assert sorted(c.surface for c in a.citations) == sorted(c.surface for c in b.citations)
    assert [(i.name, i.value, i.unit) for i in a.indicators] == [(i.name, i.value, i.unit) for i in b.indicators]


@pytest.mark.parametrize(("variant", "plain"), REGULATION_TWINS, ids=lambda v: str(v)[:30])
def test_regulation_twins_yield_the_same_articles(corpus: Path, variant: str, plain: str) -> None:
    a = prepare(corpus / variant, Metadata(doc_type="regulation")).extraction
    b = prepare(corpus / plain).extraction
    assert a.document.doc_type == "regulation"
    assert len(b.articles) > 30
    assert [(x.label, _squash(x.text)) for x in a.articles] == [(x.label, _squash(x.text)) for x in b.articles]
    assert [r.name for r in a.regulations] == [r.name for r in b.regulations]


def test_html_and_pdf_are_recognised_as_regulations_without_help(corpus: Path) -> None:
    for variant, _ in REGULATION_TWINS:
        doc = prepare(corpus / variant).document
        assert doc.doc_type == "regulation", variant
        assert "条例" in doc.title
