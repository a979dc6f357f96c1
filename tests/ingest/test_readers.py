"""Tests for ingest.normalize and ingest.readers, on real twins from the shared corpus."""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
import re
import tempfile
import unicodedata
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykg.ingest import readers
from policykg.ingest.normalize import normalize_text
from policykg.ingest.readers import MAX_BYTES, SUPPORTED_SUFFIXES, RawDocument, ReadError, read_document

ARTICLE = re.compile(r"^第[零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?")
STRUCTURE = re.compile(r"^(?:#|<!--|第[零一二三四五六七八九十百千]+[章节编](?:\s|$))")

PDF = "formats/renlei-yichuan-ziyuan-guanli-tiaoli-2019.pdf"
PDF_MD = "regulations/renlei-yichuan-ziyuan-guanli-tiaoli-2019.md"
HTML = "formats/shiyan-dongwu-guanli-tiaoli.html"
HTML_MD = "regulations/shiyan-dongwu-guanli-tiaoli.md"
DOCX = "formats/tianjin-kjj-fazhi-2023.docx"
DOCX_TXT = "reports/fazhi/tianjin-kjj-fazhi-2023.txt"
GBK = "formats/state-council-gwr-2019.gbk.txt"
GBK_UTF8 = "reports/gov-work/state-council-gwr-2019.txt"
# The .docx twin itself lacks this heading (the .txt has it after "[bookmark: _GoBack]"); see test below.
DOCX_MISSING_LINE = "(二)持续深入推动依法全面履行职能"


def articles(text: str) -> list[tuple[str, str]]:
    """(article id, article text without whitespace); an article runs until the next article or heading."""
    out: list[tuple[str, str]] = []
    current: list[str] | None = None
    for line in text.split("\n"):
        m = ARTICLE.match(line)
        if m:
            current = [m.group(), "".join(line.split())]
            out.append(current)  # type: ignore[arg-type]
        elif STRUCTURE.match(line):
            current = None
        elif current is not None:
            current[1] += "".join(line.split())
    return [(a, t) for a, t in out]


def lines(text: str) -> list[str]:
    return [ln for ln in text.split("\n") if ln]


# ------------------------------------------------------------------------------------------ normalize


def test_normalize_rules() -> None:
    raw = "\ufeff  第一条\u3000为了（一）１２３，：；\r\n\r\n\r\n[bookmark: _GoBack]\t(二)持续\u200b推动\x07\r⼈⺠⻔\xa0\n\n"
    assert normalize_text(raw) == "第一条\u3000为了（一）１２３，：；\n\n(二)持续推动\n人民门\n"


def test_normalize_keeps_fullwidth_and_maps_only_cjk_compat() -> None:
    text = "第１条　ＡＢＣ（一）：；，。！？ ﬁ ①\n"
    assert normalize_text(text) == text  # no global NFKC
    assert normalize_text("\u2f08\u2f24\uf900\U0002f800\u2eda\u2ea0") == "人大豈丽页民\n"


def test_normalize_empty_and_blank() -> None:
    assert normalize_text("") == ""
    assert normalize_text(" \n\u3000\n\t\r\n\u200b") == ""
    assert normalize_text("a") == "a\n"


_SPECIAL = st.sampled_from(
    [
        *"\r\n\t \u3000\xa0\u200b\u200c\u200d\ufeff\x00\x0b\x0c\x1f\x85\u2028[]:，（）１⼈⺠⻚\uf900",
        *["[bookmark: _GoBack]", "[bookmark:", "[book", "mark: x]", "\r\n"],
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=8), _SPECIAL), max_size=30).map("".join))
def test_normalize_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == "" or (once.endswith("\n") and not once.endswith("\n\n"))
    assert "[bookmark:" not in once or "]" not in once.split("[bookmark:", 1)[1].split("\n", 1)[0]
    assert "\r" not in once and "\n\n\n" not in once
    assert all(ln == ln.strip() for ln in once.split("\n"))
    assert not any("\u2e80" <= ch <= "\u2fdf" and unicodedata.normalize("NFKC", ch) != ch for ch in once)


