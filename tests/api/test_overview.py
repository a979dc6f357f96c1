"""The responsibility overview: units × regulations (or × years) weighted by measures, and one edge expanded.

Every weight is checked against a count made independently from ``kb.measures_for`` (the measures of
each regulation with their units and evidence); every expanded edge's quotes against the document text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from policykg.api.errors import InvalidParameter, KnowledgeBaseError, NotFound
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from policykg.graph.readmodels import Overview, to_json

Pair = tuple[str, str]


def expected(kb: KnowledgeBase, *, by: str = "regulation", issuer: str | None = None, year_from: int | None = None,
             year_to: int | None = None, methods: Sequence[str] | None = None,
             relation: str | None = "implements") -> dict[Pair, set[str]]:
    """(unit id, regulation id or "year:Y") → ids of the measures behind that edge, from measures_for alone."""
    issuers = {d.id: d.issuer or "" for d in kb.documents()}
    out: dict[Pair, set[str]] = defaultdict(set)
    for reg in kb.regulations():
        for m in kb.measures_for(reg.id, methods=methods, relations=[relation] if relation else None).measures:
            if (issuer and issuer not in issuers[m.document.id]) or (year_from and (m.year or 0) < year_from) or (
                    year_to and (m.year or 0) > year_to):
                continue
            if by == "year" and m.year is None:
                continue
            target = reg.id if by == "regulation" else f"year:{m.year}"
            for u in m.units:
                out[(u.id, target)].add(m.id)
    return out


def check_weights(ov: Overview, want: dict[Pair, set[str]]) -> None:
    """Edge and node weights equal the independent count (nothing is cut at these sizes)."""
    assert ov.left_out.units == ov.left_out.targets == ov.left_out.edges == 0
    assert {(e.source, e.target): e.weight for e in ov.edges} == {pair: len(ids) for pair, ids in want.items()}
    for e in ov.edges:
        assert sum(e.methods.values()) == e.weight
    units: dict[str, set[str]] = defaultdict(set)
    targets: dict[str, set[str]] = defaultdict(set)
    for (u, t), ids in want.items():
        units[u] |= ids
        targets[t] |= ids
    assert {n.id: n.weight for n in ov.units} == {u: len(ids) for u, ids in units.items()}
    assert {n.id: n.weight for n in ov.targets} == {t: len(ids) for t, ids in targets.items()}
    assert ov.measures == len(set().union(*want.values())) if want else ov.measures == 0
    assert [n.weight for n in ov.units] == sorted((n.weight for n in ov.units), reverse=True)


def check_edges(kb: KnowledgeBase, ov: Overview, want: dict[Pair, set[str]], **filters: object) -> None:
    """Each edge expands into exactly its measures; each link's quote is the document text at its offsets."""
    texts: dict[str, str] = {}
    for e in ov.edges:
        target = {"regulation": e.target} if ov.by == "regulation" else {"year": int(e.target.split(":", 1)[1])}
        detail = kb.overview_edge(e.source, **target, **filters)  # type: ignore[arg-type]
        assert detail.unit.id == e.source and detail.weight == e.weight == len(detail.measures)
        assert {m.id for m in detail.measures} == want[(e.source, e.target)]
        for m in detail.measures:
            assert m.links and any(u.id == e.source for u in m.units)
            if ov.by == "regulation":
                assert detail.regulation is not None and detail.regulation.id == e.target
                assert {x.regulation.id for x in m.links} == {e.target}
            else:
                assert m.year == detail.year
            text = texts.setdefault(m.document.id, kb.document(m.document.id).text)
            for link in m.links:
                assert link.quote and text[link.start:link.end] == link.quote


