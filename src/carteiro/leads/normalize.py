"""Cell values to clean data: e-mails, E.164 phones, CNPJ/CPF by check digits, text."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from operator import mul

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberType

DEFAULT_REGION = "BR"

_EMAIL_SPLIT = re.compile(r"[,;/|\s]+")
_PHONE_SPLIT = re.compile(r"[,;/|\n\r]+|\s+(?:ou|or|e|and)\s+", re.IGNORECASE)
_EXTENSION = re.compile(r"\s*(?:ramal|ext\.?|r\.)\s*\d+\s*$", re.IGNORECASE)
_NUMERIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?$")
_NON_DIGIT = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")

_MOBILE = {PhoneNumberType.MOBILE}
_LANDLINE = {PhoneNumberType.FIXED_LINE}


def cell_text(value: object) -> str:
    """A cell as text: integral floats lose '.0', dates become ISO, None becomes ''."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def clean_text(value: str) -> str | None:
    """Collapsed whitespace; None when empty."""
    text = _SPACES.sub(" ", value).strip()
    return text or None


def _digits_of_number(text: str) -> str | None:
    """'5.511987654321e12' or '11987654321.0' (a number stored as text) → its digits."""
    if not _NUMERIC.match(text):
        return None
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    if number != number.to_integral_value() or number < 0:
        return None
    return str(int(number))


def split_emails(text: str) -> list[str]:
    return [t for t in _EMAIL_SPLIT.split(text.replace("mailto:", " ")) if t]


# Plain ASCII addresses the validator would accept, checked without it (it is the slowest step
# of an import). Anything else (other characters, IDNA, '--' in the domain, odd top-level
# domains) still goes through email-validator, which stays the authority.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


def _plain_email(address: str) -> bool:
    if len(address) > 254 or not _PLAIN_EMAIL.fullmatch(address) or "--" in address:
        return False
    local, _, domain = address.partition("@")
    if len(local) > 64:
        return False
    tld = domain.rsplit(".", 1)[-1]
    return not any(tld == name or domain.endswith("." + name) for name in _SPECIAL_USE)


