"""Carteiro's SmtpTransport alone (no database): pipelined versus aiosmtplib's sequential path.

Run by bench/dispatch.py as a subprocess, or by hand against any sink:

    .venv/bin/python bench/smtp_client.py --port P --cafile CERT -n 20000 [--no-pipelining]

`--connections` concurrent sends share one transport with that many pooled connections, as a
worker's dispatcher does. Prints one JSON line: sent, seconds, messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PASSWORD, SENDER, USER, raw_message, recipient

from carteiro.mail.transports.smtp import SmtpConfig, SmtpTransport


async def run(args: argparse.Namespace) -> dict:
    config = SmtpConfig(
        host=args.host,
        port=args.port,
        username=USER,
        password=PASSWORD,
        ca_file=args.cafile,
        max_connections=args.connections,
        pipelining=not args.no_pipelining,
        local_hostname="bench.client",
    )
    transport = SmtpTransport(config)
    raws = [raw_message(i, "transport") for i in range(args.messages)]
    index = 0

    async def lane() -> int:
        nonlocal index
        sent = 0
        while index < len(raws):
            i = index
            index += 1
            await transport.send(sender=SENDER, recipients=[recipient(i)], raw=raws[i])
            sent += 1
        return sent

    started = time.perf_counter()
    sent = sum(await asyncio.gather(*(lane() for _ in range(args.connections))))
    seconds = time.perf_counter() - started
    await transport.close()
    return {"sent": sent, "seconds": seconds, "rate": sent / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("-n", "--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--no-pipelining", action="store_true")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
