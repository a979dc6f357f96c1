"""``GET /health``: liveness, store counts, whether uploads are on, and where the backends run."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from fastapi import APIRouter, Request

from policykg.api.http.deps import KB
from policykg.api.http.schemas import HealthOut

router = APIRouter(tags=["health"])


def api_version() -> str:
    """The installed policykg version ("0" when running from an uninstalled tree)."""
    try:
        return package_version("policykg")
    except PackageNotFoundError:
        return "0"


@router.get("/health", summary="Liveness and store counts")
def get_health(request: Request, kb: KB) -> HealthOut:
    c = kb.stats()
    backends = kb.backends()
    return HealthOut(
        version=api_version(), documents=c["documents"], measures=c["measures"], regulations=c["regulations"],
        units=c["units"], passages=c["passages"], uploads=bool(request.app.state.api_key),
        graph=backends["graph"], vectors=backends["vectors"],
    )
