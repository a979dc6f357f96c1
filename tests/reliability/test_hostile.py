"""Hostile input: adversarial text for the parsers, and files built to exhaust time or memory.

Every hostile file must end in success or a one-line ReadError within ``TIME_LIMIT`` seconds and
``RSS_LIMIT_MB`` of peak memory growth, and must leave what is already stored untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykg.api.kb import KnowledgeBase
from policykg.graph.model import Document, content_hash, stable_id
from policykg.ingest.extract import extract
from policykg.ingest.metadata import Metadata, infer_metadata
from policykg.ingest.readers import RawDocument
from policykg.ingest.structure import parse_regulation, parse_report, walk
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS, HashingEncoder
from tests.reliability.helpers import REPO, check_consistent, per_document_counts

TIME_LIMIT = 20.0
RSS_LIMIT_MB = 800

# ------------------------------------------------------------------ adversarial text for the parsers
_HEADINGS = st.sampled_from([
    "第一章 总则", "第一条", "第二十三条 ", "第一节", "一、", "（一）", "(二)", "1.", "1、", "（1）", "# ", "## ",
    "一是", "二是", "附则", "附件", "第", "条", "第一百零一条之一", "十一、", "（十）", "2024年工作回顾", "政府工作报告",
    "我代表国务院", "《中华人民共和国科学技术进步法》", "第一百万条",
])
_CHARS = st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc", "Cf", "Co", "Mn"])
_PIECE = st.one_of(_HEADINGS, st.text(_CHARS, max_size=12), st.sampled_from(["\n", "\n\n", "\r\n", "\u2028", "\x00", "\ufeff", "\ue000"]))
_TEXT = st.lists(_PIECE, max_size=60).map("".join)


def _repeated(unit: str, n: int) -> str:
    return unit * n


ADVERSARIAL = {
    "repeated chapter headings": _repeated("第一章 总则\n", 20_000),
    "repeated article headings": _repeated("第一条 \n", 20_000),
    "repeated list markers": _repeated("一、\n（一）\n1.\n", 10_000),
    "deep heading ladder": "".join(f"{'#' * (i % 7 + 1)} 第{i}章\n" for i in range(5000)),
    "huge line": "推进" * 400_000,
    "huge line with numbers": "增长百分之" + "9" * 200_000 + "%",
    "control and private use": "".join(chr(c) for c in range(0, 32)) * 1000 + "\ue000\uf8ff" * 50_000,
    "only newlines": "\n" * 200_000,
    "citation flood": "《中华人民共和国" + "法》《" * 50_000,
}


def _doc(text: str, doc_type: str) -> Document:
    h = content_hash(text)
    return Document(stable_id("doc", h), "/tmp/x.txt", "测试", doc_type, text, h)  # type: ignore[arg-type]


def _check_parsers(text: str) -> None:
    root = parse_report(text, 2023)
    for block in walk(root):
        assert 0 <= block.start <= block.end <= len(text)
    reg = parse_regulation(text)
    for a in reg.articles:
        assert 0 <= a.start <= a.end <= len(text)
    for doc_type in ("report", "regulation"):
        ex = extract(_doc(text, doc_type))
        for m in ex.measures:
            assert 0 <= m.start <= m.end <= len(text)
    meta = infer_metadata(RawDocument(Path("/tmp/x.txt"), "txt", text, None, None, "utf-8"), Metadata())
    assert meta.doc_type in ("report", "regulation") and meta.title


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_parsers_on_random_unicode(text: str) -> None:
    _check_parsers(text)


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_parsers_on_adversarial_text(name: str) -> None:
    import time

    started = time.perf_counter()
    _check_parsers(ADVERSARIAL[name])
    assert time.perf_counter() - started < TIME_LIMIT


# ------------------------------------------------------------------ hostile files, ingested for real
def _zip_bomb(path: Path, mb: int, entries: int = 1) -> None:
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        for e in range(entries):
            with z.open("word/document.xml" if e == 0 else f"word/media/{e}.bin", "w", force_zip64=True) as fh:
                for _ in range(mb // entries):
                    fh.write(chunk)


def _ratio_bomb(path: Path) -> None:
    body = (
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + b"<w:p><w:r><w:t>\xe4\xb8\x80</w:t></w:r></w:p>" * 2_000_000
        + b"</w:body></w:document>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", body)


def _entity_bomb(path: Path) -> None:
    ents = '<!ENTITY a0 "科技进步科技进步">' + "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [{ents}]>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        "<w:p><w:r><w:t>&a9;</w:t></w:r></w:p></w:body></w:document>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", body)


def _pdf_pages(path: Path, pages: int) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(100, 100)
    w.write(path)


def _report_text(corpus: Path) -> bytes:
    return (corpus / "reports/gov-work/state-council-gwr-2019.txt").read_bytes()


HOSTILE: dict[str, Callable[[Path, Path], None]] = {
    "bomb-300mb.docx": lambda p, c: _zip_bomb(p, 300),
    "bomb-many-entries.docx": lambda p, c: _zip_bomb(p, 400, entries=40),
    "bomb-ratio.docx": lambda p, c: _ratio_bomb(p),
    "entity-bomb.docx": lambda p, c: _entity_bomb(p),
    "pages-5000.pdf": lambda p, c: _pdf_pages(p, 5000),
    "pages-1999-blank.pdf": lambda p, c: _pdf_pages(p, 1999),
    "nested-div-100k.html": lambda p, c: p.write_text("<html><body>" + "<div>" * 100_000 + "第一条 内容。" + "</div>" * 100_000),
    "nested-ul-30k.html": lambda p, c: p.write_text("<html><body>" + "<ul><li>科技" * 30_000),
    "nested-span-100k.html": lambda p, c: p.write_text("<html><body>" + "<span>推进" * 100_000),
    "text-50mb.txt": lambda p, c: p.write_bytes(_report_text(c) * (50_000_000 // len(_report_text(c)))),
    "text-over-limit.txt": lambda p, c: p.write_bytes(b"a" * (50 * 1024 * 1024 + 1)),
    "text-0.9m-chars.txt": lambda p, c: p.write_bytes(_report_text(c) * 45),  # just under MAX_CHARS
    "one-huge-line.txt": lambda p, c: p.write_text("推进科技创新" * 150_000),
    "mixed-encodings.txt": lambda p, c: p.write_bytes(
        "关于科技创新的报告\n一、加强科技创新。\n".encode() + "二、优化营商环境。\n".encode("gb18030")
        + "Café\n".encode("latin-1") + "四、推进依法行政。\n".encode("utf-16")
    ),
    "utf16-no-bom.txt": lambda p, c: p.write_bytes("关于科技创新的报告\n一、加强科技创新。\n".encode("utf-16-le")),
    "gb18030-with-junk.txt": lambda p, c: p.write_bytes("关于科技创新的报告\n一、加强科技创新。\n".encode("gb18030") + bytes(range(128, 256))),
    "control-chars.txt": lambda p, c: p.write_text("".join(chr(i) for i in range(1, 32)) * 10_000),
    "private-use.md": lambda p, c: p.write_text("# 标题\n" + "\ue000\uf8ff" * 100_000),
    "fake.pdf": lambda p, c: p.write_bytes(b"%PDF-1.7\n" + b"\xff" * 100_000),
    "docx-not-zip.docx": lambda p, c: p.write_bytes(b"PK\x03\x04" + b"\0" * 1000),
}

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    from policykg.api.kb import KnowledgeBase
    from tests.conftest import HashingEncoder
    kb = KnowledgeBase(Path({data!r}), encoder=HashingEncoder())
    kb.searcher.refresh()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    report = kb.ingest([Path({file!r})])
    print(json.dumps({{
        "seconds": time.perf_counter() - t0, "added": report.added, "failed": report.failed,
        "rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024,
    }}))
    """
)


