"""The import pages over HTTP: upload, the job's progress fragment, row errors, past imports."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from leadsui import HEADER, xlsx
from webkit import csrf_of

from carteiro.leads import worker
from carteiro.runtime import Runtime
from carteiro.tenancy import audit
from carteiro.tenancy.service import Principal


def _upload(client: TestClient, content: bytes, name: str = "leads.xlsx", **data: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/ui/leads/import",
        data={"csrf_token": csrf_of(client), **data},
        files={"file": (name, content, "application/octet-stream")},
        follow_redirects=False,
    )


def _job_id(location: str) -> int:
    found = re.fullmatch(r"/ui/leads/import/(\d+)", location)
    assert found, location
    return int(found.group(1))


def test_an_upload_becomes_a_job_whose_progress_reaches_done_with_row_errors(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    rows = [HEADER] + [
        [f"Loja {i}", "", "", f"loja{i}@example.com" if i % 30 else "sem-arroba", ""]
        for i in range(1, 121)
    ]
    operator = as_user("operator")
    sent = _upload(operator, xlsx(rows), "lojas.xlsx")
    assert sent.status_code == 303, sent.text
    job_id = _job_id(sent.headers["location"])
    waiting = operator.get(sent.headers["location"])
    assert 'data-job-status="pendente"' in waiting.text
    # The page polls its fragment while the job runs.
    assert f'hx-get="/ui/leads/import/{job_id}/frag/progress"' in waiting.text
    assert 'hx-trigger="every 1s"' in waiting.text

    assert worker.run_now(runtime, job_id, worker_id="test")
    fragment = operator.get(f"/ui/leads/import/{job_id}/frag/progress")
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="job-progress"')
    assert "<html" not in fragment.text and "hx-trigger" not in fragment.text
    assert "concluído" in fragment.text and 'value="100.0"' in fragment.text
    assert fragment.text.count('data-row="') == 4
    assert "não é um endereço de e-mail" in fragment.text
    assert 'data-count="created">120<' in fragment.text

    listing = operator.get("/ui/leads/import")
    assert f'data-job="{job_id}"' in listing.text and "lojas.xlsx" in listing.text
    with runtime.db.session() as session:
        entries, _ = audit.list_(
            session, tenant_id=principal.tenant_id, filter=audit.AuditFilter(action="import")
        )
    assert [e.target_id for e in entries] == [str(job_id)]


def test_row_errors_are_paginated(as_user: Callable[..., TestClient], runtime: Runtime) -> None:
    rows = [HEADER] + [[f"Loja {i}", "", "", "sem-arroba", ""] for i in range(1, 71)]
    operator = as_user("operator")
    job_id = _job_id(_upload(operator, xlsx(rows)).headers["location"])
    worker.run_now(runtime, job_id, worker_id="test")
    first = operator.get(f"/ui/leads/import/{job_id}")
    assert first.text.count('data-row="') == 50
    assert f'href="/ui/leads/import/{job_id}?offset=50"' in first.text
    second = operator.get(f"/ui/leads/import/{job_id}", params={"offset": 50})
    assert second.text.count('data-row="') == 20


def test_a_bad_upload_names_the_field_and_the_fix(as_user: Callable[..., TestClient]) -> None:
    operator = as_user("operator")
    nothing = operator.post(
        "/ui/leads/import", data={"csrf_token": csrf_of(operator)}, follow_redirects=False
    )
    assert nothing.status_code == 422
    assert 'id="file-error"' in nothing.text and "Escolha uma planilha" in nothing.text
    empty = _upload(operator, b"")
    assert empty.status_code == 422 and 'id="file-error"' in empty.text
    outside = operator.post(
        "/ui/leads/import",
        data={"csrf_token": csrf_of(operator), "path": "/etc/passwd"},
        follow_redirects=False,
    )
    assert outside.status_code == 422 and 'id="path-error"' in outside.text
    assert "uploads" in outside.text


def test_a_file_in_the_tenants_uploads_folder_can_be_imported_by_name(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    from carteiro.leads import jobs

    folder = jobs.uploads_dir(runtime.settings, tenant_id=principal.tenant_id)
    folder.mkdir(parents=True)
    (folder / "grande.xlsx").write_bytes(xlsx([HEADER, ["Loja", "", "", "a@example.com", ""]]))
    operator = as_user("operator")
    sent = operator.post(
        "/ui/leads/import",
        data={"csrf_token": csrf_of(operator), "path": "grande.xlsx"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    job_id = _job_id(sent.headers["location"])
    assert worker.run_now(runtime, job_id, worker_id="test")
    assert "concluído" in operator.get(sent.headers["location"]).text


def test_viewers_cannot_import_and_the_upload_needs_the_csrf_token(
    as_user: Callable[..., TestClient],
) -> None:
    viewer = as_user("viewer")
    assert viewer.get("/ui/leads/import").status_code == 403
    refused = _upload(viewer, xlsx([HEADER]))
    assert refused.status_code == 403
    operator = as_user("operator")
    no_token = operator.post(
        "/ui/leads/import",
        files={"file": ("a.xlsx", xlsx([HEADER]), "application/octet-stream")},
        follow_redirects=False,
    )
    assert no_token.status_code == 403
    assert "data-job=" not in operator.get("/ui/leads/import").text
    assert "Nenhuma importação ainda." in operator.get("/ui/leads/import").text


def test_a_fragment_without_a_session_answers_401(web: Callable[[], TestClient]) -> None:
    response = web().get("/ui/leads/import/1/frag/progress", follow_redirects=False)
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/ui/login")


def test_uploads_larger_than_the_json_limit_are_accepted(
    as_user: Callable[..., TestClient], runtime: Runtime
) -> None:
    # Console bodies are held to max_request_bytes (1 MB) except this upload route.
    lines = ["Razão Social;E-mail"] + [
        f"Loja {i:06d} {'x' * 200};l{i}@example.com" for i in range(6000)
    ]
    content = "\n".join(lines).encode()
    assert len(content) > runtime.settings.max_request_bytes
    sent = _upload(as_user("operator"), content, "grande.csv")
    assert sent.status_code == 303, sent.text[:300]
    job_id = _job_id(sent.headers["location"])
    assert worker.run_now(runtime, job_id, worker_id="test")
