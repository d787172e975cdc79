"""SPF, best effort: read what a domain's record authorises; check it allows the SMTP host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from carteiro.accounts.dns_schemas import Check
from carteiro.mail.names import organisational_domain
from carteiro.mail.resolver import LookupFailed, Resolver

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_LOOKUPS = 10  # RFC 7208 4.6.4: more DNS-querying terms than this is a permerror

# SMTP host suffix → the include its provider asks customers to publish.
PROVIDER_INCLUDES: dict[str, str] = {
    "gmail.com": "_spf.google.com",
    "googlemail.com": "_spf.google.com",
    "google.com": "_spf.google.com",
    "office365.com": "spf.protection.outlook.com",
    "outlook.com": "spf.protection.outlook.com",
    "amazonaws.com": "amazonses.com",
    "sendgrid.net": "sendgrid.net",
    "mailgun.org": "mailgun.org",
    "zoho.com": "zoho.com",
    "zohomail.com": "zoho.com",
    "sparkpostmail.com": "sparkpostmail.com",
    "mandrillapp.com": "spf.mandrillapp.com",
    "brevo.com": "spf.brevo.com",
    "sendinblue.com": "spf.brevo.com",
    "locaweb.com.br": "_spf.locaweb.com.br",
}


def provider_include(smtp_host: str) -> str | None:
    host = smtp_host.lower().rstrip(".")
    for suffix, include in PROVIDER_INCLUDES.items():
        if host == suffix or host.endswith("." + suffix):
            return include
    return None


@dataclass
class SpfPolicy:
    """What a domain's SPF record (with its includes and redirect) allows."""

    record: str | None = None
    records: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    networks: list[IpNetwork] = field(default_factory=list)
    all_qualifier: str | None = None
    lookups: int = 0
    errors: list[str] = field(default_factory=list)

    def allows_ip(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in self.networks)


