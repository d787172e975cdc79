"""A real authoritative DNS server on loopback (UDP and TCP) serving records a test sets."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.TXT import TXT

Mode = Literal["answer", "servfail", "refuse", "drop"]
_TXT_CHUNK = 255  # a TXT character-string holds at most 255 bytes


@dataclass(frozen=True)
class Query:
    name: str
    type: str
    transport: Literal["udp", "tcp"]


def _name(value: str) -> dns.name.Name:
    return dns.name.from_text(value.rstrip(".") + ".")


def _rdata(rdtype: str, value: str) -> dns.rdata.Rdata:
    if rdtype == "TXT":
        data = value.encode("utf-8")
        chunks = [data[i : i + _TXT_CHUNK] for i in range(0, len(data), _TXT_CHUNK)] or [b""]
        return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value)


class DnsServer:
    """Answers from an in-memory table; `mode` injects SERVFAIL, REFUSED or silence.

    TXT values are given as plain text and split into 255-byte strings as real zones do; UDP
    answers larger than the client's buffer are truncated so the client retries over TCP."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ttl: int = 60) -> None:
        self.host = host
        self.ttl = ttl
        self.mode: Mode = "answer"
        self.queries: list[Query] = []
        self._records: dict[tuple[dns.name.Name, str], list[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._udp, self._tcp = self._bind(port)
        self.port = self._udp.getsockname()[1]

    def _bind(self, port: int) -> tuple[socket.socket, socket.socket]:
        # UDP and TCP must share one port number; a free UDP port may be taken for TCP.
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, port))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue
            tcp.listen(16)
            udp.settimeout(0.1)
            tcp.settimeout(0.1)
            return udp, tcp
        raise OSError("no port free for both UDP and TCP")

    # -- records -----------------------------------------------------------------------------

    def set(self, name: str, rdtype: str, values: Iterable[str]) -> None:
        """Replaces the records of one name and type (an empty list removes them)."""
        rdtype = rdtype.upper()
        values = list(values)
        for value in values:
            _rdata(rdtype, value)  # refuse bad test data here, not at query time
        with self._lock:
            if values:
                self._records[(_name(name), rdtype)] = values
            else:
                self._records.pop((_name(name), rdtype), None)

    def add(self, name: str, rdtype: str, *values: str) -> None:
        with self._lock:
            current = list(self._records.get((_name(name), rdtype.upper()), []))
        self.set(name, rdtype, [*current, *values])

    def txt(self, name: str, *values: str) -> None:
        self.set(name, "TXT", values)

    def remove(self, name: str, rdtype: str | None = None) -> None:
        key = _name(name)
        with self._lock:
            for k in [k for k in self._records if k[0] == key and rdtype in (None, k[1])]:
                del self._records[k]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.queries.clear()

    # -- serving -----------------------------------------------------------------------------

    def answer(self, wire: bytes, transport: Literal["udp", "tcp"], limit: int) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append(Query(question.name.to_text(), rdtype, transport))
            mode = self.mode
            values = list(self._records.get((question.name, rdtype), []))
            exists = any(k[0] == question.name for k in self._records)
        if mode == "drop":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if mode == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif mode == "refuse":
            response.set_rcode(dns.rcode.REFUSED)
        elif values:
            rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, question.rdtype)
            for value in values:
                rrset.add(_rdata(rdtype, value), self.ttl)
            response.answer.append(rrset)
        elif not exists:
            response.set_rcode(dns.rcode.NXDOMAIN)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer = []
            response.flags |= dns.flags.TC
            return response.to_wire()

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            try:
                request = dns.message.from_wire(wire)
                limit = max(512, request.payload) if request.edns >= 0 else 512
            except dns.exception.DNSException:
                continue
            reply = self.answer(wire, "udp", limit)
            if reply is not None:
                with contextlib.suppress(OSError):
                    self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._tcp_client, args=(conn,), daemon=True)
            thread.start()

    def _tcp_client(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn:
            while not self._stop.is_set():
                try:
                    header = self._read(conn, 2)
                    if header is None:
                        return
                    wire = self._read(conn, struct.unpack("!H", header)[0])
                except OSError:
                    return
                if wire is None:
                    return
                reply = self.answer(wire, "tcp", 65535)
                if reply is None:
                    continue
                with contextlib.suppress(OSError):
                    conn.sendall(struct.pack("!H", len(reply)) + reply)

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def start(self) -> DnsServer:
        for target in (self._serve_udp, self._serve_tcp):
            thread = threading.Thread(target=target, name=f"dns-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
