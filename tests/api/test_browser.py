"""The web page in a real browser: Debian chromium driven by Playwright against a live ``policykg serve``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import pytest

from bench.servers import running, start_policykg
from policykg.api.kb import KnowledgeBase

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]
OUT = Path(__file__).resolve().parents[2] / "bench" / "out"
REG = "实验动物管理条例"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed")


@pytest.fixture(scope="module")
def server(api_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live ``policykg serve`` on 127.0.0.1 over the session knowledge base (a failed start raises
    RuntimeError with the end of its log)."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with running(start_policykg(api_kb.data_dir, log, timeout=90)) as serve:
        yield serve.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _page(browser: Browser, width: int, height: int) -> tuple[Page, list[str]]:
    errors: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # Only 127.0.0.1 may be contacted.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("http://127.0.0.1", "data:")) else route.abort())
    return page, errors


@pytest.mark.parametrize(("width", "height", "tag"), [(1280, 800, "wide"), (390, 844, "narrow")])
def test_page_search_regulation_graph(server: str, browser: Browser, width: int, height: int, tag: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page, errors = _page(browser, width, height)
    page.goto(server + "/")

    # search: hits with the matched words highlighted
    page.fill("#q", "行政执法 普法宣传")
    page.press("#q", "Enter")
    page.wait_for_selector(".hit mark")
    assert page.locator(".hit").count() > 0
    page.screenshot(path=str(OUT / f"page-search-{tag}.png"))

    # a hit opens its passage in context, highlighted and scrolled into view
    page.locator(".hit .link").first.click()
    page.wait_for_selector("#doc-hl")
    highlighted = page.inner_text("#doc-hl")
    assert "执法" in highlighted
    assert page.locator("#doc-hl").is_visible()
    page.wait_for_timeout(300)
    box = page.locator("#doc-hl").bounding_box()
    assert box is not None and box["y"] < height and box["y"] + box["height"] > 0
    page.screenshot(path=str(OUT / f"page-document-{tag}.png"))
    page.click("#doc-close")

    # a regulation: its measures by year with evidence, and its articles
    page.click("#tabs a[data-tab=regulations]")
    page.locator("#reg-list button", has_text=REG).click()
    page.wait_for_selector("#reg-detail .measure .evidence")
    assert page.inner_text("#reg-detail h2") == REG
    assert page.locator("#reg-detail .year-group h3", has_text="2023").count() == 1
    assert page.locator("#reg-detail .article").count() > 10
    page.screenshot(path=str(OUT / f"page-regulation-{tag}.png"))

    # the responsibility graph: nodes drawn, a click shows the evidence
    page.click("#tabs a[data-tab=graph]")
    page.wait_for_function("() => window.cy && window.cy.nodes().length > 0")
    counts = page.evaluate(
        "() => ({nodes: cy.nodes().length, units: cy.nodes('[type = \"unit\"]').length,"
        " regs: cy.nodes('[type = \"regulation\"]').length, edges: cy.edges().length,"
        " visible: cy.nodes().filter(n => n.renderedPosition().x > 0).length})"
    )
    assert counts["nodes"] > 10 and counts["units"] > 0 and counts["regs"] > 0 and counts["edges"] > 0 and counts["visible"] > 0
    page.evaluate("() => cy.nodes('[type = \"regulation\"]').max(n => n.degree()).ele.emit('tap')")
    page.wait_for_selector("#node-info .evidence .quote")
    page.wait_for_timeout(300)
    name = "page-graph.png" if tag == "wide" else f"page-graph-{tag}.png"
    page.screenshot(path=str(OUT / name))

    # filter the graph by regulation
    page.select_option("#g-reg", label=REG)
    page.click("#graph-form button")
    page.wait_for_function("() => window.cy && window.cy.nodes('[type = \"regulation\"]').length === 1")

    # the year-by-year chart of a topic
    page.click("#tabs a[data-tab=timeline]")
    page.fill("#t-q", "行政执法")
    page.press("#t-q", "Enter")
    page.wait_for_selector("#chart svg rect.bar")
    assert page.locator("#timeline-list .hit").count() > 0
    page.screenshot(path=str(OUT / f"page-timeline-{tag}.png"))

    # Chinese text is laid out in a CJK font (not tofu boxes)
    font = page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert "Noto Sans CJK SC" in font
    assert page.evaluate("() => document.fonts.check('16px \"Noto Sans CJK SC\"', '政策')")
    # no horizontal scrolling on the narrow screen
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert errors == [], errors
    page.close()


def test_viz_file_opens_offline(api_kb: KnowledgeBase, browser: Browser, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policykg.api.cli import app

    out = tmp_path / "viz.html"
    result = CliRunner().invoke(app, ["viz", "--out", str(out), "--data", str(api_kb.data_dir)])
    assert result.exit_code == 0, result.output
    page, errors = _page(browser, 1280, 800)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort())
    page.goto(out.as_uri())
    page.wait_for_function("() => window.cy && window.cy.nodes().length > 0")
    page.evaluate("() => cy.nodes('[type = \"measure\"]')[0].emit('tap')")
    page.wait_for_selector("#info h2")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "viz-offline.png"))
    assert errors == [], errors
    page.close()


# ---------------------------------------------------------------- the corpus: overview, focus, export, coverage
VIEWPORTS = [(1280, 800, "wide"), (390, 844, "narrow")]
BUSY_REG = "优化营商环境条例"


@pytest.fixture(scope="module")
def corpus_server(corpus_store: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``policykg serve`` over the whole corpus."""
    log = tmp_path_factory.mktemp("serve-corpus") / "serve.log"
    with running(start_policykg(corpus_store.data_dir, log, timeout=90)) as serve:
        yield serve.url


