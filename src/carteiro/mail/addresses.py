"""Parsing, normalising and formatting e-mail addresses, and matching them against allow-lists."""

from __future__ import annotations

import base64
import contextlib
import re
from email.utils import formataddr, getaddresses
from fnmatch import fnmatchcase
from functools import lru_cache

import idna
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from carteiro.errors import InvalidInput

__all__ = [
    "domain_of",
    "format_address",
    "matches_pattern",
    "parse_address",
    "parse_addresses",
]

# C0/C1 controls and the Unicode line separators: any of them can split or smuggle header lines.
_BAD_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")
# RFC 5322 atext: words made only of these can appear unquoted and unencoded in a phrase.
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")
# An encoded word may be at most 75 characters; "=?utf-8?b?" + "?=" leave 63, i.e. 45 bytes.
_EW_MAX_BYTES = 45
MAX_DISPLAY_NAME = 256


def _check_chars(value: str, label: str) -> None:
    if _LINE_BREAKS.search(value):
        raise InvalidInput(f"{label}: line breaks are not allowed", field=label)
    if _BAD_CHARS.search(value):
        raise InvalidInput(f"{label}: control characters are not allowed", field=label)


def _split_entries(value: str) -> list[str]:
    """Split on commas and semicolons that are outside quoted names and angle brackets."""
    entries: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = 0
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(depth - 1, 0)
        elif not quoted and depth == 0 and char in ",;":
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    return entries


def _ascii_domain(addr: str) -> str:
    """The checked address's domain in lower-case ASCII; raises EmailNotValidError.

    An ASCII dot-atom local part is valid as it is for email_validator, so such an address
    stands or falls with its domain (and the total length): the domain is checked once for
    every address at it. A campaign's addresses are all new, its domains are not."""
    local, at, domain = addr.partition("@")
    if at and DOT_ATOM_TEXT.match(local):
        known = _domain(domain)
        if known is not None and len(local) + 1 + known[1] <= EMAIL_MAX_LENGTH:
            return known[0]
    return _validated(addr)


@lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, int] | None:
    """(lower-case ASCII form, longest UTF-8 length of its three forms) of a domain
    email_validator accepts, checked with a one-letter local part; None if it refuses."""
    try:
        info = validate_email("a@" + domain, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    # The validator checks the address's length as given, normalised and in ASCII.
    forms = (domain, info.domain, info.ascii_domain)
    return info.ascii_domain.lower(), max(len(f.encode("utf-8")) for f in forms)


@lru_cache(maxsize=4096)
def _validated(addr: str) -> str:
    """Memoised (failures are not): each address is checked twice, in the request and again
    when the message is composed."""
    info = validate_email(addr, check_deliverability=False, allow_smtputf8=False)
    return info.ascii_domain.lower()


def _normalise(addr: str, label: str, shown: str) -> str:
    try:
        domain = _ascii_domain(addr)
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"{label}: {shown!r} is not a valid e-mail address. {exc}", field=label
        ) from None
    # The local part is kept as typed; the domain becomes its lower-case ASCII (punycode) form
    # so that every server accepts it without SMTPUTF8 and duplicates compare equal.
    local = addr.rsplit("@", 1)[0]
    return f"{local}@{domain}"


def _parse_entry(entry: str, label: str) -> str:
    if not any(c in entry for c in '<>"'):
        return _normalise(entry, label, entry)
    # getaddresses is lenient (it drops stray text), so the bracketed part is checked by hand.
    pairs = getaddresses([entry])
    inner = entry[entry.rfind("<") + 1 : -1].strip() if entry.endswith(">") else None
    if len(pairs) != 1 or not pairs[0][1] or inner != pairs[0][1]:
        raise InvalidInput(
            f"{label}: {entry!r} is not a valid e-mail address. Use 'Name <name@example.com>'.",
            field=label,
        )
    return _normalise(inner, label, entry)


