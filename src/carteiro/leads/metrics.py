"""Prometheus metrics for lead imports (the seed's IngestJobsCompleted and LeadsCreated)."""

from __future__ import annotations

from prometheus_client import Counter

INGEST_JOBS_COMPLETED = Counter(
    "ingest_jobs_completed_total", "Lead import jobs that ended", ["tenant", "status"]
)
LEADS_CREATED = Counter("leads_created_total", "Leads created by imports", ["tenant"])


def job_done(tenant_id: int, status: str, *, leads_created: int) -> None:
    INGEST_JOBS_COMPLETED.labels(tenant=str(tenant_id), status=status).inc()
    if leads_created:
        LEADS_CREATED.labels(tenant=str(tenant_id)).inc(leads_created)
