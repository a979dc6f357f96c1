"""``/documents``: the stored (or removed) documents, one with its text, and the authenticated writes:
upload (``POST``) and removal (``DELETE /documents/{id}``).

The upload's checks and storage are :mod:`policykg.api.http.uploads`; this router hands the stored
file to the knowledge base and reports what it became.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from policykg.api.http.deps import KB, ApiKey
from policykg.api.http.schemas import NOT_FOUND, ErrorOut, IngestOut
from policykg.api.http.uploads import OPENAPI_BODY, received_upload
from policykg.graph.readmodels import DocumentDetail, DocumentSummary, RemovalReport, RemovedDocument

router = APIRouter(prefix="/documents", tags=["documents"], responses=NOT_FOUND)


_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "Missing API key"},
    403: {"model": ErrorOut, "description": "Wrong API key, or writes disabled"},
    409: {"model": ErrorOut, "description": "Another ingest or removal is running"},
}


@router.get("", summary="Documents in the store (removed=true: the removed ones, with when)")
def list_documents(
    kb: KB, removed: Annotated[bool, Query(description="List the tombstones of removed documents instead.")] = False,
) -> list[DocumentSummary] | list[RemovedDocument]:
    return kb.removed_documents() if removed else kb.documents()


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
        **_AUTH_ERRORS,
        413: {"model": ErrorOut, "description": "Upload too large"},
        415: {"model": ErrorOut, "description": "Not a supported document type (checked by content)"},
    },
)
async def post_document(request: Request, kb: KB) -> IngestOut:
    async with received_upload(request) as upload:
        report = await run_in_threadpool(kb.ingest, [upload.path], metadata=upload.metadata)
        stored = upload.paths()  # the store knows a document's absolute path; answers show its name
        ids = {doc_id for doc_id, path in (await run_in_threadpool(kb.store.document_paths)).items() if path in stored}
        docs = [d for d in await run_in_threadpool(kb.documents) if d.id in ids]
    name = upload.name
    return IngestOut(
        ok=report.ok, added=[name for _ in report.added], replaced=[name for _ in report.replaced],
        unchanged=[name for _ in report.unchanged], failed=[upload.relative(f) for f in report.failed],
        seconds=report.seconds, filename=name, detected_type=upload.kind, documents=docs,
    )


@router.delete(
    "/{doc_id}",
    summary="Remove a document and everything that came from it (needs X-API-Key)",
    dependencies=[ApiKey],
    responses={**_AUTH_ERRORS, 503: {"model": ErrorOut, "description": "Removed locally; a server could not be told (rerun sync)"}},
)
def delete_document(
    kb: KB, doc_id: Annotated[str, PathParam(min_length=1, max_length=200, description="Document id or its unique prefix (6+ hex digits).")],
) -> RemovalReport:
    """200 with ``removed`` (or ``already_removed`` when it had been removed before); 404 for an unknown id."""
    return kb.remove([doc_id])
