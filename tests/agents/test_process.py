"""The seed's two entry points from a fresh Python process configured by the environment only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from carteiro.outbound.models import Email
from carteiro.runtime import Runtime

pytestmark = pytest.mark.e2e

SCRIPT = """
import json
from carteiro.agents.langchain import process_natural_language, send_email_direct
direct = send_email_direct("ana@empresa.com", "Direto", "Olá", priority="high")
nl = process_natural_language(
    "Envie um email para equipe@empresa.com com assunto 'Reunião Semanal' e mensagem 'Às 10h.'"
)
refused = process_natural_language(
    "Envie um email para x@outra.com com assunto 'A' e mensagem 'B'"
)
print(json.dumps({"direct": direct["id"], "nl": nl.sent[0]["id"], "refused": refused.answer}))
"""


def test_a_script_sends_with_nothing_but_the_environment(
    runtime: Runtime, make_key: Callable[..., str], tmp_path: Path
) -> None:
    key = make_key("script", allowed_recipients=["*@empresa.com"])
    s = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))}
    env.update(
        CARTEIRO_DATABASE_URL=s.database_url,
        CARTEIRO_DATA_DIR=str(s.data_dir),
        CARTEIRO_SECRET_KEY=str(s.secret_key),
        CARTEIRO_API_KEY=key,
        EMAIL_RATE_LIMIT_PER_HOUR="0",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "allow-list" in out["refused"]
    with runtime.db.session() as session:
        emails = {e.id: (e.to_emails, e.subject) for e in session.scalars(select(Email))}
    assert emails == {
        out["direct"]: (["ana@empresa.com"], "Direto"),
        out["nl"]: (["equipe@empresa.com"], "Reunião Semanal"),
    }