# ---------------------------------------------------------------- the founding report's store
def test_overview_weights(founding_kb: KnowledgeBase) -> None:
    kb = founding_kb
    want = expected(kb)
    ov = kb.overview()
    check_weights(ov, want)
    assert ov.by == "regulation" and ov.without_unit == 0
    labels = {n.id: n.label for n in [*ov.units, *ov.targets]}
    pairs = {(labels[e.source], labels[e.target]): e.weight for e in ov.edges}
    # 3 measures name 实验动物: two implement it; 执法人员就《…》《实验动物管理条例》等法律法规开展普法宣传 studies it
    assert pairs[("天津市科学技术局", "实验动物管理条例")] == 2
    assert kb.overview(relation="studies").edges
    assert ("天津市科学技术局主要负责人", "党政主要负责人履行推进法治建设第一责任人职责规定") in pairs
    check_edges(kb, ov, want)


def test_overview_by_year(founding_kb: KnowledgeBase) -> None:
    want = expected(founding_kb, by="year")
    ov = founding_kb.overview(by="year")
    check_weights(ov, want)
    # the 2024 plan studies and drafts (学习宣传《…》, 制定…); what the bureau implemented is all in 2023
    assert [n.label for n in ov.targets] == ["2023"] and {n.type for n in ov.targets} == {"year"}
    check_edges(founding_kb, ov, want)
    every = founding_kb.overview(by="year", relation=None)
    check_weights(every, expected(founding_kb, by="year", relation=None))
    assert [n.label for n in every.targets] == ["2023", "2024"]


@pytest.mark.parametrize("filters", [
    {"methods": ["citation"], "relation": None}, {"methods": ["alias", "topic"]}, {"year_from": 2024, "relation": None}, {"year_to": 2023},
    {"issuer": "科学技术局"}, {"issuer": "天津市科学技术局", "year_from": 2023, "year_to": 2023, "methods": ["topic"]},
])
def test_overview_filters(founding_kb: KnowledgeBase, filters: dict[str, object]) -> None:
    want = expected(founding_kb, **filters)  # type: ignore[arg-type]
    assert want  # each filter keeps something in this store
    ov = founding_kb.overview(**filters)  # type: ignore[arg-type]
    check_weights(ov, want)
    check_edges(founding_kb, ov, want, **filters)
    if "relation" not in filters:  # implements is the default
        same = founding_kb.overview(**filters, relation="implements")  # type: ignore[arg-type]
        assert (same.edges, same.units, same.targets) == (ov.edges, ov.units, ov.targets)


def test_relations_cut_and_errors(founding_kb: KnowledgeBase) -> None:
    kb = founding_kb
    for relation in ("drafts", "revises", "studies"):  # each relation alone, counted as measures_for counts it
        check_weights(kb.overview(relation=relation), expected(kb, relation=relation))
    full = kb.overview()
    cut = kb.overview(max_units=1, max_targets=2)
    assert [n.id for n in cut.units] == [full.units[0].id] and [n.id for n in cut.targets] == [n.id for n in full.targets[:2]]
    assert cut.left_out.units == len(full.units) - 1 and cut.left_out.targets == len(full.targets) - 2
    assert cut.left_out.edges == len(full.edges) - len(cut.edges)
    assert all(e.source == full.units[0].id and e.target in {n.id for n in full.targets[:2]} for e in cut.edges)
    with pytest.raises(KnowledgeBaseError, match="relation"):
        kb.overview(relation="cites")
    with pytest.raises(KnowledgeBaseError, match="by"):
        kb.overview(by="unit")
    with pytest.raises(KnowledgeBaseError, match="method"):
        kb.overview(methods=["guess"])
    with pytest.raises(InvalidParameter):
        kb.overview(issuer="深圳市人民政府")
    with pytest.raises(InvalidParameter):
        kb.overview_edge("天津市科学技术局")
    with pytest.raises(InvalidParameter):
        kb.overview_edge("天津市科学技术局", regulation="实验动物管理条例", year=2023)
    with pytest.raises(NotFound):
        kb.overview_edge("没有这个单位", year=2023)
    with pytest.raises(NotFound):
        kb.overview_edge("天津市科学技术局", regulation="没有这部条例")
    assert kb.overview_edge("局党委", regulation="实验动物管理条例").measures == []  # no such edge: nothing behind it


