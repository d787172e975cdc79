"""The bench's SMTP sink and latency proxies as a process of their own, driven in JSON lines.

Started by `_common.SinkProcess`; the one argument is `{"rtts": [...], "faults": {...}}`.
It prints the ports and certificate, then answers one JSON line per command read from stdin:
`["stats"]`, `["ids"]`, `["clear"]`, `["set", {attribute: value}]`, `["stop"]`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PASSWORD, USER

from carteiro.testing.latency_proxy import LatencyProxy
from carteiro.testing.pipelining_sink import PipeliningSink


def main() -> None:
    options = json.loads(sys.argv[1])
    sink = PipeliningSink(users={USER: PASSWORD}, keep_data=False, seed=7).start()
    for key, value in options.get("faults", {}).items():
        setattr(sink, key, value)
    proxies = {
        rtt: LatencyProxy(sink.hostname, sink.port, rtt_ms=rtt).start() for rtt in options["rtts"]
    }

    def reply(value: object) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    reply(
        {
            "sink_port": sink.port,
            "ports": {rtt: proxy.port for rtt, proxy in proxies.items()},
            "cert": str(sink.cert_path),
        }
    )
    for line in sys.stdin:
        command, arg = json.loads(line)
        if command == "stop":
            break
        if command == "stats":
            reply(
                {
                    "count": sink.count,
                    "connections": sink.connections,
                    "pipelined": sink.pipelined_connections,
                    "round_trips": sink.round_trips,
                    "faults": sink.faults,
                    "logins": sink.logins,
                }
            )
        elif command == "ids":
            reply(sink.message_ids())
        elif command == "clear":
            sink.clear()
            reply(True)
        elif command == "set":
            for key, value in arg.items():
                setattr(sink, key, value)
            reply(True)
    for proxy in proxies.values():
        proxy.stop()
    sink.stop()
    reply(True)


if __name__ == "__main__":
    main()