@pytest.fixture(scope="module")
def founding_store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, int]]]:
    data = tmp_path_factory.mktemp("hostile-store")
    kb = KnowledgeBase(data, encoder=HashingEncoder())
    files = [corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)]
    assert kb.ingest(files, manifest=corpus / "manifest.csv").ok
    counts = per_document_counts(kb)
    kb.close()
    return data, counts


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file(name: str, corpus: Path, tmp_path: Path, founding_store: tuple[Path, dict[str, dict[str, int]]]) -> None:
    data, founding = founding_store
    path = tmp_path / name
    HOSTILE[name](path, corpus)
    code = _CHILD.format(repo=str(REPO), data=str(data), file=str(path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIME_LIMIT + 60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{name}: {out['seconds']:.1f} s, +{out['rss_mb']:.0f} MB, added={len(out['added'])} failed={out['failed']}")
    assert out["seconds"] < TIME_LIMIT, f"{name} took {out['seconds']:.1f} s"
    assert out["rss_mb"] < RSS_LIMIT_MB, f"{name} grew RSS by {out['rss_mb']:.0f} MB"
    assert len(out["added"]) + len(out["failed"]) == 1
    for line in out["failed"]:
        assert "\n" not in line and line.startswith(name + ":"), line
        assert "Traceback" not in line and ": unexpected " not in line, line  # no catch-all errors
    # what was stored before is untouched, and graph and indexes still agree
    kb = KnowledgeBase(data, encoder=HashingEncoder())
    try:
        now = per_document_counts(kb)
        assert {d: now.get(d) for d in founding} == founding
        check_consistent(kb, {**now, **founding})
    finally:
        kb.close()
