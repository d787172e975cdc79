"""Cell values to clean data: e-mails, E.164 phones, CNPJ/CPF by check digits, text."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

import phonenumbers
from email_validator import EmailNotValidError, validate_email
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
    if value is None or value == "":
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


def normalise_email(token: str) -> str | None:
    """The lower-cased address when the syntax is valid (no DNS lookup), else None."""
    token = token.strip().strip("<>()[]\"'.,:")
    if "@" not in token:
        return None
    try:
        result = validate_email(token, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


def split_phones(text: str) -> list[str]:
    return [t.strip() for t in _PHONE_SPLIT.split(text) if t and t.strip()]


def phone_type(number: phonenumbers.PhoneNumber) -> str:
    kind = phonenumbers.number_type(number)
    if kind in _MOBILE:
        return "mobile"
    if kind in _LANDLINE:
        return "landline"
    return "other"


def _parse(candidate: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(candidate, region)
    except NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


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
        number = _parse(candidate, region)
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), (
                phone_type(number)
            )
    if region == "BR":
        national = digits[2:] if digits.startswith("55") and len(digits) == 12 else digits
        national = national.lstrip("0")
        # Pre-2016 mobiles: DDD + 8 digits starting 6-9 gained a leading 9.
        if len(national) == 10 and national[2] in "6789":
            number = _parse(national[:2] + "9" + national[2:], region)
            if number is not None and phone_type(number) == "mobile":
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), (
                    "mobile"
                )
    return None


def _check_digit(digits: str, weights: list[int]) -> int:
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=False))
    rest = total % 11
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

    `hint` is 'cnpj' or 'cpf' when the column says which one it holds.
    """
    as_number = _digits_of_number(text)
    digits = as_number if as_number is not None else _NON_DIGIT.sub("", text)
    if not digits or len(digits) > 14:
        return None
    kinds = [hint] if hint in ("cnpj", "cpf") else (["cpf", "cnpj"] if len(digits) <= 11 else [])
    if not kinds:
        kinds = ["cnpj"]
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


def identity_text(value: str | None) -> str:
    """Case-, space- and accent-insensitive form used in a row's identity hash."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", folded).strip().casefold()
