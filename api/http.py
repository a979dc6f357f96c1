"""The HTTP API and web page over a :class:`~api.kb.KnowledgeBase` (FastAPI; the only module importing it).

``create_app(kb)`` builds the app: one router per resource, JSON errors with the right status,
read-only SPARQL, an optional authenticated upload, and the static web page at ``/``.
The knowledge base is synchronous: endpoints are plain ``def`` (run in the threadpool) or hand
their calls to it with ``run_in_threadpool``.
"""

from __future__ import annotations

import hmac
import logging
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import Message

from policykg.api import schemas
from policykg.api.kb import BackendUnavailable, IngestLocked, KnowledgeBase, KnowledgeBaseError, NotFound
from policykg.api.views import STATIC_DIR, graph_view
from policykg.ingest.pipeline import Metadata

log = logging.getLogger(__name__)

MB = 1024 * 1024
SPARQL_TIMEOUT = 10.0
SPARQL_MAX_ROWS = 10_000
GRAPH_MAX_NODES = 500
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": schemas.ErrorOut, "description": "Unknown id or name"}}


# ---------------------------------------------------------------- dependencies
def get_kb(request: Request) -> KnowledgeBase:
    """The knowledge base the app was created with."""
    kb: KnowledgeBase = request.app.state.kb
    return kb


KB = Annotated[KnowledgeBase, Depends(get_kb)]
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed for POST /documents.")