# ----------------------------------------------------------------------------------------- real twins


def test_gb18030_twin_equals_utf8(corpus: Path) -> None:
    gbk, utf8 = read_document(corpus / GBK), read_document(corpus / GBK_UTF8)
    assert gbk.encoding == "gb18030" and utf8.encoding == "utf-8"
    assert gbk.format == "txt" and gbk.text == utf8.text
    assert gbk.title is None  # starts with "各位代表：", not a title


def test_docx_twin_equals_txt(corpus: Path) -> None:
    doc, txt = read_document(corpus / DOCX), read_document(corpus / DOCX_TXT)
    assert doc.format == "docx" and doc.title == txt.title == "市科技局2023年法治政府建设情况报告"
    assert "[bookmark:" not in doc.text and "[bookmark:" not in txt.text
    assert "bookmark" in (corpus / DOCX_TXT).read_text(encoding="utf-8")
    # Known difference of the files themselves: the .docx has no paragraph with this heading.
    with zipfile.ZipFile(corpus / DOCX) as zf:
        assert DOCX_MISSING_LINE not in zf.read("word/document.xml").decode("utf-8")
    expected = [ln for ln in lines(txt.text) if ln != DOCX_MISSING_LINE]
    assert len(expected) == len(lines(txt.text)) - 1
    # Equal line for line; the .txt also has one blank line after the title that the .docx has not.
    assert lines(doc.text) == expected


def test_html_twin_articles_equal_md(corpus: Path) -> None:
    html, md = read_document(corpus / HTML), read_document(corpus / HTML_MD)
    assert html.format == "html" and html.title == "实验动物管理条例" and html.encoding == "utf-8"
    assert md.title == "实验动物管理条例" and html.published == md.published == "1988-11-14"
    got, want = articles(html.text), articles(md.text)
    assert len(want) == 33 and got == want
    assert lines(html.text) == lines(md.text)  # headings, info block and paragraphs too
    for chrome in ("首页", "当前位置", "相关链接", "主办单位", "打印本页", "_hmt"):
        assert chrome not in html.text


def test_pdf_twin_articles_equal_md(corpus: Path) -> None:
    pdf, md = read_document(corpus / PDF), read_document(corpus / PDF_MD)
    assert pdf.format == "pdf" and pdf.title == "人类遗传资源管理条例"
    assert md.title == "中华人民共和国人类遗传资源管理条例"
    assert pdf.published == md.published == "2019-05-28"
    got, want = articles(pdf.text), articles(md.text)
    assert len(want) == 47 and got == want
    # Every line equals the md's (lines re-joined), except the page's printed heading at the top.
    assert lines(pdf.text) == ["人类遗传资源管理条例", *lines(md.text)]
    assert not any("\u2e80" <= ch <= "\u2fdf" for ch in pdf.text)
    for chrome in ("首页", "当前位置", "相关链接", "主办单位", "打印本页"):
        assert chrome not in pdf.text


