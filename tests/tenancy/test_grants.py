"""Which allow-lists and keys contain which, and how often a key's last use is written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carteiro.db.types import utcnow
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.grants import pattern_within, recipients_within
from carteiro.tenancy.models import ApiKey


@pytest.mark.parametrize(
    ("child", "parent", "within"),
    [
        ("*@example.com", "*@example.com", True),
        ("ana@example.com", "*@example.com", True),
        ("ANA@Example.com", "example.com", True),
        ("a*@example.com", "*@example.com", True),
        ("*@sub.example.com", "*@*.example.com", True),
        ("*@*.sub.example.com", "*@*.example.com", True),
        ("*@example.com", "ana@example.com", False),
        ("*@*.example.com", "*@example.com", False),
        ("*@*example.com", "*@*.example.com", False),
        ("a*@example.com", "a?@example.com", False),
        ("*@evil.com", "*@example.com", False),
        ("a@b@example.com", "*@example.com", False),
    ],
)
def test_pattern_within(child: str, parent: str, within: bool) -> None:
    assert pattern_within(child, parent) is within


def test_recipients_within_treats_none_as_anyone() -> None:
    assert recipients_within(None, None) and recipients_within(["a@x.com"], None)
    assert not recipients_within(None, ["*@x.com"])
    assert recipients_within(["a@x.com", "*@y.com"], ["*@x.com", "y.com"])
    assert not recipients_within(["a@x.com", "*@z.com"], ["*@x.com", "y.com"])


def test_last_use_is_written_at_most_once_a_minute(runtime: Runtime, api_key: str) -> None:
    def stamp(value: object = ...) -> object:
        with runtime.db.session() as session:
            key = session.query(ApiKey).one()
            if value is not ...:
                key.last_used_at = value  # type: ignore[assignment]
            return key.last_used_at

    assert stamp() is None
    runtime.authenticate(api_key)
    assert stamp() is not None
    recent = utcnow() - timedelta(seconds=20)
    stamp(recent)
    runtime.authenticate(api_key)
    assert stamp() == recent
    stale = utcnow() - tenancy.LAST_USED_EVERY - timedelta(seconds=1)
    stamp(stale)
    runtime.authenticate(api_key)
    after = stamp()
    assert isinstance(after, type(stale)) and after > stale + tenancy.LAST_USED_EVERY