def require_api_key(request: Request, key: Annotated[str | None, Depends(_api_key_header)]) -> None:
    """Uploads are off (403) without a configured key; a missing key is 401, a wrong one 403."""
    expected: str | None = request.app.state.api_key
    if not expected:
        raise HTTPException(403, "uploads are disabled on this server (no API key configured)")
    if not key:
        raise HTTPException(401, "missing X-API-Key header", headers={"WWW-Authenticate": "APIKey"})
    if not hmac.compare_digest(key.encode("utf-8"), expected.encode("utf-8")):
        raise HTTPException(403, "wrong API key")


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the knowledge base; a NotFound becomes 404, any other user error 400."""
    try:
        return fn(*args, **kwargs)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except IngestLocked as exc:
        raise HTTPException(409, str(exc)) from exc
    except BackendUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except KnowledgeBaseError as exc:
        raise HTTPException(400, str(exc)) from exc


# ---------------------------------------------------------------- routers
health = APIRouter(tags=["health"])


@health.get("/health", response_model=schemas.HealthOut, summary="Liveness and store counts")
def get_health(request: Request, kb: KB) -> dict[str, Any]:
    c = kb.stats()
    return {
        "status": "ok", "version": _version(), "documents": c["documents"], "measures": c["measures"],
        "regulations": c["regulations"], "units": c["units"], "passages": c["passages"], "uploads": bool(request.app.state.api_key),
        "graph": kb.graph_server.endpoint.query_url if kb.graph_server else "embedded",
        "vectors": f"{kb.vector_server.uri} {kb.vector_server.collection}" if kb.vector_server else "faiss",
    }


search = APIRouter(tags=["search"])
Mode = Literal["hybrid", "dense", "bm25"]
DocType = Literal["report", "regulation"]


@search.get("/search", response_model=list[schemas.HitOut], summary="Hybrid semantic search", responses={422: {"model": schemas.ErrorOut}})
def get_search(
    kb: KB,
    q: Annotated[str, Query(min_length=1, max_length=500, description="What to look for, in Chinese.")],
    k: Annotated[int, Query(ge=1, le=200, description="Number of hits.")] = 10,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="Only reports reviewing this year.")] = None,
    year_from: Annotated[int | None, Query(alias="from", ge=1900, le=2200, description="First year.")] = None,
    year_to: Annotated[int | None, Query(alias="to", ge=1900, le=2200, description="Last year.")] = None,
    doc_type: Annotated[DocType | None, Query(alias="type", description="report or regulation.")] = None,
    issuer: Annotated[str | None, Query(max_length=200, description="Issuer (substring).")] = None,
    regulation: Annotated[str | None, Query(max_length=200, description="Only a regulation's articles and the measures linked to it.")] = None,
    mode: Annotated[Mode, Query(description="hybrid, dense or bm25.")] = "hybrid",
    group: Annotated[bool, Query(description="One hit per document.")] = False,
) -> list[dict[str, Any]]:
    if not q.strip():
        raise HTTPException(422, "q must not be blank")
    if year is not None and (year_from is not None or year_to is not None):
        raise HTTPException(422, "give year or from/to, not both")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise HTTPException(422, "from must not be after to")
    try:
        hits = kb.search(
            q, k=k, year=year, year_from=year_from, year_to=year_to, doc_type=doc_type, issuer=issuer,
            regulation=regulation, mode=mode, group_by_doc=group,
        )
    except BackendUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except KnowledgeBaseError as exc:  # e.g. an unknown regulation filter: a bad parameter
        raise HTTPException(422, str(exc)) from exc
    return [h.to_dict() for h in hits]


@search.get("/timeline", response_model=schemas.TimelineOut, summary="Best passages on a topic, year by year")
def get_timeline(
    kb: KB,
    q: Annotated[str, Query(min_length=1, max_length=500, description="A topic: 科技成果转化, 营商环境 …")],
    per_year: Annotated[int, Query(ge=1, le=20)] = 3,
    issuer: Annotated[str | None, Query(max_length=200)] = None,
    mode: Mode = "hybrid",
) -> dict[str, Any]:
    if not q.strip():
        raise HTTPException(422, "q must not be blank")
    years = _call(kb.timeline, q, per_year=per_year, issuer=issuer, mode=mode)
    return {
        "query": q,
        "years": [{"year": y, "best": max(h.score for h in hits), "hits": [h.to_dict() for h in hits]} for y, hits in sorted(years.items())],
    }


regulations = APIRouter(prefix="/regulations", tags=["regulations"], responses=_ERRORS)
RegId = Annotated[str, PathParam(min_length=1, max_length=300, description="Regulation id, canonical name or alias.")]


@regulations.get("", response_model=list[schemas.RegulationSummary], summary="Regulations in the store")
def list_regulations(kb: KB) -> list[dict[str, Any]]:
    return kb.regulations()


@regulations.get("/{reg_id}", response_model=schemas.RegulationDetail, summary="A regulation and its articles")
def get_regulation(kb: KB, reg_id: RegId) -> dict[str, Any]:
    result: dict[str, Any] = _call(kb.regulation, reg_id)
    return result


@regulations.get("/{reg_id}/measures", response_model=schemas.RegulationMeasuresOut, summary="Measures implementing a regulation, with evidence")
def get_regulation_measures(
    kb: KB,
    reg_id: RegId,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="Only measures of this year.")] = None,
    method: Annotated[list[Literal["citation", "alias", "topic", "semantic"]] | None, Query(description="Link methods (repeatable).")] = None,
) -> dict[str, Any]:
    result: dict[str, Any] = _call(kb.measures_for, reg_id, year=year, methods=method)
    return result


measures = APIRouter(prefix="/measures", tags=["measures"], responses=_ERRORS)


@measures.get("/{measure_id}", response_model=schemas.MeasureDetail, summary="A measure, its links and indicators")
def get_measure(kb: KB, measure_id: Annotated[str, PathParam(min_length=1, max_length=200)]) -> dict[str, Any]:
    result: dict[str, Any] = _call(kb.measure, measure_id)
    return result


units = APIRouter(prefix="/units", tags=["units"], responses=_ERRORS)


@units.get("", response_model=list[schemas.UnitSummary], summary="Units and their measure counts")
def list_units(kb: KB) -> list[dict[str, Any]]:
    return kb.units()


@units.get("/{unit_id}", response_model=schemas.UnitDetail, summary="A unit, its parent, sub-units and measures")
def get_unit(kb: KB, unit_id: Annotated[str, PathParam(min_length=1, max_length=200, description="Unit id, name or alias.")]) -> dict[str, Any]:
    result: dict[str, Any] = _call(kb.unit, unit_id)
    return result


issuers = APIRouter(prefix="/issuers", tags=["across the years"], responses=_ERRORS)
IssuerName = Annotated[str, PathParam(min_length=1, max_length=200, description="Issuer or a part of its name: 国务院, 深圳市人民政府.")]


@issuers.get("/{issuer}/diff", summary="Continued, new and dropped measures between two reports")
def get_issuer_diff(
    kb: KB,
    issuer: IssuerName,
    year_from: Annotated[int, Query(alias="from", ge=1900, le=2200, description="Year the earlier report reviews.")],
    year_to: Annotated[int, Query(alias="to", ge=1900, le=2200, description="Year the later report reviews.")],
    status: Annotated[Literal["done", "planned"] | None, Query(description="Only done or planned measures.")] = None,
) -> dict[str, Any]:
    result: dict[str, Any] = _call(kb.diff, issuer, year_from, year_to, status=status)
    return result


@issuers.get("/{issuer}/plans", summary="Plans for a year against what the report on that year says was done")
def get_issuer_plans(
    kb: KB, issuer: IssuerName, year: Annotated[int, Query(ge=1900, le=2200, description="The year planned for.")],
) -> dict[str, Any]:
    result: dict[str, Any] = _call(kb.plans, issuer, year)
    return result


@issuers.get("/{issuer}/indicators", summary="Indicator series: targets and actuals by year")
def get_issuer_indicators(
    kb: KB, issuer: IssuerName, name: Annotated[str | None, Query(max_length=100, description="Name or variant: 经济增长.")] = None,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _call(kb.indicators, issuer, name)
    return result


documents = APIRouter(prefix="/documents", tags=["documents"], responses=_ERRORS)


@documents.get("", response_model=list[schemas.DocumentSummary], summary="Documents in the store")
def list_documents(kb: KB) -> list[dict[str, Any]]:
    return kb.documents()


@documents.get("/{doc_id}", response_model=schemas.DocumentDetail, summary="A document's metadata and stored text")
def get_document(kb: KB, doc_id: Annotated[str, PathParam(min_length=1, max_length=200, description="Document id or its unique prefix.")]) -> dict[str, Any]:
    doc = _call(kb.document, doc_id)
    return {**doc.meta(), "text": doc.text}


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "txt/md (UTF-8 or GB18030), docx, pdf or html"},
                        "doc_type": {"type": "string", "enum": ["report", "regulation"]},
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


@documents.post(
    "",
    response_model=schemas.IngestOut,
    status_code=201,
    summary="Upload and ingest one document (needs X-API-Key)",
    dependencies=[Depends(require_api_key)],
    openapi_extra=_UPLOAD_BODY,
    responses={
        401: {"model": schemas.ErrorOut, "description": "Missing API key"},
        403: {"model": schemas.ErrorOut, "description": "Wrong API key, or uploads disabled"},
        409: {"model": schemas.ErrorOut, "description": "Another ingest is running"},
        413: {"model": schemas.ErrorOut, "description": "Upload too large"},
        415: {"model": schemas.ErrorOut, "description": "Not a supported document type (checked by content)"},
    },
)
async def post_document(request: Request, kb: KB) -> dict[str, Any]:
    limit: int = request.app.state.max_upload_bytes
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HTTPException(400, "bad Content-Length")
        if int(length) > limit:
            raise HTTPException(413, f"upload larger than {limit} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "send the document as multipart/form-data with a 'file' field")
    received = 0
    upstream = request.receive

    async def counting_receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, f"upload larger than {limit} bytes")
        return message

    try:
        form = await Request(request.scope, counting_receive).form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except MultiPartException as exc:
        raise HTTPException(422, f"bad multipart body: {exc.message}") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "a 'file' field with the document is required")
        meta = _upload_metadata({k: v for k, v in form.items() if isinstance(v, str)})
        workdir = Path(tempfile.mkdtemp(prefix="policykg-upload-"))
        try:
            head = await upload.read(8192)
            kind = _sniff(head, upload)
            name = safe_filename(upload.filename or "", kind)
            target = workdir / name
            with target.open("wb") as fh:
                fh.write(head)
                while chunk := await upload.read(MB):
                    fh.write(chunk)
            if kind == "text":
                _check_text(target)
            log.info("upload %s (%s, %d bytes)", name, kind, target.stat().st_size)
            report = await run_in_threadpool(_call, kb.ingest, [target], metadata=meta)
            docs = [d for d in await run_in_threadpool(kb.documents) if d["path"] in (str(target), str(target.resolve()))]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    finally:
        await form.close()
    return {
        "ok": report.ok, "added": [name for _ in report.added], "replaced": [name for _ in report.replaced],
        "unchanged": [name for _ in report.unchanged], "failed": [f.replace(str(workdir) + "/", "") for f in report.failed],
        "seconds": report.seconds, "filename": name, "detected_type": kind, "documents": docs,
    }


def _upload_metadata(fields: dict[str, str]) -> Metadata:
    doc_type = fields.get("doc_type") or None
    if doc_type not in (None, "report", "regulation"):
        raise HTTPException(422, "doc_type must be report or regulation")
    year_text = (fields.get("year") or "").strip()
    if year_text and not (year_text.isdigit() and 1900 <= int(year_text) <= 2200):
        raise HTTPException(422, "year must be a number between 1900 and 2200")
    published = (fields.get("published") or "").strip() or None
    if published and not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", published):
        raise HTTPException(422, "published must look like YYYY-MM-DD")
    title = (fields.get("title") or "").strip()[:300] or None
    issuer = (fields.get("issuer") or "").strip()[:200] or None
    return Metadata(doc_type, title, issuer, int(year_text) if year_text else None, published)  # type: ignore[arg-type]


def _sniff(head: bytes, upload: UploadFile) -> str:
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
    data = path.read_bytes()
    if b"\x00" in data or _decode(data) is None:
        raise HTTPException(415, "not decodable text (UTF-8 or GB18030)")


_SUFFIX = {"pdf": ".pdf", "docx": ".docx", "html": ".html"}


def safe_filename(name: str, kind: str) -> str:
    """A plain file name: no directories, no control or shell-special characters, the suffix of ``kind``."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = re.sub(r"[^\w\u3000-\u303f\uff00-\uffef\-()（）《》·]+", "_", stem).strip("._-")[:120] or "upload"
    ext = (".md" if suffix.lower() in ("md", "markdown") else ".txt") if kind == "text" else _SUFFIX[kind]
    return stem + ext


