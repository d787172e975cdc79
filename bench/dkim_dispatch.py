"""DKIM's cost end to end: the same Carteiro run (0 ms SMTP) with and without a signing key.

    .venv/bin/python bench/dkim_dispatch.py [--messages 5000] [--db postgresql|sqlite] [--rounds 2]

Runs alternate (off, on, off, on, …) so that background load on a shared machine hits both;
prints messages/s of each run, the medians and the slowdown signing causes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _carteiro import run_carteiro
from _common import SinkProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates: dict[bool, list[float]] = {False: [], True: []}
    with SinkProcess([0.0]) as sink:
        for _ in range(args.rounds):
            for dkim in (False, True):
                result = run_carteiro(
                    sink=sink, rtt=0.0, db=args.db, workers=1, count=args.messages, dkim=dkim
                )
                rate = float(result.get("rate") or 0.0)
                rates[dkim].append(rate)
                state = "signed  " if dkim else "unsigned"
                print(f"{state} {args.db} x1 {args.messages} msgs: {rate:7.1f} msg/s", flush=True)
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"median unsigned {off:.1f} msg/s, signed {on:.1f} msg/s")
    print(f"DKIM costs {100 * (off - on) / off:.1f}% of the 0 ms throughput (target < 10%)")


if __name__ == "__main__":
    main()
