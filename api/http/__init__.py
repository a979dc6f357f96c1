"""The HTTP API and web page over a :class:`~policykg.api.kb.KnowledgeBase` (FastAPI; the only package importing it).

``create_app(kb)`` builds the app (:mod:`.app`): one router per resource (:mod:`.routers`), the
dependencies they declare (:mod:`.deps`), the request/response models that are not read models
(:mod:`.schemas`), and the upload checks (:mod:`.uploads`). The knowledge base is synchronous:
endpoints are plain ``def`` (run in the threadpool) or hand their calls to it with ``run_in_threadpool``.
"""

from __future__ import annotations

from policykg.api.http.app import create_app

__all__ = ["create_app"]