graph = APIRouter(tags=["graph"])


@graph.get("/graph", response_model=schemas.GraphOut, summary="Nodes and edges of the responsibility graph", responses=_ERRORS)
def get_graph(
    kb: KB,
    center: Annotated[str | None, Query(max_length=300, description="Node id, regulation name or unit name; its neighbourhood.")] = None,
    depth: Annotated[int, Query(ge=1, le=4, description="Hops from center.")] = 1,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
    unit: Annotated[str | None, Query(max_length=200, description="Only the measures of this unit (and its sub-units).")] = None,
    regulation: Annotated[str | None, Query(max_length=300, description="Only the measures implementing this regulation.")] = None,
    max_nodes: Annotated[int, Query(ge=1, le=2000)] = GRAPH_MAX_NODES,
) -> dict[str, Any]:
    result: dict[str, Any] = _call(graph_view, kb, center=center, depth=depth, year=year, unit=unit, regulation=regulation, max_nodes=max_nodes)
    return result


sparql = APIRouter(prefix="/sparql", tags=["sparql"], responses={400: {"model": schemas.ErrorOut, "description": "Not a read-only query, or too slow"}})


def _sparql(kb: KnowledgeBase, query: str, limit: int) -> dict[str, Any]:
    try:
        result: dict[str, Any] = kb.sparql(query, limit=min(limit, SPARQL_MAX_ROWS), timeout=SPARQL_TIMEOUT)
    except BackendUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except KnowledgeBaseError as exc:
        raise HTTPException(400, str(exc)) from exc
    return result


