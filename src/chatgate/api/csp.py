"""Content-Security-Policy violation reports: browsers post them here and they are logged, so an
operator sees an injection attempt (or a broken page) without any user telling them."""

from __future__ import annotations

import orjson
import structlog
from fastapi import APIRouter, Request, Response, status

from chatgate.api.deps import ServicesDep, client_ip
from chatgate.errors import RateLimited

router = APIRouter(tags=["security"])
log = structlog.get_logger("chatgate.csp")
REPORTS_PER_MINUTE = "30/minute"


@router.post("/api/csp-report", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def csp_report(request: Request, services: ServicesDep) -> Response:
    """Public (browsers send these on their own); bodies are small, and each address is capped."""
    ip = client_ip(request)
    try:
        await services.limits.take(REPORTS_PER_MINUTE, "csp", ip)
    except RateLimited:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    body = (await request.body())[:8192]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    reports = data if isinstance(data, list) else [data]
    for report in reports[:10]:
        details = (
            report.get("csp-report") or report.get("body") or {} if isinstance(report, dict) else {}
        )
        if not isinstance(details, dict):
            continue
        log.warning(
            "content security policy violation",
            directive=str(
                details.get("violated-directive") or details.get("effectiveDirective") or ""
            )[:100],
            blocked=str(details.get("blocked-uri") or details.get("blockedURL") or "")[:200],
            page=str(details.get("document-uri") or details.get("documentURL") or "")[:200],
            client=ip,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