def spf_records(txt: list[str]) -> list[str]:
    return [t for t in txt if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def _split_cidr(spec: str) -> tuple[str, int | None, int | None]:
    """'host/24//64' → ('host', 24, 64)."""
    v6: int | None = None
    if "//" in spec:
        spec, _, tail = spec.partition("//")
        v6 = int(tail)
    v4: int | None = None
    if "/" in spec:
        spec, _, tail = spec.partition("/")
        v4 = int(tail)
    return spec, v4, v6


def _networks(addresses: list[str], v4: int | None, v6: int | None) -> list[IpNetwork]:
    found: list[IpNetwork] = []
    for address in addresses:
        ip = ipaddress.ip_address(address)
        prefix = (v4 if ip.version == 4 else v6) or ip.max_prefixlen
        found.append(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    return found


def read_policy(resolver: Resolver, domain: str) -> SpfPolicy:
    """Walks `domain`'s SPF record, its includes and redirect, within the lookup limit.

    Only pass ('+') terms add networks; macros, exists and ptr are noted and otherwise
    ignored. LookupFailed from the resolver propagates for the top-level record only."""
    policy = SpfPolicy()
    policy.records = spf_records(resolver.txt(domain))
    if len(policy.records) == 1:
        policy.record = policy.records[0]
        _walk(resolver, domain, policy.record, policy, top=True, depth=0)
    return policy


def _walk(
    resolver: Resolver, domain: str, record: str, policy: SpfPolicy, *, top: bool, depth: int
) -> None:
    redirect: str | None = None
    saw_all = False
    for term in record.split()[1:]:
        qualifier = "+"
        if term[0] in "+-~?":
            qualifier, term = term[0], term[1:]
        name, sep, arg = term.partition(":")
        name = name.lower()
        if "=" in name and not sep:
            key, _, value = term.partition("=")
            if key.lower() == "redirect":
                redirect = value
            continue
        if "/" in name:
            # "a/24" and "mx/24//64": the domain itself with a prefix length.
            name, _, cidr = name.partition("/")
            arg = f"{domain}/{cidr}"
        try:
            if name == "all":
                saw_all = True
                if top:
                    policy.all_qualifier = qualifier
            elif name in ("ip4", "ip6"):
                if qualifier == "+":
                    policy.networks.append(ipaddress.ip_network(arg, strict=False))
            elif name in ("a", "mx"):
                policy.lookups += 1
                target, v4, v6 = _split_cidr(arg or domain)
                if "%" in target:
                    continue
                hosts = [target] if name == "a" else [h for _, h in resolver.mx(target)][:10]
                if qualifier == "+":
                    for host in hosts:
                        policy.networks += _networks(resolver.addresses(host), v4, v6)
            elif name == "include":
                policy.lookups += 1
                if qualifier == "+" and "%" not in arg:
                    policy.includes.append(arg.lower().rstrip("."))
                    _follow(resolver, arg, policy, depth)
            elif name in ("exists", "ptr"):
                policy.lookups += 1
            else:
                policy.errors.append(f"unknown SPF term '{term}'")
        except ValueError:
            policy.errors.append(f"invalid SPF term '{term}'")
        except LookupFailed as exc:  # a failing include is reported, the rest is still read
            policy.errors.append(f"{term}: {exc}")
    if redirect and not saw_all:
        policy.lookups += 1
        policy.includes.append(redirect.lower().rstrip("."))
        if top:
            policy.all_qualifier = None
        _follow(resolver, redirect, policy, depth, redirect=top)


def _follow(
    resolver: Resolver, domain: str, policy: SpfPolicy, depth: int, *, redirect: bool = False
) -> None:
    if policy.lookups > MAX_LOOKUPS or depth >= MAX_LOOKUPS:
        return
    records = spf_records(resolver.txt(domain))
    if len(records) != 1:
        policy.errors.append(f"{domain} has {len(records)} SPF records")
        return
    _walk(resolver, domain, records[0], policy, top=redirect, depth=depth + 1)


def suggested_term(smtp_host: str) -> str:
    """The term that authorises the account's SMTP host: its provider's include, else the
    host's own addresses."""
    include = provider_include(smtp_host)
    if include:
        return f"include:{include}"
    try:
        ip = ipaddress.ip_address(smtp_host)
        return f"ip{ip.version}:{ip}"
    except ValueError:
        return f"a:{smtp_host.lower().rstrip('.')}"


def merged_record(current: str | None, term: str) -> str:
    """`current` with `term` added before its `all` (or a new record ending in ~all)."""
    if not current:
        return f"v=spf1 {term} ~all"
    terms = current.split()
    if term.lower() in (t.lower() for t in terms):
        return current
    for index, existing in enumerate(terms):
        bare = existing.lstrip("+-~?").lower()
        if bare == "all" or bare.startswith("redirect="):
            return " ".join([*terms[:index], term, *terms[index:]])
    return " ".join([*terms, term])


def check_spf(resolver: Resolver, *, domain: str, smtp_host: str) -> Check:
    """One record, within the look-up limit, allowing the SMTP host, ending in ~all or -all."""
    policy = read_policy(resolver, domain)
    suggestion = merged_record(policy.record, suggested_term(smtp_host))
    detail: dict[str, object] = {"suggested": suggestion, "includes": policy.includes}
    if not policy.records:
        return Check(
            name="spf", status="error", message=f"{domain} has no SPF record", detail=detail
        )
    if len(policy.records) > 1:
        return Check(
            name="spf",
            status="error",
            message=f"{domain} has {len(policy.records)} SPF records; receivers treat that as "
            "an error: merge them into one",
            found=policy.records,
            detail=detail,
        )
    found = [policy.record or ""]
    if policy.lookups > MAX_LOOKUPS:
        return Check(
            name="spf",
            status="error",
            message=f"the SPF record needs {policy.lookups} DNS look-ups; more than "
            f"{MAX_LOOKUPS} makes it invalid",
            found=found,
            detail=detail,
        )
    covered_by = _covering_term(resolver, policy, smtp_host)
    if covered_by is None:
        return Check(
            name="spf",
            status="error",
            message=f"the SPF record does not allow the SMTP host {smtp_host}: use '{suggestion}'",
            found=found,
            detail={**detail, "errors": policy.errors},
        )
    detail["allowed_by"] = covered_by
    if policy.all_qualifier in (None, "?", "+"):
        term = "no 'all' term" if policy.all_qualifier is None else f"'{policy.all_qualifier}all'"
        return Check(
            name="spf",
            status="warning",
            message=f"SPF allows {smtp_host} ({covered_by}) but ends with {term}: end it with "
            "'~all' or '-all' so others cannot send as this domain",
            found=found,
            detail=detail,
        )
    return Check(
        name="spf",
        status="ok",
        message=f"SPF allows {smtp_host} ({covered_by})",
        found=found,
        detail=detail,
    )


def _covering_term(resolver: Resolver, policy: SpfPolicy, smtp_host: str) -> str | None:
    include = provider_include(smtp_host)
    if include and include in policy.includes:
        return f"include:{include}"
    try:
        addresses = [smtp_host] if _is_ip(smtp_host) else resolver.addresses(smtp_host)
    except LookupFailed:
        addresses = []
    for address in addresses:
        if policy.allows_ip(address):
            return f"covers {address}"
    host_org = None if _is_ip(smtp_host) else organisational_domain(smtp_host.lower())
    for name in policy.includes:
        # include:_spf.provider.net for smtp.provider.net: the provider's own list, whose
        # outbound servers need not be the submission host's addresses.
        if host_org and "." in name and organisational_domain(name) == host_org:
            return f"include:{name}"
    return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
