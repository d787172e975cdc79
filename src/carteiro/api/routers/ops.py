"""Health and Prometheus metrics."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from carteiro.accounts import service as accounts
from carteiro.api.deps import Rt, Tx
from carteiro.api.router import Router
from carteiro.db.engine import ping
from carteiro.outbound import queue

router = Router(tags=["operations"])

PENDING_WARNING = 1000
EMAILS_PENDING = Gauge("emails_pending", "Messages waiting to be sent (all tenants)")
EMAILS_BY_STATUS = Gauge("emails_by_status", "Messages per status (all tenants)", ["status"])


@router.get("/health", summary="200 when the database answers, 503 otherwise")
def health(rt: Rt) -> JSONResponse:
    checks: dict[str, object] = {}
    # Its own transaction, not the request's: a database that does not answer is a 503 with
    # the checks, not an error response.
    try:
        with rt.db.session() as session:
            ping(session)
            stats, summary = queue.stats(session), accounts.health_summary(session)
    except Exception as exc:
        checks["database"] = {"status": "error", "detail": type(exc).__name__}
        return JSONResponse({"status": "error", "checks": checks}, status_code=503)
    checks["database"] = {"status": "ok", "dialect": rt.db.dialect}
    pending = stats.counts["pending"]
    checks["queue"] = {
        "status": "warning" if pending > PENDING_WARNING else "ok",
        "pending": pending,
        "dead": stats.counts["dead"],
        "oldest_pending_age_seconds": stats.oldest_pending_age_seconds,
    }
    troubled = summary["cooling_down"] + summary["by_status"].get("paused", 0)
    dns_bad = summary["dns"].get("error", 0) + summary["dns"].get("warning", 0)
    checks["accounts"] = {
        "status": "warning" if troubled or dns_bad else "ok",
        **summary,
    }
    dispatcher = rt.dispatcher
    checks["worker"] = {"status": "ok" if dispatcher else "external", "embedded": bool(dispatcher)}
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(session: Tx) -> Response:
    stats = queue.stats(session)
    for state, count in stats.counts.items():
        EMAILS_BY_STATUS.labels(status=state).set(count)
    EMAILS_PENDING.set(stats.counts["pending"])
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
