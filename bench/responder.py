"""The AI responder at the guide's load: a 500 ms model, 50,000 tokens/minute, kill -9 midway.

    .venv/bin/python bench/responder.py                     # PostgreSQL, 600 messages
    .venv/bin/python bench/responder.py --db sqlite --messages 300

Incoming mail is appended to a private Dovecot and synced (an inbox rule hands each message to
the responder: one job each); then `--workers` real `carteiro worker` processes draft the
replies with the fake model (`carteiro.testing.fake_llm`, 500 ms per call) under the tenant's
token budget. When a third of the jobs are done one worker gets SIGKILL and a new one starts.
Printed: the sustained rate (jobs/hour over the middle 80% of completions) against the
guide's 5,000/hour and against the budget's own ceiling (tokens per minute over the tokens one
job really spends), p50/p95/p99 processing time, and loss (jobs not completed) and duplicates
(messages answered twice) after the kill.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agents import database

TARGET_PER_HOUR = 5000


def message(i: int) -> bytes:
    lines = [
        f"From: Cliente {i} <cliente{i}@example.org>",
        "To: atendimento@example.com",
        f"Subject: Pedido de orçamento {i}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {make_msgid(domain='example.org')}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    body = f"Olá, gostaria de um orçamento para {i} caixas de pão de queijo. Obrigado!"
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "carteiro", "worker"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=open(cwd / f"worker-{time.monotonic_ns()}.log", "wb"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--tokens-per-minute", type=int, default=50_000)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()

    from sqlalchemy import select

    from carteiro import wiring
    from carteiro.accounts import service as accounts
    from carteiro.accounts.schemas import AccountCreate, SmtpIn
    from carteiro.config import Settings
    from carteiro.inbound import rules
    from carteiro.inbound.models import InboxMessage
    from carteiro.inbound.schemas import RuleCreate
    from carteiro.inbound.worker import sync_account_blocking
    from carteiro.responder import service
    from carteiro.responder.models import ResponderJob
    from carteiro.testing.dovecot import Dovecot

    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        folder = Path(tmp)
        settings = Settings(
            _env_file=None,
            database_url=url,
            data_dir=folder / "data",
            secret_key="bench",
            email_rate_limit_per_hour=0,
            log_level="WARNING",
        )
        runtime = wiring.runtime(settings)
        runtime.migrate()
        key = runtime.bootstrap()
        principal = runtime.authenticate(key)
        dovecot = Dovecot()
        dovecot.start()
        try:
            with runtime.db.session() as session:
                account = accounts.create(
                    session,
                    tenant_id=principal.tenant_id,
                    data=AccountCreate(
                        name="atendimento",
                        email=dovecot.user,
                        # Replies are held for review: nothing connects to this relay.
                        smtp=SmtpIn(host="127.0.0.1", port=9, security="none"),
                        imap={**dovecot.imap_settings, "poll_seconds": 3600},
                    ),
                    vault=runtime.vault,
                ).id
                rules.create(
                    session,
                    principal=principal,
                    data=RuleCreate(name="IA", responder="ai", prompt="Seja breve e cordial."),
                )
            started = time.perf_counter()
            dovecot.append_many("INBOX", (message(i) for i in range(args.messages)))
            sync_account_blocking(runtime, account_id=account)
            fed = time.perf_counter() - started
        finally:
            dovecot.stop()
        with runtime.db.session() as session:
            jobs = len(list(session.scalars(select(ResponderJob.id))))
        print(
            f"{args.db}: {args.messages} messages appended and synced in {fed:.1f} s -> {jobs} jobs"
        )

        env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))}
        env.update(
            CARTEIRO_DATABASE_URL=url,
            CARTEIRO_DATA_DIR=str(settings.data_dir),
            CARTEIRO_SECRET_KEY="bench",
            CARTEIRO_LOG_LEVEL="WARNING",
            EMAIL_RATE_LIMIT_PER_HOUR="0",
            CARTEIRO_POLL_INTERVAL="0.5",
            CARTEIRO_LEASE_SECONDS="10",
            CARTEIRO_LLM_PROVIDER="carteiro.testing.fake_llm:from_env",
            CARTEIRO_FAKE_LLM_LATENCY=str(args.latency),
            CARTEIRO_LLM_TIMEOUT_SECONDS="10",
            CARTEIRO_RESPONDER_TOKENS_PER_MINUTE=str(args.tokens_per_minute),
            CARTEIRO_RESPONDER_POLL_INTERVAL="0.2",
        )

        def counts() -> collections.Counter[str]:
            with runtime.db.session() as session:
                return collections.Counter(session.scalars(select(ResponderJob.status)))

        workers = [start_worker(env, folder) for _ in range(args.workers)]
        killed = False
        started = time.monotonic()
        try:
            while time.monotonic() - started < args.timeout:
                done = counts()
                if not killed and done["completed"] >= jobs // 3:
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait(timeout=10)
                    workers.append(start_worker(env, folder))
                    killed = True
                    print(f"SIGKILL to one worker at {done['completed']} completed; restarted")
                if sum(done[s] for s in ("completed", "failed", "dead_letter")) >= jobs:
                    break
                time.sleep(0.5)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
                    w.wait(timeout=30)
        elapsed = time.monotonic() - started
        with runtime.db.session() as session:
            rows = session.execute(
                select(ResponderJob.completed_at, ResponderJob.tokens_used).where(
                    ResponderJob.status == "completed"
                )
            ).all()
            answered = collections.Counter(
                session.scalars(
                    select(InboxMessage.reply_to_message_id).where(InboxMessage.direction == "out")
                )
            )
            numbers = service.stats(session, tenant_id=principal.tenant_id)
        runtime.db.dispose()

    final = {s.status: s.count for s in numbers.statuses}
    times = sorted(r[0] for r in rows if r[0] is not None)
    tokens = [r[1] for r in rows if r[1]]
    per_job = sum(tokens) / len(tokens) if tokens else 0.0
    ceiling = args.tokens_per_minute / per_job * 60 if per_job else 0.0
    # The bucket starts full: about a minute's budget of jobs goes at once. The steady rate is
    # measured after those, once the budget's refill paces the workers.
    burst = int(args.tokens_per_minute / per_job) if per_job else 0

    def rate(part: list[datetime]) -> float:
        cut = len(part) // 10
        middle = part[cut : len(part) - cut] if len(part) > 10 else part
        span = (middle[-1] - middle[0]).total_seconds() if len(middle) > 1 else 0.0
        return (len(middle) - 1) / span * 3600 if span else 0.0

    overall, steady = rate(times), rate(times[burst:])
    p = numbers.processing_time
    lost = jobs - final.get("completed", 0)
    duplicates = sum(1 for n in answered.values() if n > 1)
    print(f"all jobs final after {elapsed:.0f} s: {final}")
    print(f"all {len(times)} completions: {overall:,.0f} jobs/hour (middle 80%, burst included)")
    print(
        f"steady after the first {burst} (the full bucket): {steady:,.0f} jobs/hour, "
        f"{steady / TARGET_PER_HOUR:.2f}x the guide's {TARGET_PER_HOUR:,}/h; the budget's "
        f"long-run ceiling is {ceiling:,.0f}/h at {per_job:.0f} tokens a job"
        if ceiling and len(times) > burst + 10
        else f"steady rate: too few jobs after the first {burst}; use more --messages"
    )
    if ceiling and len(times) > 1:
        # What the bucket could pay for from the first completion to the last: a full bucket
        # plus its refill; the pipeline must stay at or under it (the budget holds).
        window = (times[-1] - times[0]).total_seconds()
        allowed = (args.tokens_per_minute * (1 + window / 60)) / per_job
        print(
            f"the budget allowed {allowed:,.0f} jobs over the {window:.0f} s of completions; "
            f"{len(times)} were done ({len(times) / allowed:.2f}x)"
        )
    print(
        f"processing time p50 {p.p50_ms:.0f} ms, p95 {p.p95_ms:.0f} ms, p99 {p.p99_ms:.0f} ms "
        f"(model latency {args.latency * 1000:.0f} ms)"
        if p.p50_ms is not None
        else "no job completed"
    )
    verdict = "PASS" if lost == 0 and duplicates == 0 and steady >= TARGET_PER_HOUR else "MISS"
    print(f"after kill -9: {lost} jobs lost, {duplicates} messages answered twice  {verdict}")


if __name__ == "__main__":
    main()
