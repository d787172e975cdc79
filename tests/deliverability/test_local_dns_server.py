"""The local DNS server used by the tests: answers, NXDOMAIN, truncation to TCP, faults."""

from __future__ import annotations

import dns.exception
import pytest

from carteiro.mail.resolver import DnsResolver, LookupFailed, dkim_dnsfunc
from carteiro.testing.dns_server import DnsServer


def test_answers_over_udp(dns_server: DnsServer, resolver: DnsResolver) -> None:
    dns_server.txt("example.com", "v=spf1 -all", "other")
    dns_server.set("example.com", "MX", ["20 b.example.com.", "10 a.example.com."])
    dns_server.set("a.example.com", "A", ["192.0.2.1"])
    dns_server.set("a.example.com", "AAAA", ["2001:db8::1"])
    assert sorted(resolver.txt("example.com")) == ["other", "v=spf1 -all"]
    assert resolver.mx("example.com") == [(10, "a.example.com"), (20, "b.example.com")]
    assert resolver.addresses("a.example.com") == ["192.0.2.1", "2001:db8::1"]
    assert {q.transport for q in dns_server.queries} == {"udp"}


def test_missing_names_and_types(dns_server: DnsServer, resolver: DnsResolver) -> None:
    dns_server.set("a.example.com", "A", ["192.0.2.1"])
    assert resolver.txt("nothing.example.com") == []  # NXDOMAIN
    assert resolver.txt("a.example.com") == []  # the name exists, without TXT
    dns_server.remove("a.example.com")
    assert resolver.addresses("a.example.com") == []


def test_long_txt_is_split_and_large_answers_fall_back_to_tcp(
    dns_server: DnsServer, resolver: DnsResolver
) -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 3000
    dns_server.txt("big.example.com", value)
    assert resolver.txt("big.example.com") == [value]
    transports = [q.transport for q in dns_server.queries if q.name == "big.example.com."]
    assert transports == ["udp", "tcp"]  # truncated over UDP, retried over TCP
    assert dkim_dnsfunc(resolver)(b"big.example.com.") == value.encode()


@pytest.mark.parametrize("mode", ["servfail", "refuse", "drop"])
def test_faults_raise_lookup_failed(dns_server: DnsServer, mode: str) -> None:
    dns_server.txt("example.com", "x")
    dns_server.mode = mode  # type: ignore[assignment]
    quick = DnsResolver(nameservers=("127.0.0.1",), port=dns_server.port, timeout=0.5)
    with pytest.raises(LookupFailed):
        quick.txt("example.com")


def test_bad_test_data_is_refused_at_once(dns_server: DnsServer) -> None:
    with pytest.raises(dns.exception.SyntaxError):
        dns_server.set("example.com", "A", ["not-an-ip"])
