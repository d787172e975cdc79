"""Queueing a batch: all or nothing, rows as a single create writes them, events and attachments."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from carteiro.errors import CarteiroError
from carteiro.leads import suppression
from carteiro.outbound import service
from carteiro.outbound.models import Email, EmailAttachment, EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


def msg(to: str, **extra: Any) -> EmailCreate:
    return EmailCreate(**{"to_email": to, "subject": "Olá", "body": "Oi", **extra})


def attachment(name: str, data: bytes, content_type: str = "application/pdf") -> dict[str, str]:
    encoded = base64.b64encode(data).decode()
    return {"filename": name, "content_type": content_type, "content_base64": encoded}


def counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.db.session() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (Email, EmailEvent, EmailAttachment)
        )


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"to_email": "not-an-address"}, "emails[3].to_email"),
        ({"cc_emails": ["ok@example.com", "nope@"]}, "emails[3].cc_emails[1]"),
        (
            {
                "attachments": [
                    attachment("a.pdf", b"x"),
                    {**attachment("b", b""), "content_base64": "%"},
                ]
            },
            "emails[3].attachments[1].content_base64",
        ),
        ({"account": "missing"}, "emails[3].account"),
        ({"from_email": "@"}, "emails[3].from_email"),
        # Raised while composing, where the item is not known: still named with it.
        ({"headers": {"X-Evil": "a\nb"}}, "emails[3].headers.X-Evil"),
        ({"headers": {"X-Tag": "a", "x-tag": "b"}}, "emails[3].headers"),
    ],
)
def test_a_bad_item_is_named_and_nothing_is_inserted(
    runtime: Runtime, principal: Principal, bad: dict[str, Any], field: str
) -> None:
    items = [msg(f"r{i}@example.com", attachments=[attachment("a.pdf", b"%PDF")]) for i in range(5)]
    items[3] = msg("r3@example.com", **bad)
    # The error is caught inside the session, which then commits what the call had inserted.
    with runtime.db.session() as session, pytest.raises(CarteiroError) as err:
        service.create_batch(session, principal=principal, items=items, settings=runtime.settings)
    assert err.value.field == field
    assert counts(runtime) == (0, 0, 0)


def test_events_attachments_and_return_values(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="gone@example.com",
            reason="manual",
            source="test",
        )
    files = [attachment("relatório.pdf", b"%PDF-1.4 x"), attachment("a.txt", b"", "text/plain")]
    items = [
        msg("a@example.com", attachments=files),
        msg("gone@example.com", attachments=[attachment("x.bin", b"123")]),
        msg("b@example.com", html_body="<p>oi</p>"),
    ]
    with runtime.db.session() as session:
        queued = service.create_batch(
            session, principal=principal, items=items, settings=runtime.settings
        )
    assert [q.status for q in queued] == ["pending", "suppressed", "pending"]
    assert queued[1].error_message == "on the suppression list: gone@example.com (manual)"
    assert [q.id for q in queued] == sorted(q.id for q in queued)
    with runtime.db.session() as session:
        rows = {e.id: e for e in session.scalars(select(Email))}
        assert [(rows[q.id].message_id, rows[q.id].status) for q in queued] == [
            (q.message_id, q.status) for q in queued
        ]
        assert [rows[q.id].to_email for q in queued] == [
            "a@example.com",
            "gone@example.com",
            "b@example.com",
        ]
        events = session.execute(select(EmailEvent.email_id, EmailEvent.type, EmailEvent.detail))
        assert sorted(events) == [
            (queued[0].id, "queued", None),
            (queued[1].id, "suppressed", None),
            (queued[2].id, "queued", None),
        ]
        stored = session.execute(
            select(
                EmailAttachment.email_id,
                EmailAttachment.filename,
                EmailAttachment.content_type,
                EmailAttachment.file_size,
                EmailAttachment.file_path,
            ).order_by(EmailAttachment.id)
        )
        assert list(stored) == [
            (queued[0].id, "relatório.pdf", "application/pdf", 10, None),
            (queued[0].id, "a.txt", "text/plain", 0, None),
            (queued[1].id, "x.bin", "application/pdf", 3, None),
        ]


def test_review_mode_holds_the_batch(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        _, plain = tenancy.create_key(
            session, tenant_id=principal.tenant_id, name="agent", review_mode=True
        )
    agent = runtime.authenticate(plain)
    with runtime.db.session() as session:
        queued = service.create_batch(
            session, principal=agent, items=[msg("a@example.com")], settings=runtime.settings
        )
        types = list(session.scalars(select(EmailEvent.type)))
    assert [q.status for q in queued] == ["held"] and types == ["held"]


def _columns(email: Email) -> dict[str, Any]:
    # What differs by design: the lane and source, and what depends on the moment or the id.
    skip = {"id", "lane", "source", "message_id", "raw", "size", "created_at", "updated_at"}
    skip.add("run_at")
    return {c.key: getattr(email, c.key) for c in Email.__table__.columns if c.key not in skip}


@pytest.mark.parametrize(
    "data",
    [
        msg("eva@example.com"),
        msg(
            "Ana <ana@Example.COM>, bia@example.com",
            cc_emails="carla@example.com",
            bcc_emails=["dora@example.com"],
            reply_to="respostas@example.com",
            html_body="<p>Olá</p>",
            headers={"X-Campanha": "março"},
            priority="high",
            scheduled_at=datetime.now(UTC) + timedelta(hours=2),
            attachments=[attachment("a.pdf", b"%PDF")],
        ),
    ],
    ids=["plain", "everything"],
)
def test_a_batch_row_holds_what_a_single_create_stores(
    runtime: Runtime, principal: Principal, data: EmailCreate
) -> None:
    with runtime.db.session() as session:
        single, _ = service.create(
            session, principal=principal, data=data, settings=runtime.settings
        )
        (queued,) = service.create_batch(
            session, principal=principal, items=[data], settings=runtime.settings
        )
    with runtime.db.session() as session:
        one = session.get(Email, single.id)
        batched = session.get(Email, queued.id)
        assert one is not None and batched is not None
        assert _columns(batched) == _columns(one)
        assert (one.lane, one.source, batched.lane, batched.source) == (0, "api", 1, "batch")
        assert batched.size == len(batched.raw) and b"List-Unsubscribe:" in batched.raw
        assert batched.run_at == (data.scheduled_at or batched.created_at)
        # An absent list or mapping is stored the same way (JSON null or SQL NULL) by both.
        for column in (Email.reply_to, Email.headers, Email.html_body):
            nulls = set(session.scalars(select(Email.id).where(column.is_(None))))
            assert (one.id in nulls) == (batched.id in nulls)


def test_an_empty_or_oversized_batch_is_refused(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        for items, message in [([], "empty"), ([msg("a@example.com")] * 1001, "at most")]:
            with pytest.raises(CarteiroError, match=message) as err:
                service.create_batch(
                    session, principal=principal, items=items, settings=runtime.settings
                )
            assert err.value.field == "emails"
    assert counts(runtime) == (0, 0, 0)


def test_ids_follow_the_items_without_insert_returning(
    runtime: Runtime, principal: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on SQLite before 3.35; PostgreSQL draws its ids first either way.
    dialect = runtime.db.engine.dialect
    monkeypatch.setattr(dialect, "insert_executemany_returning_sort_by_parameter_order", False)
    items = [msg(f"r{i}@example.com") for i in range(5)]
    with runtime.db.session() as session:
        queued = service.create_batch(
            session, principal=principal, items=items, settings=runtime.settings
        )
    with runtime.db.session() as session:
        stored = dict(session.execute(select(Email.id, Email.to_email)).all())
    assert [stored[q.id] for q in queued] == [f"r{i}@example.com" for i in range(5)]
