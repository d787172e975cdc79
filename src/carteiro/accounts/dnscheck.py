"""DNS readiness of a sending domain: SPF, DKIM, DMARC and MX checks, and records to publish."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from carteiro.accounts import spf
from carteiro.accounts.dns_schemas import Check, DnsRecord, DnsReport
from carteiro.db.types import utcnow
from carteiro.mail.names import organisational_domain
from carteiro.mail.resolver import LookupFailed, Resolver

# Mailbox providers' own domains: their users cannot publish records, the provider does.
PROVIDER_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "yahoo.com.br",
        "icloud.com",
        "me.com",
        "aol.com",
        "uol.com.br",
        "bol.com.br",
    }
)


@dataclass(frozen=True)
class KeyInfo:
    """What the DKIM check needs of a stored key."""

    domain: str
    selector: str
    public_key: str


def tags(record: str) -> dict[str, str]:
    """'v=DKIM1; k=rsa; p=…' → {'v': 'DKIM1', 'k': 'rsa', 'p': '…'} (whitespace removed)."""
    found: dict[str, str] = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            found[key.strip().lower()] = "".join(value.split())
    return found


def _lookup(check: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except LookupFailed as exc:
        return Check(name=check, status="error", message=f"DNS look-up failed: {exc}")


def check_dkim(resolver: Resolver, *, domain: str, key: KeyInfo | None) -> Check:
    if key is None:
        return Check(
            name="dkim",
            status="warning",
            message=f"Carteiro has no DKIM key for {domain} yet: generate one and publish its "
            "record so mail is signed",
        )
    name = f"{key.selector}._domainkey.{key.domain}"
    records = [r for r in resolver.txt(name) if "p=" in r]
    if not records:
        return Check(
            name="dkim",
            status="error",
            message=f"no DKIM record at {name}: publish the record shown",
            detail={"name": name},
        )
    found_tags = tags(records[0])
    published = found_tags.get("p", "")
    detail: dict[str, object] = {"name": name, "selector": key.selector}
    if len(records) > 1:
        return Check(
            name="dkim",
            status="error",
            message=f"{name} has {len(records)} DKIM records; keep only one",
            found=records,
            detail=detail,
        )
    if found_tags.get("k", "rsa").lower() != "rsa" or not published:
        return Check(
            name="dkim",
            status="error",
            message=f"the DKIM record at {name} is revoked or not an RSA key",
            found=records,
            detail=detail,
        )
    if not _same_key(published, key.public_key):
        return Check(
            name="dkim",
            status="error",
            message=f"the DKIM record at {name} holds a different key than Carteiro signs with: "
            "publish the record shown",
            found=records,
            detail=detail,
        )
    if "y" in found_tags.get("t", "").split(":"):
        return Check(
            name="dkim",
            status="warning",
            message="the DKIM record matches but is in test mode (t=y): remove t=y",
            found=records,
            detail=detail,
        )
    return Check(
        name="dkim",
        status="ok",
        message=f"the DKIM record at {name} matches Carteiro's key",
        found=records,
        detail=detail,
    )


def _same_key(published: str, ours: str) -> bool:
    try:
        return base64.b64decode(published, validate=False) == base64.b64decode(ours)
    except ValueError:
        return False


def check_dmarc(resolver: Resolver, *, domain: str, spf_ok: bool, dkim_ok: bool) -> Check:
    name = f"_dmarc.{domain}"
    records = [r for r in resolver.txt(name) if r.lower().startswith("v=dmarc1")]
    inherited = False
    org = organisational_domain(domain)
    if not records and org != domain:
        name = f"_dmarc.{org}"
        records = [r for r in resolver.txt(name) if r.lower().startswith("v=dmarc1")]
        inherited = bool(records)
    if not records:
        return Check(
            name="dmarc",
            status="error",
            message=f"no DMARC record at _dmarc.{domain}: Gmail and Yahoo require one from bulk "
            "senders; start with the record shown (p=none)",
        )
    if len(records) > 1:
        return Check(
            name="dmarc",
            status="error",
            message=f"{name} has {len(records)} DMARC records; receivers ignore them all",
            found=records,
        )
    found_tags = tags(records[0])
    policy = found_tags.get("sp" if inherited else "p") or found_tags.get("p")
    detail: dict[str, object] = {
        "record_at": name,
        "policy": policy,
        "adkim": found_tags.get("adkim", "r"),
        "aspf": found_tags.get("aspf", "r"),
        "pct": found_tags.get("pct", "100"),
        "rua": found_tags.get("rua"),
        "aligned_dkim": dkim_ok,
        "aligned_spf": spf_ok,
    }
    if policy not in ("none", "quarantine", "reject"):
        return Check(
            name="dmarc",
            status="error",
            message=f"the DMARC record at {name} has no valid policy (p=none, quarantine or "
            "reject)",
            found=records,
            detail=detail,
        )
    if not (spf_ok or dkim_ok):
        return Check(
            name="dmarc",
            status="error",
            message=f"DMARC policy '{policy}' is published, but neither SPF nor DKIM will pass "
            f"for {domain}: fix them or mail fails DMARC",
            found=records,
            detail=detail,
        )
    note = " (monitoring only)" if policy == "none" else ""
    via = " and ".join(n for n, ok in (("DKIM", dkim_ok), ("SPF", spf_ok)) if ok)
    return Check(
        name="dmarc",
        status="ok",
        message=f"DMARC policy '{policy}'{note}; mail aligns through {via}",
        found=records,
        detail=detail,
    )


def check_mx(resolver: Resolver, *, domain: str) -> Check:
    records = resolver.mx(domain)
    found = [f"{pref} {host}" for pref, host in records]
    if not records:
        return Check(
            name="mx",
            status="warning",
            message=f"{domain} has no MX record: replies and bounces cannot reach it, and some "
            "receivers distrust senders whose domain takes no mail",
        )
    if records == [(0, "")] or all(host in ("", ".") for _, host in records):
        return Check(
            name="mx",
            status="warning",
            message=f"{domain} publishes a null MX (it accepts no mail): replies will bounce",
            found=found,
        )
    return Check(name="mx", status="ok", message=f"{domain} receives mail", found=found)


def records_to_publish(
    *,
    domain: str,
    smtp_host: str,
    key: KeyInfo | None,
    current_spf: str | None = None,
    current_dmarc: str | None = None,
) -> list[DnsRecord]:
    """The TXT records that make `domain` ready to send through `smtp_host`."""
    if domain in PROVIDER_DOMAINS:
        return []
    term = spf.suggested_term(smtp_host)
    records = [
        DnsRecord(
            type="TXT",
            name=domain,
            value=spf.merged_record(current_spf, term),
            purpose="SPF",
            note="replaces the current SPF record" if current_spf else None,
        )
    ]
    if key is not None:
        records.append(
            DnsRecord(
                type="TXT",
                name=f"{key.selector}._domainkey.{key.domain}",
                value=f"v=DKIM1; k=rsa; p={key.public_key}",
                purpose="DKIM",
            )
        )
    records.append(
        DnsRecord(
            type="TXT",
            name=f"_dmarc.{domain}",
            value=current_dmarc or "v=DMARC1; p=none; adkim=r; aspf=r",
            purpose="DMARC",
            note="already published"
            if current_dmarc
            else "start with p=none; move to p=quarantine once reports show all your mail passes",
        )
    )
    return records


def overall(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    if "error" in statuses:
        return "error"
    return "warning" if "warning" in statuses else "ok"


def check_domain(
    resolver: Resolver, *, domain: str, smtp_host: str, key: KeyInfo | None
) -> DnsReport:
    """Runs every check against `resolver`; a failing look-up is an error in that check."""
    now = utcnow()
    if domain in PROVIDER_DOMAINS:
        checks = [
            Check(
                name=n,
                status="skipped",
                message=f"{domain} is a mailbox provider's domain: it publishes its own records",
            )
            for n in ("spf", "dkim", "dmarc", "mx")
        ]
        return DnsReport(domain=domain, status="ok", checks=checks, records=[], checked_at=now)
    spf_check = _lookup("spf", lambda: spf.check_spf(resolver, domain=domain, smtp_host=smtp_host))
    dkim_check = _lookup("dkim", lambda: check_dkim(resolver, domain=domain, key=key))
    dmarc_check = _lookup(
        "dmarc",
        lambda: check_dmarc(
            resolver,
            domain=domain,
            spf_ok=spf_check.status in ("ok", "warning"),
            dkim_ok=dkim_check.status in ("ok", "warning") and key is not None,
        ),
    )
    mx_check = _lookup("mx", lambda: check_mx(resolver, domain=domain))
    checks = [spf_check, dkim_check, dmarc_check, mx_check]
    spf_found = spf_check.found[0] if spf_check.found and len(spf_check.found) == 1 else None
    dmarc_found = (
        dmarc_check.found[0]
        if dmarc_check.found
        and dmarc_check.detail.get("record_at") == f"_dmarc.{domain}"
        and dmarc_check.detail.get("policy") in ("none", "quarantine", "reject")
        else None
    )
    records = records_to_publish(
        domain=domain,
        smtp_host=smtp_host,
        key=key,
        current_spf=spf_found,
        current_dmarc=dmarc_found,
    )
    return DnsReport(
        domain=domain,
        status=overall(checks),
        checks=checks,
        records=records,
        checked_at=now,
    )
