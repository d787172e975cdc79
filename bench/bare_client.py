"""The ceiling: a bare asyncio SMTP client, reused connections, pipelining, no database.

Run by bench/dispatch.py as a subprocess (its own process, its own core):

    .venv/bin/python bench/bare_client.py --port P --cafile CERT -n 20000 --connections 50

Messages are built and dot-stuffed before the clock starts; each connection logs in once,
then sends MAIL FROM + RCPT TO + DATA in one write and the message in a second. Prints one
JSON line: sent, seconds, messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PASSWORD, SENDER, USER, raw_message, recipient


async def _reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return line


async def _expect(reader: asyncio.StreamReader, code: bytes) -> None:
    line = await _reply(reader)
    if not line.startswith(code):
        raise RuntimeError(f"expected {code!r}, got {line!r}")


async def _session(
    host: str, port: int, context: ssl.SSLContext, jobs: list[tuple[bytes, bytes]], index: list[int]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    await _expect(reader, b"220")
    writer.write(b"EHLO bare.bench\r\n")
    await _expect(reader, b"250")
    writer.write(b"STARTTLS\r\n")
    await _expect(reader, b"220")
    await writer.start_tls(context, server_hostname=host)
    writer.write(b"EHLO bare.bench\r\n")
    await _expect(reader, b"250")
    token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())
    writer.write(b"AUTH PLAIN " + token + b"\r\n")
    await _expect(reader, b"235")
    sent = 0
    while index[0] < len(jobs):
        envelope, payload = jobs[index[0]]
        index[0] += 1
        writer.write(envelope)
        for code in (b"250", b"250", b"354"):
            await _expect(reader, code)
        writer.write(payload)
        await _expect(reader, b"250")
        sent += 1
    writer.write(b"QUIT\r\n")
    await _reply(reader)
    writer.close()
    return sent


async def run(host: str, port: int, cafile: str, count: int, connections: int) -> dict:
    context = ssl.create_default_context(cafile=cafile)
    jobs = []
    for i in range(count):
        raw = raw_message(i, "bare")
        payload = raw.replace(b"\r\n.", b"\r\n..") + b".\r\n"
        envelope = (
            f"MAIL FROM:<{SENDER}> SIZE={len(raw)}\r\nRCPT TO:<{recipient(i)}>\r\nDATA\r\n"
        ).encode()
        jobs.append((envelope, payload))
    index = [0]
    started = time.perf_counter()
    sent = await asyncio.gather(
        *(_session(host, port, context, jobs, index) for _ in range(connections))
    )
    seconds = time.perf_counter() - started
    return {"sent": sum(sent), "seconds": seconds, "rate": sum(sent) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("-n", "--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(run(args.host, args.port, args.cafile, args.messages, args.connections))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