@sparql.get("", response_model=schemas.SparqlOut, response_model_exclude_none=True, summary="Read-only SPARQL (query in the URL)")
def get_sparql(
    kb: KB,
    query: Annotated[str, Query(min_length=1, max_length=20_000)],
    limit: Annotated[int, Query(ge=1, le=SPARQL_MAX_ROWS)] = 1000,
) -> dict[str, Any]:
    return _sparql(kb, query, limit)


@sparql.post("", response_model=schemas.SparqlOut, response_model_exclude_none=True, summary="Read-only SPARQL (query in a JSON body)")
def post_sparql(kb: KB, body: schemas.SparqlIn) -> dict[str, Any]:
    return _sparql(kb, body.query, body.limit)


# ---------------------------------------------------------------- app
def _version() -> str:
    try:
        return package_version("policykg")
    except PackageNotFoundError:
        return "0"


def _json_error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(
    kb: KnowledgeBase,
    *,
    api_key: str | None = None,
    max_upload_bytes: int = 50 * MB,
    cors_origins: list[str] | None = None,
) -> FastAPI:
    """The API and web page over ``kb``. Uploads need ``api_key``; CORS is closed unless origins are given."""
    app = FastAPI(
        title="policykg",
        version=_version(),
        description="Knowledge graph and hybrid semantic search over Chinese government reports and regulations. "
        "Every answer carries its evidence: a quote and its [start, end) span in the stored document text.",
    )
    app.state.kb = kb
    app.state.api_key = api_key or None
    app.state.max_upload_bytes = max_upload_bytes
    for router in (health, search, regulations, measures, units, issuers, documents, graph, sparql):
        app.include_router(router)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _json_error(404, str(exc))

    @app.exception_handler(KnowledgeBaseError)
    async def _kb_error(request: Request, exc: KnowledgeBaseError) -> JSONResponse:
        status = 409 if isinstance(exc, IngestLocked) else 503 if isinstance(exc, BackendUnavailable) else 400
        return _json_error(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]  # never echo input
        return _json_error(422, errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return _json_error(500, "internal error")

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        path = request.url.path
        if path == "/" or path.startswith("/static/"):
            response.headers.setdefault("Content-Security-Policy", _PAGE_CSP)
            response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key"], allow_credentials=False,
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    return app