def _record_timing(name: str, ms: float) -> None:
    """Page timings go to bench/out/page-timings.json (a figure to read, not a limit to assert)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "page-timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = round(ms, 1)
    path.write_text(json.dumps(timings, indent=2, ensure_ascii=False))


def _side_measures(page: Page) -> int:
    page.wait_for_selector("#side:not([hidden]) #side-body .measure .evidence .quote")
    return int(page.locator("#side-body .measure").count())


def _no_horizontal_scroll(page: Page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize(("width", "height", "tag"), VIEWPORTS)
def test_overview_matrix_and_network(
    corpus_server: str, corpus_store: KnowledgeBase, browser: Browser, width: int, height: int, tag: str, tmp_path: Path,
) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page, errors = _page(browser, width, height)
    overview = corpus_store.overview()
    page.goto(corpus_server + "/#/overview")
    page.wait_for_selector("#overview-table td.edge")
    _record_timing(f"overview matrix drawn after navigation ({tag}), ms", page.evaluate("() => performance.now()"))
    # one row per unit, one column per regulation, one shaded cell per edge, weights as the API says
    assert page.locator("#overview-table tbody tr").count() == len(overview.units)
    assert page.locator("#overview-table thead th.m-col").count() == len(overview.targets) + 1
    cells = page.evaluate("() => [...document.querySelectorAll('#overview-table td.edge')].map(td => [td.dataset.unit, td.dataset.target, +td.dataset.weight])")
    assert sorted(map(tuple, cells)) == sorted((e.source, e.target, e.weight) for e in overview.edges)
    assert "个单位" in page.inner_text("#overview-status")
    _no_horizontal_scroll(page)
    page.screenshot(path=str(OUT / f"overview-matrix-{tag}.png"))

    # the matrix exports as PNG and SVG (one row label per unit)
    with page.expect_download() as png_info:
        page.click("#o-png")
    png = tmp_path / "overview.png"
    png_info.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with page.expect_download() as svg_info:
        page.click("#o-svg")
    svg = tmp_path / "overview.svg"
    svg_info.value.save_as(svg)
    root = ElementTree.parse(svg).getroot()
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and {u.label[:12] for u in overview.units} <= {t[:12] for t in texts if t}

    # a click on the heaviest cell (an edge) lists its measures with their evidence quotes
    top = overview.edges[0]
    page.locator(f'#overview-table td.edge[data-unit="{top.source}"][data-target="{top.target}"]').click()
    assert _side_measures(page) == top.weight
    labels = {n.id: n.label for n in [*overview.units, *overview.targets]}
    assert page.inner_text("#side-title") == f"{labels[top.source]} → {labels[top.target]}"
    page.screenshot(path=str(OUT / f"overview-edge-{tag}.png"))
    page.click("#side-close")

    # the same aggregate as a two-column network: a tap on an edge lists its measures
    page.click("#o-network")
    page.wait_for_function("() => window.cyOverview && cyOverview.edges().length > 0")
    assert page.evaluate("() => cyOverview.edges().length") == len(overview.edges)
    assert page.evaluate("() => cyOverview.nodes('[type = \"unit\"]').length") == len(overview.units)
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUT / f"overview-network-{tag}.png"))
    weight = page.evaluate("() => { const e = cyOverview.edges().max(e => e.data('weight')).ele; e.emit('tap'); return e.data('weight'); }")
    assert weight == top.weight and _side_measures(page) == weight
    page.click("#side-close")

    # units × years, filtered by a link method
    page.click("#o-matrix")
    page.wait_for_function("() => !location.hash.includes('mode=network') && !document.querySelector('#overview-matrix').hidden")
    page.select_option("#o-by", "year")
    page.select_option("#o-method", "semantic")
    page.click("#overview-form button[type=submit]")
    page.wait_for_function("() => location.hash.includes('by=year') && document.querySelector('#overview-table th.m-year')")
    by_year = corpus_store.overview(by="year", methods=["semantic"])
    page.wait_for_function(f"() => document.querySelectorAll('#overview-table td.edge').length === {len(by_year.edges)}")
    assert page.locator("#overview-table thead th.m-year").count() == len(by_year.targets)
    page.locator("#overview-table td.edge").first.click()
    assert _side_measures(page) >= 1
    assert page.locator("#side-body .badge.m-semantic").count() >= 1
    page.click("#side-close")
    page.screenshot(path=str(OUT / f"overview-years-{tag}.png"))
    _no_horizontal_scroll(page)
    assert errors == [], errors
    page.close()


def _positions(page: Page) -> dict[str, tuple[float, float]]:
    raw = page.evaluate("() => Object.fromEntries(cy.nodes().map(n => [n.id(), [n.position('x'), n.position('y')]]))")
    return {k: (round(v[0], 3), round(v[1], 3)) for k, v in raw.items()}


@pytest.mark.parametrize(("width", "height", "tag"), VIEWPORTS)
def test_focus_stable_and_export(
    corpus_server: str, corpus_store: KnowledgeBase, browser: Browser, width: int, height: int, tag: str, tmp_path: Path,
) -> None:
    page, errors = _page(browser, width, height)
    page.goto(corpus_server + "/#/graph")
    page.wait_for_function("() => window.cy && window.cy.nodes().length > 0")
    unit = corpus_store.find_unit("天津市科学技术局")
    page.fill("#g-focus", unit.name)
    page.click("#focus-form button[type=submit]")
    page.wait_for_function(f"() => location.hash.includes('center=') && window.cy && cy.getElementById({json.dumps(unit.id)}).nonempty()")
    page.wait_for_timeout(200)
    # the neighbourhood two steps out: the unit, its measures, and their regulations and units
    view = corpus_store_view(corpus_store, unit.id)
    drawn = page.evaluate("() => cy.nodes().map(n => n.id())")
    assert sorted(drawn) == sorted(n["id"] for n in view["nodes"])
    types = page.evaluate("() => [...new Set(cy.nodes().map(n => n.data('type')))].sort()")
    assert types == ["measure", "regulation", "unit"]
    assert page.evaluate(f"() => cy.getElementById({json.dumps(unit.id)}).selected()")
    before = _positions(page)
    page.screenshot(path=str(OUT / f"focus-{tag}.png"))

    # the same positions after a reload (seeded layout)
    page.reload()
    page.wait_for_function(f"() => window.cy && cy.getElementById({json.dumps(unit.id)}).nonempty()")
    assert _positions(page) == before

    # export: PNG and SVG of the current view
    with page.expect_download() as png_info:
        page.click("#g-png")
    png = tmp_path / "graph.png"
    png_info.value.save_as(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    with page.expect_download() as svg_info:
        page.click("#g-svg")
    svg = tmp_path / "graph.svg"
    svg_info.value.save_as(svg)
    root = ElementTree.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    labels = [t.text for t in root.iter(f"{ns}text")]
    assert any(label and label.startswith(unit.name[:10]) for label in labels)
    shapes = root.find(f"{ns}g[@class='nodes']")
    assert shapes is not None and len(shapes) == len(before)
    assert len(root.find(f"{ns}g[@class='edges']") or []) == page.evaluate("() => cy.edges().length")
    # the SVG draws in a browser (written to bench/out to look at)
    (OUT / f"focus-export-{tag}.svg").write_bytes(svg.read_bytes())
    (OUT / f"focus-export-{tag}.png").write_bytes(data)
    viewer, _ = _page(browser, 1000, 800)
    viewer.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort())
    viewer.goto(svg.as_uri())
    viewer.screenshot(path=str(OUT / f"focus-export-svg-{tag}.png"))
    viewer.close()

    # focus on a regulation from the overview's column header
    page.goto(corpus_server + f"/#/graph?center={corpus_store.find_regulation(BUSY_REG).id}&depth=2")
    page.wait_for_function("() => window.cy && cy.nodes('[type = \"regulation\"]').length > 1")
    assert errors == [], errors
    page.close()


def corpus_store_view(kb: KnowledgeBase, center: str) -> dict[str, Any]:
    """What the page asks for when it focuses on ``center``."""
    from policykg.api.views import graph_view

    return graph_view(kb, center=center, depth=2, max_nodes=250)


@pytest.mark.parametrize(("width", "height", "tag"), VIEWPORTS)
def test_coverage_grid(corpus_server: str, corpus_store: KnowledgeBase, browser: Browser, width: int, height: int, tag: str) -> None:
    page, errors = _page(browser, width, height)
    cov = corpus_store.coverage(BUSY_REG)
    reg = corpus_store.find_regulation(BUSY_REG)
    page.goto(corpus_server + f"/#/regulations/{reg.id}")
    page.wait_for_selector(".cov-grid td.hit")
    _record_timing(f"coverage grid drawn after navigation ({tag}), ms", page.evaluate("() => performance.now()"))
    articles = [a for c in cov.chapters for a in c.articles]
    assert page.locator(".cov-grid tbody tr.covered, .cov-grid tbody tr.uncovered").count() == len(articles)
    assert page.locator(".cov-grid tr.uncovered").count() == cov.summary.uncovered
    assert page.locator(".cov-grid tr.uncovered .cov-none").count() == cov.summary.uncovered
    assert page.locator(".cov-grid thead th.cov-y").count() == len(cov.years)
    assert f"{cov.summary.covered} / {cov.summary.articles}" in page.inner_text("#coverage .status")
    page.locator("#coverage").scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / f"coverage-{tag}.png"))

    # the busiest cell opens its measures and quotes in the side panel
    art, year, n = max(((a, int(y), k) for a in articles for y, k in a.counts_by_year.items()), key=lambda x: x[2])
    page.locator(f'.cov-grid tr[data-article="{art.label}"] td.hit[data-year="{year}"]').click()
    assert _side_measures(page) == n
    assert art.label in page.inner_text("#side-title") and str(year) in page.inner_text("#side-meta")
    page.screenshot(path=str(OUT / f"coverage-cell-{tag}.png"))
    page.click("#side-close")

    # the measures linked without an article are listed apart
    page.click("#cov-without")
    assert _side_measures(page) == cov.summary.without_article
    page.click("#side-close")
    _no_horizontal_scroll(page)
    assert errors == [], errors
    page.close()