def test_http(founding_kb: KnowledgeBase) -> None:
    kb = founding_kb
    with TestClient(create_app(kb)) as client:
        assert client.get("/graph/overview").json() == to_json(kb.overview())
        r = client.get("/graph/overview", params={"by": "year", "method": ["citation", "alias"], "from": 2023, "issuer": "科学技术局"})
        assert r.status_code == 200
        assert r.json() == to_json(kb.overview(by="year", methods=["citation", "alias"], year_from=2023, issuer="科学技术局"))
        assert client.get("/graph/overview", params={"relation": "drafts"}).json() == to_json(kb.overview(relation="drafts"))
        unit = kb.find_unit("天津市科学技术局").id
        edge = client.get("/graph/overview/edge", params={"unit": "天津市科学技术局", "regulation": "实验动物管理条例"})
        assert edge.status_code == 200
        assert edge.json() == to_json(kb.overview_edge(unit, regulation="实验动物管理条例"))
        assert edge.json()["weight"] == 2
        by_year = client.get("/graph/overview/edge", params={"unit": unit, "year": 2023, "method": "citation"}).json()
        assert by_year["year"] == 2023 and all(x["method"] == "citation" for m in by_year["measures"] for x in m["links"])
        bad: list[tuple[dict[str, str | int], int]] = [
            ({"by": "unit"}, 422), ({"relation": "cites"}, 422), ({"method": "guess"}, 422),
            ({"from": 2024, "to": 2023}, 422), ({"issuer": "深圳"}, 422), ({"max_units": 0}, 422),
        ]
        for params, status in bad:
            assert client.get("/graph/overview", params=params).status_code == status, params
        bad_edges: list[tuple[dict[str, str | int], int]] = [
            ({"unit": unit}, 422), ({"unit": "没有", "year": 2023}, 404),
            ({"unit": unit, "regulation": "没有"}, 404), ({"regulation": "实验动物管理条例"}, 422),
        ]
        for params, status in bad_edges:
            assert client.get("/graph/overview/edge", params=params).status_code == status, params


def test_focus_cut_keeps_whole_paths(founding_kb: KnowledgeBase) -> None:
    """A neighbourhood two steps out that the cap cuts still reaches the second step: measures that lead
    on to a regulation come first, each with its regulations."""
    from policykg.api.views import graph_view

    unit = founding_kb.find_unit("天津市科学技术局")
    whole = graph_view(founding_kb, center=unit.id, depth=2)
    cut = graph_view(founding_kb, center=unit.id, depth=2, max_nodes=10)
    assert not whole["truncated"] and cut["truncated"] and len(cut["nodes"]) == 10
    ids = {n["id"] for n in cut["nodes"]}
    regulations = {n["id"] for n in cut["nodes"] if n["type"] == "regulation"}
    assert unit.id in ids and regulations
    linked = {(e["source"], e["target"]) for e in cut["edges"] if e["relation"] in ("implements", "drafts", "revises", "studies")}
    assert all(any(t == r for _, t in linked) for r in regulations)
    assert all(s in ids and t in ids for s, t in linked)


# ---------------------------------------------------------------- the whole corpus
@pytest.mark.slow
def test_corpus_overview(corpus_kb: KnowledgeBase) -> None:
    kb = corpus_kb
    for by in ("regulation", "year"):
        want = expected(kb, by=by)
        ov = kb.overview(by=by)
        check_weights(ov, want)
        check_edges(kb, ov, want)
    ov = kb.overview()
    labels = {n.id: n.label for n in [*ov.units, *ov.targets]}
    top = ov.edges[0]
    pairs = {(labels[e.source], labels[e.target]): e.weight for e in ov.edges}
    assert labels[top.source] == "中华人民共和国国务院" and pairs[("中华人民共和国国务院", "优化营商环境条例")] >= 3
    shenzhen = expected(kb, issuer="深圳", methods=["semantic"], year_from=2020)
    check_weights(kb.overview(issuer="深圳", methods=["semantic"], year_from=2020), shenzhen)
    cut = kb.overview(max_units=3, max_targets=10)
    assert len(cut.units) == 3 and len(cut.targets) == 10
    assert cut.left_out.units == len(ov.units) - 3 and cut.left_out.targets == len(ov.targets) - 10
