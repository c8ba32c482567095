"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chatgate.api.deps import ServicesDep
from chatgate.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process is up (no I/O: it must answer even while the database is busy)."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def readyz(services: ServicesDep) -> HealthOut | JSONResponse:
    """The database answers."""
    try:
        await services.db.ping()
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return HealthOut(status="ok")
