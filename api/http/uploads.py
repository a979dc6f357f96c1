"""Receiving an uploaded document: size limits, multipart parsing, form fields, content sniffing, safe names.

:func:`received_upload` reads a ``multipart/form-data`` request into a temporary directory and
yields the stored file with the metadata the form gave; the directory goes when the block ends.
Each refusal is an ``HTTPException``: 400 bad Content-Length, 413 too large, 415 not a supported
document (judged by the bytes, never by the name or the declared type), 422 bad fields.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import Message, Receive

from policykg.graph.model import DocType
from policykg.ingest.metadata import DOC_TYPES, Metadata

log = logging.getLogger(__name__)

MB = 1024 * 1024
FileKind = Literal["pdf", "docx", "html", "text"]
_SUFFIX = {"pdf": ".pdf", "docx": ".docx", "html": ".html"}
_SNIFF_BYTES = 8192

OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "txt/md (UTF-8 or GB18030), docx, pdf or html"},
                        "doc_type": {"type": "string", "enum": list(DOC_TYPES)},
                        "title": {"type": "string"},
                        "issuer": {"type": "string"},
                        "year": {"type": "integer"},
                        "published": {"type": "string", "description": "YYYY-MM-DD"},
                    },
                }
            }
        },
    }
}
"""The request body of the upload route for the OpenAPI page (the route reads the form itself)."""


@dataclass(frozen=True)
class StoredUpload:
    """An upload written to a temporary directory, with what the form said about it."""

    path: Path
    name: str
    kind: FileKind
    metadata: Metadata
    workdir: Path

    def paths(self) -> tuple[str, str]:
        """The stored path as given and resolved: how the store may record the document's path."""
        return str(self.path), str(self.path.resolve())

    def relative(self, message: str) -> str:
        """``message`` without the temporary directory in front of the file name."""
        return message.replace(str(self.workdir) + "/", "")


@asynccontextmanager
async def received_upload(request: Request) -> AsyncIterator[StoredUpload]:
    """The request's ``file`` field stored under a safe name, and its metadata fields; removed afterwards."""
    limit: int = request.app.state.max_upload_bytes
    _check_headers(request, limit)
    try:
        form = await Request(request.scope, _counting_receive(request, limit)).form(
            max_files=1, max_fields=10, max_part_size=64 * 1024,
        )
    except MultiPartException as exc:
        raise HTTPException(422, f"bad multipart body: {exc.message}") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "a 'file' field with the document is required")
        metadata = upload_metadata({k: v for k, v in form.items() if isinstance(v, str)})
        workdir = Path(tempfile.mkdtemp(prefix="policykg-upload-"))
        try:
            head = await upload.read(_SNIFF_BYTES)
            kind = sniff(head, upload)
            name = safe_filename(upload.filename or "", kind)
            target = workdir / name
            with target.open("wb") as fh:
                fh.write(head)
                while chunk := await upload.read(MB):
                    fh.write(chunk)
            if kind == "text":
                _check_text(target)
            log.info("upload %s (%s, %d bytes)", name, kind, target.stat().st_size)
            yield StoredUpload(target, name, kind, metadata, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    finally:
        await form.close()


def _check_headers(request: Request, limit: int) -> None:
    """Refuse by the headers alone: a Content-Length over ``limit`` (413), a body that is not multipart (415)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HTTPException(400, "bad Content-Length")
        if int(length) > limit:
            raise HTTPException(413, f"upload larger than {limit} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "send the document as multipart/form-data with a 'file' field")


def _counting_receive(request: Request, limit: int) -> Receive:
    """The request's ``receive`` that raises 413 once more than ``limit`` body bytes came (no Content-Length needed)."""
    received = 0
    upstream = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, f"upload larger than {limit} bytes")
        return message

    return receive


def _doc_type(value: str | None) -> DocType | None:
    """The form's ``doc_type``: empty is None (infer), anything but a :data:`DocType` is 422."""
    if not value:
        return None
    if value not in DOC_TYPES:
        raise HTTPException(422, f"doc_type must be {' or '.join(DOC_TYPES)}")
    return cast(DocType, value)


def upload_metadata(fields: dict[str, str]) -> Metadata:
    """The metadata the form's text fields give (doc_type, title, issuer, year, published); 422 if malformed."""
    doc_type = _doc_type(fields.get("doc_type"))
    year_text = (fields.get("year") or "").strip()
    if year_text and not (year_text.isdigit() and 1900 <= int(year_text) <= 2200):
        raise HTTPException(422, "year must be a number between 1900 and 2200")
    published = (fields.get("published") or "").strip() or None
    if published and not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", published):
        raise HTTPException(422, "published must look like YYYY-MM-DD")
    return Metadata(
        doc_type=doc_type,
        title=(fields.get("title") or "").strip()[:300] or None,
        issuer=(fields.get("issuer") or "").strip()[:200] or None,
        year=int(year_text) if year_text else None,
        published=published,
    )


def sniff(head: bytes, upload: UploadFile) -> FileKind:
    """The document type by its first bytes: pdf, docx, html or text; anything else is 415."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            upload.file.seek(0)
            with zipfile.ZipFile(upload.file) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise HTTPException(415, "a zip file that is not a Word document") from exc
        finally:
            upload.file.seek(len(head))
        if "word/document.xml" in names:
            return "docx"
        raise HTTPException(415, "a zip file that is not a Word (.docx) document")
    if not head or b"\x00" in head:
        raise HTTPException(415, "not a supported document: give txt/md text, docx, pdf or html")
    text = _decode(head, partial=True)
    if text is None:
        raise HTTPException(415, "not decodable text (UTF-8 or GB18030), nor docx/pdf/html")
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html", "<head", "<body", "<meta")):
        return "html"
    return "text"


def _decode(data: bytes, *, partial: bool = False) -> str | None:
    """UTF-8 (with or without BOM) or GB18030 text, or None; ``partial`` tolerates a cut last character."""
    for enc in ("utf-8-sig", "gb18030"):
        for cut in range(4 if partial else 1):
            try:
                return data[: len(data) - cut].decode(enc)
            except UnicodeDecodeError:
                continue
    return None


def _check_text(path: Path) -> None:
    """A stored text upload must decode as a whole and hold no NUL byte (415 otherwise)."""
    data = path.read_bytes()
    if b"\x00" in data or _decode(data) is None:
        raise HTTPException(415, "not decodable text (UTF-8 or GB18030)")


def safe_filename(name: str, kind: FileKind) -> str:
    """A plain file name: no directories, no control or shell-special characters, the suffix of ``kind``."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = re.sub(r"[^\w\u3000-\u303f\uff00-\uffef\-()（）《》·]+", "_", stem).strip("._-")[:120] or "upload"
    ext = (".md" if suffix.lower() in ("md", "markdown") else ".txt") if kind == "text" else _SUFFIX[kind]
    return stem + ext
