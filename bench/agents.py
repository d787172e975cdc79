"""The agent's seed numbers: 50 e-mails from 10 threads (< 30 s), 1,000 adding < 100 MB.

    .venv/bin/python bench/agents.py                  # SQLite
    .venv/bin/python bench/agents.py --db postgresql

Four contenders queue the same messages, each phase in a fresh process and database:
`send_email_direct` (the LangChain module, in-process through the MCP tools),
`process_natural_language` without a model (the strict parser, then the same tool), the same
with the configured model (`CARTEIRO_LLM_PROVIDER=openai` through `init_chat_model` and
langchain-openai, against the fake OpenAI-compatible server on loopback, answering at once: a
tool call, then the final text, so two model round trips per message), and the peer: the REST
API client (`POST /emails/mcp` over HTTP to uvicorn in the same process).
Memory: RSS after the sends minus RSS after one warm-up send (both in MB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PG_ADMIN_URL

THREADS_TARGET_S = 30.0
MEMORY_TARGET_MB = 100.0
CONTENDERS = ("agent", "natural", "openai", "rest")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'carteiro.db'}"
        return
    import psycopg

    name = f"carteiro_bench_agents_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def phase(contender: str, db: str, messages: int, threads: int) -> dict[str, float]:
    """Runs in the child: set up, warm up once, then time `messages` sends."""
    import httpx

    from carteiro import wiring
    from carteiro.agents import langchain as agents
    from carteiro.api.app import create_app
    from carteiro.config import Settings
    from carteiro.testing.asgi_server import serve_in_thread

    with tempfile.TemporaryDirectory() as tmp, database(db, Path(tmp)) as url:
        settings = Settings(
            _env_file=None,
            database_url=url,
            data_dir=Path(tmp) / "data",
            secret_key="bench",
            email_rate_limit_per_hour=0,
            log_level="WARNING",
        )
        runtime = wiring.runtime(settings)
        runtime.migrate()
        key = runtime.bootstrap()
        assert key is not None

        def body(i: int) -> tuple[str, str, str]:
            return f"equipe{i}@empresa.com", f"Reunião {i}", "A reunião é amanhã às 10h."

        def natural(i: int) -> object:
            to, subject, text = body(i)
            sentence = f"Envie um email para {to} com assunto '{subject}' e mensagem '{text}'"
            result = agents.process_natural_language(sentence, api_key=key, runtime=runtime)
            assert result.sent, result.answer
            return result

        def serve() -> Iterator[Callable[[int], object]]:
            if contender == "agent":
                yield lambda i: agents.send_email_direct(*body(i), api_key=key, runtime=runtime)
            elif contender == "natural":
                yield natural
            elif contender == "openai":
                from carteiro.agents.parser import parse_send_request
                from carteiro.testing.fake_openai import FakeOpenAI, ToolCallReply

                def turn(request: dict[str, Any]) -> str | list[ToolCallReply]:
                    last = request["messages"][-1]
                    if last["role"] == "tool":
                        return "Enviado."
                    asked = parse_send_request(last["content"])
                    assert asked is not None
                    args = {"to": asked.to, "subject": asked.subject, "body": asked.body}
                    return [ToolCallReply("send_email", args)]

                fake = FakeOpenAI(replies=[turn] * (2 * messages + 2), record=False)
                with serve_in_thread(fake.app) as fake_base:
                    s = runtime.settings
                    s.llm_provider, s.llm_model = "openai", "gpt-4o-mini"
                    s.llm_api_key, s.llm_base_url = "sk-test", f"{fake_base}/v1"
                    yield natural
            else:
                with serve_in_thread(create_app(runtime, run_worker=False)) as base:
                    clients = httpx.Client(
                        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
                    )

                    def rest(i: int) -> object:
                        to, subject, text = body(i)
                        got = clients.post(
                            "/emails/mcp", json={"to": to, "subject": subject, "body": text}
                        )
                        assert got.status_code == 201, got.text
                        return got

                    yield rest
                    clients.close()

        for send in serve():
            send(0)
            before = rss_mb()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(send, range(1, messages + 1)))
            seconds = time.perf_counter() - started
            after = rss_mb()
        runtime.db.dispose()
    return {"seconds": seconds, "rss_before": before, "rss_added": after - before}


def run_child(contender: str, db: str, messages: int, threads: int) -> dict[str, float]:
    args = [sys.executable, __file__, "--phase", contender, "--db", db]
    args += ["--messages", str(messages), "--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))}
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{contender} failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--phase", choices=CONTENDERS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.db, args.messages, args.threads)))
        return
    print(f"database: {args.db}")
    print("\n50 e-mails from 10 threads (target < 30 s)")
    timed = {c: run_child(c, args.db, 50, 10) for c in CONTENDERS}
    for c, r in timed.items():
        verdict = "PASS" if r["seconds"] < THREADS_TARGET_S else "MISS"
        ratio = r["seconds"] / timed["rest"]["seconds"]
        extra = "" if c == "rest" else f"  {ratio:.2f}x the REST time"
        print(f"  {c:8} {r['seconds']:6.2f} s  {50 / r['seconds']:7.1f}/s{extra}  {verdict}")
    print("\n1,000 e-mails (target < 100 MB added)")
    memory = {c: run_child(c, args.db, 1000, 1) for c in CONTENDERS}
    for c, r in memory.items():
        verdict = "PASS" if r["rss_added"] < MEMORY_TARGET_MB else "MISS"
        print(
            f"  {c:8} +{r['rss_added']:6.1f} MB (from {r['rss_before']:.0f} MB) "
            f"in {r['seconds']:6.2f} s  {1000 / r['seconds']:7.1f}/s  {verdict}"
        )


if __name__ == "__main__":
    main()
