"""The pipelining sink's connection loop: reads, answers in order, STARTTLS, faults."""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Protocol

from carteiro.testing.sink_session import CLOSE, DROP, STARTTLS, SinkPolicy, SinkSession


class SinkServer(SinkPolicy, Protocol):
    """The server's connection bookkeeping the loop updates (under its lock)."""

    connections: int
    pipelined_connections: int
    round_trips: int
    _lock: threading.Lock
    _writers: set[asyncio.StreamWriter]
    _tasks: set[asyncio.Task[None]]


_READ_SIZE = 256 * 1024


async def serve_connection(
    sink: SinkServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Reads what the client sent, answers every complete command in one write, in order."""
    sink._writers.add(writer)
    task = asyncio.current_task()
    if task is not None:
        sink._tasks.add(task)
    with sink._lock:
        sink.connections += 1
    peer = writer.get_extra_info("peername")
    session = SinkSession(sink, tls=False)
    pipelined = False
    buf = bytearray()
    try:
        writer.write(f"220 {sink.hostname} ESMTP carteiro sink\r\n".encode())
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                return
            buf += data
            out: list[bytes] = []
            commands, pos, action = 0, 0, None
            while action is None:
                if session.in_data:
                    end = _end_of_data(buf, pos)
                    if end is None:
                        break
                    reply = session.end_data(bytes(buf[pos : end[0]]), peer)
                    pos = end[1]
                else:
                    nl = buf.find(b"\n", pos)
                    if nl < 0:
                        break
                    line = bytes(buf[pos:nl]).rstrip(b"\r")
                    pos = nl + 1
                    reply = session.handle(line)
                commands += 1
                if isinstance(reply, bytes):
                    out.append(reply)
                else:
                    action = reply
            del buf[:pos]
            if commands > 1 and not pipelined:
                pipelined = True
                with sink._lock:
                    sink.pipelined_connections += 1
            if action is not None and action.startswith("delay:"):
                await asyncio.sleep(float(action.split(":", 1)[1]))
                out.append(session.accept_delayed(peer))
                action = None
            if action == DROP:
                writer.transport.abort()
                return
            if action is not None and action.startswith(CLOSE):
                out.append(action.split(":", 1)[1].encode() + b"\r\n")
            if out:
                # Counted before the write, so a client that sees the reply sees the count.
                with sink._lock:
                    sink.round_trips += 1
                writer.write(b"".join(out))
            if action is not None and action.startswith(CLOSE):
                await writer.drain()
                writer.close()
                return
            if action == STARTTLS:
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                # RFC 3207: anything the client sent after STARTTLS is discarded.
                buf.clear()
                assert sink.tls_context is not None
                await writer.start_tls(sink.tls_context)
                session = SinkSession(sink, tls=True)
            elif writer.transport.get_write_buffer_size() > _READ_SIZE:
                await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
        return
    finally:
        sink._writers.discard(writer)
        sink._tasks.discard(task)
        writer.transport.abort()


def _end_of_data(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """(end of body, start of next command) for a complete DATA body at `pos`."""
    if buf.startswith(b".\r\n", pos):
        return pos, pos + 3
    end = buf.find(b"\r\n.\r\n", pos)
    if end < 0:
        return None
    return end + 2, end + 5