def test_md_keeps_lawrefbook_layout(corpus: Path) -> None:
    md = read_document(corpus / HTML_MD)
    assert md.format == "md" and md.encoding == "utf-8"
    assert "<!-- INFO END -->\n" in md.text and "\n## 第一章 总则\n" in md.text
    assert md.text == normalize_text((corpus / HTML_MD).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------- small inputs


def test_txt_encodings(tmp_path: Path) -> None:
    text = "关于加强科技创新的若干意见\n\n第一条　为了促进科技进步，制定本办法。\n"
    for enc, expected in (
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("utf-16", "utf-16"),
    ):
        p = tmp_path / f"doc-{enc}.txt"
        p.write_bytes(text.encode(enc))
        doc = read_document(p)
        assert doc.text == normalize_text(text) and doc.encoding == expected
        assert doc.title == "关于加强科技创新的若干意见"


def test_md_title_and_suffix_variants(tmp_path: Path) -> None:
    p = tmp_path / "law.markdown"
    p.write_text(
        "# 某某条例\n\n2020年1月2日 国务院令第1号公布\n\n<!-- INFO END -->\n\n第一条 总则。\n",
        encoding="utf-8",
    )
    doc = read_document(p)
    assert (doc.format, doc.title, doc.published) == ("md", "某某条例", "2020-01-02")


def test_html_meta_date_and_fallback(tmp_path: Path) -> None:
    p = tmp_path / "page.HTM"
    p.write_bytes(
        '<html><head><meta charset="gbk"><title>通知_某某网</title>'
        '<meta name="PubDate" content="2023-05-06 10:00"></head>'
        '<body><div class="nav">首页 | 新闻</div><p>第一条 内容。第二条 其他。</p></body></html>'.encode(
            "gbk"
        )
    )
    doc = read_document(p)
    assert doc.format == "html" and doc.encoding == "gb18030"
    assert doc.title == "通知" and doc.published == "2023-05-06"
    assert articles(doc.text) == [("第一条", "第一条内容。"), ("第二条", "第二条其他。")]
    assert "首页" not in doc.text


def test_html_date_line_and_chrome(tmp_path: Path) -> None:
    p = tmp_path / "page.html"
    p.write_text(
        "<html><head><title>关于印发《办法》的通知 - 某某市科学技术局</title></head><body>"
        '<div id="breadcrumb">当前位置：首页 &gt; 通知公告</div><ul class="nav-top"><li>首页</li><li>政务公开</li></ul>'
        '<h1>关于印发《办法》的通知</h1><div class="meta">发布日期：2024年3月5日 来源：本局</div>'
        "<div><p>各有关单位：</p><p>现将《办法》印发给你们，请遵照执行。</p></div>"
        '<div class="footer">版权所有 某某市科学技术局</div><script>var a = 1;</script></body></html>',
        encoding="utf-8",
    )
    doc = read_document(p)
    assert doc.title == "关于印发《办法》的通知" and doc.published == "2024-03-05"
    assert "现将《办法》印发给你们，请遵照执行。" in doc.text
    for chrome in ("当前位置", "政务公开", "版权所有", "var a"):
        assert chrome not in doc.text


def _docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    d.add_paragraph("结尾")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_tables_in_order(tmp_path: Path) -> None:
    p = tmp_path / "t.docx"
    p.write_bytes(_docx_bytes(["标题", "  正文[bookmark: _GoBack]  "], [["甲", "乙"], ["丙", "丁"]]))
    doc = read_document(p)
    assert doc.text == "标题\n正文\n甲\n乙\n丙\n丁\n结尾\n" and doc.title == "标题"


# ---------------------------------------------------------------------------------------------- errors


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _pdf_bytes(pages: int) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _error(path: Path, **kwargs: int) -> ReadError:
    with pytest.raises(ReadError) as info:
        read_document(path, **kwargs)
    err = info.value
    msg = str(err)
    assert "\n" not in msg and "\r" not in msg
    assert msg.startswith(f"{path.name}: ") and err.path == path and msg == f"{path.name}: {err.reason}"
    return err


ERROR_CASES: list[tuple[str, bytes | None, str]] = [
    ("missing.txt", None, "file not found"),
    ("empty.md", b"", "empty file"),
    ("blank.txt", " \r\n\u3000\n\u200b".encode(), "no text"),
    ("data.xyz", b"hello", "unsupported file type '.xyz'"),
    ("noext", b"hello", "unsupported file type"),
    ("random.pdf", bytes(range(256)) * 4, "not a valid PDF"),
    ("header-only.pdf", b"%PDF-1.7\n" + bytes(range(256)), "not a valid PDF"),
    ("random.docx", bytes(range(256)) * 4, "not a valid .docx (not a zip archive)"),
    ("nodoc.docx", _zip({"a.txt": b"x"}), "not a valid .docx (word/document.xml missing)"),
    (
        "badxml.docx",
        _zip({"word/document.xml": b"<not xml", "[Content_Types].xml": b"<"}),
        "not a valid .docx",
    ),
    ("binary.txt", b"abc\x00\x01\x02" * 100, "binary or unknown encoding"),
    ("binary.md", bytes(range(1, 32)) * 20, "binary or unknown encoding"),
    ("binary.html", b"\x00\xff" * 300, "binary or unknown encoding"),
    ("blank.pdf", _pdf_bytes(1), "no text"),
    ("bomb.docx", _zip({"word/document.xml": b"<" + b" " * (11 * 1024 * 1024)}), "possible zip bomb"),
]


@pytest.mark.parametrize(("name", "data", "reason"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_cases(tmp_path: Path, name: str, data: bytes | None, reason: str) -> None:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    assert reason in _error(path).reason


def test_directory_and_sizes(tmp_path: Path) -> None:
    d = tmp_path / "folder.txt"
    d.mkdir()
    assert _error(d).reason == "is a directory"
    small = tmp_path / "small.txt"
    small.write_text("第一条 内容。" * 10, encoding="utf-8")
    assert _error(small, max_bytes=10).reason == "too large (190 bytes > 10 bytes)"
    big = tmp_path / "big.pdf"
    with big.open("wb") as fh:  # sparse: the size check must happen before reading
        fh.truncate(MAX_BYTES + 3 * 1024 * 1024)
    assert _error(big).reason == "too large (53 MB > 50 MB)"


def test_pdf_page_limit(tmp_path: Path) -> None:
    p = tmp_path / "three.pdf"
    p.write_bytes(_pdf_bytes(3))
    assert _error(p, max_pdf_pages=2).reason == "too many pages (3 > 2)"


def test_docx_uncompressed_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.docx"
    p.write_bytes(_docx_bytes(["正文"]))
    monkeypatch.setattr(readers, "MAX_DOCX_UNCOMPRESSED", 1000)
    assert "uncompressed size" in _error(p).reason


def test_truncated_real_files_give_read_error(corpus: Path, tmp_path: Path) -> None:
    for rel in (PDF, DOCX):
        data = (corpus / rel).read_bytes()
        p = tmp_path / Path(rel).name
        p.write_bytes(data[: len(data) // 3])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                read_document(p)
            except ReadError as err:
                assert "\n" not in str(err) and p.name in str(err)


def test_no_library_noise(corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = (corpus / PDF).read_bytes()
    p = tmp_path / "broken.pdf"
    p.write_bytes(data[:1000] + data[-2000:])
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.suppress(ReadError):
            read_document(p)
    assert not caught
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_read_error_pickles() -> None:
    err = ReadError(Path("/x/y.pdf"), "not a valid PDF\n(EOF marker not found)")
    assert str(err) == "y.pdf: not a valid PDF (EOF marker not found)"
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.path == err.path


def test_supported_suffixes() -> None:
    assert frozenset({".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm"}) == SUPPORTED_SUFFIXES


# ------------------------------------------------------------------------------------------------ fuzz

_PREFIXES = st.sampled_from(
    [b"", b"%PDF-1.4\n", b"PK\x03\x04", b"<html><body><p>", b"\xef\xbb\xbf", b"\xff\xfe"]
)
_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="policykg-fuzz-"))


@pytest.mark.parametrize("suffix", sorted(SUPPORTED_SUFFIXES))
@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=_PREFIXES, body=st.binary(max_size=3000))
def test_fuzz_random_bytes(suffix: str, prefix: bytes, body: bytes) -> None:
    path = _FUZZ_DIR / f"fuzz{suffix}"
    path.write_bytes(prefix + body)
    try:
        doc = read_document(path)
    except ReadError as err:
        assert "\n" not in str(err) and path.name in str(err)
    else:
        assert isinstance(doc, RawDocument) and doc.text == normalize_text(doc.text) and doc.text


@pytest.mark.parametrize("rel", [PDF, DOCX, HTML, GBK])
@settings(max_examples=15, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_mutated_real_files(corpus: Path, rel: str, data: st.DataObject) -> None:
    raw = bytearray((corpus / rel).read_bytes())
    for _ in range(data.draw(st.integers(1, 20))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(raw) // 2, len(raw)))
    path = _FUZZ_DIR / f"mutated-{Path(rel).name}"
    path.write_bytes(bytes(raw[:cut]))
    try:
        read_document(path)
    except ReadError as err:
        assert "\n" not in str(err) and path.name in str(err)
