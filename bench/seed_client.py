"""The seed's approach: smtplib, a new connection + STARTTLS + login per message, 10 threads.

Run by bench/dispatch.py as a subprocess:

    .venv/bin/python bench/seed_client.py --port P --cafile CERT -n 2000

Prints one JSON line: sent, failed, seconds, messages/s.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PASSWORD, SENDER, USER, raw_message, recipient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("-n", "--messages", type=int, default=2_000)
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.cafile)
    messages = [raw_message(i, "seed") for i in range(args.messages)]

    def send(i: int) -> bool:
        # As the seed did it: everything from scratch for every message.
        with smtplib.SMTP(args.host, args.port, timeout=30) as smtp:
            smtp.starttls(context=context)
            smtp.login(USER, PASSWORD)
            smtp.sendmail(SENDER, [recipient(i)], messages[i])
        return True

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda i: _safe(send, i), range(args.messages)))
    seconds = time.perf_counter() - started
    sent = sum(results)
    out = {"sent": sent, "failed": len(results) - sent, "seconds": seconds, "rate": sent / seconds}
    print(json.dumps(out), flush=True)


def _safe(send: object, i: int) -> bool:
    try:
        return send(i)  # type: ignore[operator]
    except (OSError, smtplib.SMTPException):
        return False


if __name__ == "__main__":
    main()