def _parse_all(value: str | list[str] | None, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        _check_chars(value, field)
        return [_parse_entry(e.strip(), field) for e in _split_entries(value) if e.strip()]
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{field}: expected a list of e-mail addresses", field=field)
    found: list[str] = []
    for index, item in enumerate(value):
        label = f"{field}[{index}]"
        if not isinstance(item, str):
            raise InvalidInput(f"{label}: expected an e-mail address as text", field=label)
        _check_chars(item, label)
        if item.strip():
            # One list item is one address, so a comma inside it is an error, not a separator.
            found.append(_parse_entry(item.strip(), label))
    return found


def parse_addresses(value: str | list[str] | None, *, field: str) -> list[str]:
    """Validate a list or a comma/semicolon-separated string of addresses; return them bare.

    Duplicates are dropped case-insensitively (first spelling wins): most servers treat local
    parts that way, and a second copy in someone's inbox is worse than a skipped one.
    """
    seen: set[str] = set()
    result: list[str] = []
    for addr in _parse_all(value, field):
        if addr.casefold() not in seen:
            seen.add(addr.casefold())
            result.append(addr)
    return result


def parse_address(value: str, *, field: str) -> str:
    """Validate exactly one address (bare or 'Name <addr>') and return it bare and normalised."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected an e-mail address as text", field=field)
    found = _parse_all(value, field)
    if not found:
        raise InvalidInput(f"{field}: an e-mail address is required", field=field)
    if len(found) > 1:
        raise InvalidInput(f"{field}: expected one e-mail address, got {len(found)}", field=field)
    return found[0]


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 words of at most 75 characters, never splitting a character's UTF-8 bytes."""
    chunks: list[str] = []
    current = ""
    for char in text:
        if len((current + char).encode()) > _EW_MAX_BYTES:
            # Breaking after a space keeps words whole for readers that (wrongly) add a space
            # between encoded words, as Python's own parser does.
            cut = current.rfind(" ") + 1 or len(current)
            chunks.append(current[:cut])
            current = current[cut:]
        current += char
    chunks.append(current)
    return [f"=?utf-8?b?{base64.b64encode(c.encode()).decode('ascii')}?=" for c in chunks if c]


def _encode_phrase(name: str) -> str:
    """Encode only the words that need it, keeping plain ASCII words between them readable.

    Whitespace between two encoded words is dropped by RFC 2047 decoders, so a run of words is
    encoded together with its inner spaces; Python's own folding gets this wrong for long names.
    """
    tokens: list[str] = []
    run: list[str] = []
    for word in name.split(" "):
        if _ATEXT.fullmatch(word) and "=?" not in word:
            if run:
                tokens.extend(_encoded_words(" ".join(run)))
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens.extend(_encoded_words(" ".join(run)))
    return " ".join(tokens)


def _ascii_address(addr: str) -> str:
    local, sep, domain = addr.rpartition("@")
    if not sep or not local or not domain:
        raise InvalidInput(f"address: {addr!r} is not a valid e-mail address", field="address")
    if not domain.isascii():
        domain = idna.encode(domain, uts46=True).decode("ascii")
    if not local.isascii():
        raise InvalidInput(
            f"address: {addr!r} has non-ASCII characters before the @-sign", field="address"
        )
    return f"{local}@{domain.lower()}"


def format_address(addr: str, name: str | None, *, field: str = "name") -> str:
    """An ASCII header value for `addr` with an optional display name (RFC 2047 when needed)."""
    _check_chars(addr, "address")
    try:
        addr = _ascii_address(addr)
    except idna.IDNAError:
        raise InvalidInput(f"address: {addr!r} has an invalid domain", field="address") from None
    if name is None:
        return addr
    _check_chars(name, field)
    # Only tabs and runs of spaces are collapsed: other whitespace (say, a no-break space) is
    # part of the name the user chose.
    name = re.sub("[ \t]+", " ", name).strip(" ")
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"{field}: must be at most {MAX_DISPLAY_NAME} characters", field=field)
    if not name:
        return addr
    if name.isascii() and "=?" not in name:
        return formataddr((name, addr))
    return f"{_encode_phrase(name)} <{addr}>"


def domain_of(addr: str) -> str:
    """The lower-cased domain of an address ('' when there is no @-sign)."""
    _, sep, domain = addr.rpartition("@")
    return domain.lower() if sep else ""


def _ascii_labels(domain: str) -> str:
    labels = []
    for label in domain.split("."):
        if not label.isascii() and not any(c in label for c in "*?["):
            # A label idna refuses is compared as typed and simply matches nothing valid.
            with contextlib.suppress(idna.IDNAError):
                label = idna.encode(label, uts46=True).decode("ascii")
        labels.append(label.lower())
    return ".".join(labels)


def matches_pattern(addr: str, pattern: str) -> bool:
    """Whether `addr` matches an allow-list pattern such as '*@example.com' or '*@*.example.com'.

    Local part and domain are matched separately so that '*' never spans the @-sign; a pattern
    without '@' is a domain pattern ('example.com' means '*@example.com').
    """
    pattern = pattern.strip()
    if "@" not in pattern:
        pattern = f"*@{pattern}"
    if addr.count("@") != 1 or pattern.count("@") != 1:
        return False
    local, domain = addr.lower().split("@")
    local_pattern, domain_pattern = pattern.lower().split("@")
    if not local or not domain:
        return False
    return fnmatchcase(local, local_pattern) and fnmatchcase(
        _ascii_labels(domain), _ascii_labels(domain_pattern)
    )
