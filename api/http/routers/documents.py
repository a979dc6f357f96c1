"""``/documents``: the stored documents, one with its text, and the authenticated upload (``POST``).

The upload's checks and storage are :mod:`policykg.api.http.uploads`; this router hands the stored
file to the knowledge base and reports what it became.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from policykg.api.http.deps import KB, ApiKey
from policykg.api.http.schemas import NOT_FOUND, ErrorOut, IngestOut
from policykg.api.http.uploads import OPENAPI_BODY, received_upload
from policykg.graph.readmodels import DocumentDetail, DocumentSummary

router = APIRouter(prefix="/documents", tags=["documents"], responses=NOT_FOUND)


@router.get("", summary="Documents in the store")
def list_documents(kb: KB) -> list[DocumentSummary]:
    return kb.documents()


@router.get("/{doc_id}", summary="A document's metadata and stored text")
def get_document(
    kb: KB, doc_id: Annotated[str, PathParam(min_length=1, max_length=200, description="Document id or its unique prefix.")],
) -> DocumentDetail:
    return kb.document(doc_id)


@router.post(
    "",
    status_code=201,
    summary="Upload and ingest one document (needs X-API-Key)",
    dependencies=[ApiKey],
    openapi_extra=OPENAPI_BODY,
    responses={
        401: {"model": ErrorOut, "description": "Missing API key"},
        403: {"model": ErrorOut, "description": "Wrong API key, or uploads disabled"},
        409: {"model": ErrorOut, "description": "Another ingest is running"},
        413: {"model": ErrorOut, "description": "Upload too large"},
        415: {"model": ErrorOut, "description": "Not a supported document type (checked by content)"},
    },
)
async def post_document(request: Request, kb: KB) -> IngestOut:
    async with received_upload(request) as upload:
        report = await run_in_threadpool(kb.ingest, [upload.path], metadata=upload.metadata)
        stored = upload.paths()
        docs = [d for d in await run_in_threadpool(kb.documents) if d.path in stored]
    name = upload.name
    return IngestOut(
        ok=report.ok, added=[name for _ in report.added], replaced=[name for _ in report.replaced],
        unchanged=[name for _ in report.unchanged], failed=[upload.relative(f) for f in report.failed],
        seconds=report.seconds, filename=name, detected_type=upload.kind, documents=docs,
    )