def normalise_email(token: str) -> str | None:
    """The lower-cased address when the syntax is valid (no DNS lookup), else None."""
    # Brackets around it and punctuation after it are writing, not part of the address.
    token = token.strip().strip("<>()[]\"'").rstrip(".,:")
    if "@" not in token:
        return None
    lowered = token.lower()
    if _plain_email(lowered):
        return lowered
    try:
        result = validate_email(token, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


def split_phones(text: str) -> list[str]:
    return [t.strip() for t in _PHONE_SPLIT.split(text) if t and t.strip()]


def _kind(number_type: int) -> str:
    if number_type in _MOBILE:
        return "mobile"
    if number_type in _LANDLINE:
        return "landline"
    return "other"


def phone_type(number: phonenumbers.PhoneNumber) -> str:
    return _kind(phonenumbers.number_type(number))


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _checked(number: phonenumbers.PhoneNumber) -> tuple[str, str] | None:
    # number_type is UNKNOWN exactly when is_valid_number is False; one lookup serves both.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return _e164(number), _kind(kind)


def _parse(candidate: str, region: str) -> tuple[str, str] | None:
    try:
        number = phonenumbers.parse(candidate, region)
    except NumberParseException:
        return None
    return _checked(number)


_BR_NSN = re.compile(r"[1-9]{2}\d{8,9}")


def _br_national(digits: str, explicit_plus: bool) -> str | None:
    """DDD + subscriber digits for the usual Brazilian spellings, else None."""
    if explicit_plus or (len(digits) in (12, 13) and digits.startswith("55")):
        nsn = digits[2:] if digits.startswith("55") else ""
    elif len(digits) in (11, 12) and digits[0] == "0" and digits[1] != "0":
        nsn = digits[1:]  # trunk prefix
    else:
        nsn = digits
    return nsn if _BR_NSN.fullmatch(nsn) else None


def normalise_phone(token: str, *, region: str = DEFAULT_REGION) -> tuple[str, str] | None:
    """(E.164, mobile|landline|other) for a valid number, else None.

    Handles numbers that lost their formatting in a spreadsheet: floats in scientific notation,
    international numbers without '+' or with '00', and Brazilian mobiles written with the
    old eight digits (the ninth digit '9' is added when that makes a valid mobile).
    """
    token = _EXTENSION.sub("", token.strip())
    as_number = _digits_of_number(token)
    digits = as_number if as_number is not None else _NON_DIGIT.sub("", token)
    if len(digits) < 8 or len(digits) > 17:
        return None
    explicit_plus = as_number is None and token.lstrip().startswith("+")
    if region == "BR":
        nsn = _br_national(digits, explicit_plus)
        if nsn is not None:
            found = _checked(phonenumbers.PhoneNumber(country_code=55, national_number=int(nsn)))
            if found is not None:
                return found
    candidates: list[str] = []
    if explicit_plus:
        candidates.append("+" + digits)
    else:
        if digits.startswith("00") and len(digits) > 11:
            candidates.append("+" + digits[2:])
        candidates.append(digits)
        if len(digits) > 11:
            candidates.append("+" + digits)
    for candidate in candidates:
        found = _parse(candidate, region)
        if found is not None:
            return found
    if region == "BR":
        national = digits[2:] if digits.startswith("55") and len(digits) == 12 else digits
        national = national.lstrip("0")
        # Pre-2016 mobiles: DDD + 8 digits starting 6-9 gained a leading 9.
        if len(national) == 10 and national[2] in "6789":
            found = _parse(national[:2] + "9" + national[2:], region)
            if found is not None and found[1] == "mobile":
                return found
    return None


def _check_digit(digits: str, weights: list[int]) -> int:
    rest = sum(map(mul, map(int, digits), weights)) % 11
    return 0 if rest < 2 else 11 - rest


def valid_cpf(digits: str) -> bool:
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    first = _check_digit(digits[:9], list(range(10, 1, -1)))
    second = _check_digit(digits[:10], list(range(11, 1, -1)))
    return digits[9:] == f"{first}{second}"


_CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
_CNPJ_W2 = [6, *_CNPJ_W1]


def valid_cnpj(digits: str) -> bool:
    if len(digits) != 14 or digits == digits[0] * 14:
        return False
    first = _check_digit(digits[:12], _CNPJ_W1)
    second = _check_digit(digits[:13], _CNPJ_W2)
    return digits[12:] == f"{first}{second}"


def normalise_document(text: str, *, hint: str | None = None) -> tuple[str, str] | None:
    """(digits, 'cnpj'|'cpf') when the check digits hold, restoring lost leading zeros.

    `hint` is 'cnpj' or 'cpf' when the column says which one it holds: it is tried first.
    """
    as_number = _digits_of_number(text)
    digits = as_number if as_number is not None else _NON_DIGIT.sub("", text)
    if not digits or len(digits) > 14:
        return None
    # The column's name decides which is tried first: a "CNPJ" column may still hold CPFs.
    kinds = ["cnpj", "cpf"] if hint == "cnpj" or len(digits) > 11 else ["cpf", "cnpj"]
    for kind in kinds:
        size = 14 if kind == "cnpj" else 11
        if len(digits) > size:
            continue
        padded = digits.zfill(size)
        if (valid_cnpj if kind == "cnpj" else valid_cpf)(padded):
            return padded, kind
    return None


def document_hint(header: str) -> str | None:
    words = set(header.split())
    if "cnpj" in words and "cpf" not in words:
        return "cnpj"
    if "cpf" in words and "cnpj" not in words:
        return "cpf"
    return None


# Combining marks (accents) of the blocks Latin-script names use.
_COMBINING = dict.fromkeys(
    c
    for block in ((0x0300, 0x0370), (0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x20D0, 0x2100))
    for c in range(*block)
)


def identity_text(value: str | None) -> str:
    """Case-, space- and accent-insensitive form used in a row's identity hash."""
    if not value:
        return ""
    if value.isascii():
        return " ".join(value.split()).lower()
    folded = unicodedata.normalize("NFKD", value).translate(_COMBINING)
    return " ".join(folded.split()).casefold()
