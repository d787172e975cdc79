"""Worker memory with a deep queue: peak RSS of one `carteiro worker` with 100,000 queued.

    .venv/bin/python bench/memory.py                      # PostgreSQL, 100,000 messages
    .venv/bin/python bench/memory.py --db sqlite --messages 20000 --seconds 5

The messages go through POST /emails/batch (1,000 per call) before any worker runs; then one
worker sends for --seconds against the sink (20 ms round trip) and its peak RSS (the
kernel's high-water mark, sampled every 0.2 s) is printed against the 150 MB target.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _carteiro import CarteiroStack
from _common import SinkProcess

TARGET_MB = 150


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    args = parser.parse_args()
    with (
        SinkProcess([args.rtt_ms]) as sink,
        CarteiroStack(db=args.db, smtp_port=sink.ports[args.rtt_ms], ca_file=sink.cert) as stack,
    ):
        started = time.monotonic()
        stack.enqueue(args.messages)
        queued = time.monotonic() - started
        worker = stack.start_worker()
        time.sleep(args.seconds)
        stack.rss.sample()
        peak = stack.rss.max_mb()
        sent = stack.counts().get("sent", 0)
        alive = worker.poll() is None
    verdict = "PASS" if peak < TARGET_MB and alive else "MISS"
    print(f"queued {args.messages:,} messages on {args.db} in {queued:.0f}s")
    print(f"one worker ran {args.seconds:g}s and sent {sent:,}; it was alive at the end: {alive}")
    print(f"worker peak RSS: {peak:.0f} MB (target < {TARGET_MB} MB)  {verdict}")


if __name__ == "__main__":
    main()
