"""The web page in a real browser: Debian chromium driven by Playwright against a live ``policykg serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
