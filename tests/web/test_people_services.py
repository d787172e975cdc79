"""People services: passwords, login throttling and lockout, sessions, setup tokens, access."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from webkit import PASSWORD, Made

from carteiro.db.types import utcnow
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.runtime import Runtime
from carteiro.tenancy import access, audit, people, sessions, setup
from carteiro.tenancy.models import User
from carteiro.tenancy.people import LockedOut, LoginPolicy, LoginRefused, LoginThrottled

POLICY = LoginPolicy(max_failures=3, lockout=timedelta(minutes=15), ip_max_failures=5)
LIFE = sessions.Lifetime(absolute=timedelta(hours=10), idle=timedelta(hours=2))


def _login(runtime: Runtime, email: str, password: str, ip: str | None = "10.0.0.1") -> User:
    with runtime.db.session() as session:
        return people.authenticate(session, email=email, password=password, ip=ip, policy=POLICY)


def _fail(runtime: Runtime, email: str, ip: str = "10.0.0.1") -> type[Exception]:
    """One wrong password, committed (like the login page) with its audit entry."""
    with runtime.db.session() as session:
        try:
            people.authenticate(session, email=email, password="wrong", ip=ip, policy=POLICY)
        except (LoginRefused, LockedOut, LoginThrottled) as exc:
            tenant = people.tenant_for_failure(session, email=email)
            assert tenant is not None
            audit.record(session, tenant_id=tenant, user_id=None, action="login_failed", ip=ip)
            return type(exc)
    raise AssertionError("a wrong password was accepted")


def test_passwords_are_argon2id_and_checked(
    runtime: Runtime, make_user: Callable[..., Made]
) -> None:
    made = make_user("Ana@Example.com", "owner")
    assert made.email == "ana@example.com"
    with runtime.db.session() as session:
        stored = people.get_by_email_or_raise(session, tenant_id=1, email="ana@example.com")
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
    assert _login(runtime, "ANA@example.com ", PASSWORD).id == made.id
    with pytest.raises(LoginRefused):
        _login(runtime, "ana@example.com", "wrong password")
    with pytest.raises(LoginRefused):
        _login(runtime, "nobody@example.com", PASSWORD)


def test_short_password_duplicate_email_and_bad_role_name_the_field(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int
) -> None:
    make_user("ana@example.com")
    with runtime.db.session() as session:
        for kwargs, field in (
            ({"email": "b@example.com", "password": "short"}, "password"),
            ({"email": "not an address", "password": PASSWORD}, "email"),
            ({"email": "c@example.com", "password": PASSWORD, "role": "boss"}, "role"),
        ):
            args = {"name": "X", "role": "viewer", **kwargs}
            with pytest.raises(InvalidInput) as bad:
                people.create(session, tenant_id=tenant_id, **args)  # type: ignore[arg-type]
            assert bad.value.field == field
        with pytest.raises(Conflict) as dup:
            people.create(
                session,
                tenant_id=tenant_id,
                email="ANA@example.com",
                name="Ana",
                password=PASSWORD,
                role="viewer",
            )
        assert dup.value.field == "email"


def test_lockout_after_repeated_wrong_passwords_then_reset_lifts_it(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int
) -> None:
    make_user("ana@example.com")
    assert _fail(runtime, "ana@example.com") is LoginRefused
    assert _fail(runtime, "ana@example.com") is LoginRefused
    assert _fail(runtime, "ana@example.com") is LockedOut
    # Locked: even the right password is refused, with the time it ends.
    with pytest.raises(LockedOut) as locked:
        _login(runtime, "ana@example.com", PASSWORD)
    assert locked.value.until > utcnow() + timedelta(minutes=14)
    with runtime.db.session() as session:
        user = people.get_by_email_or_raise(session, tenant_id=tenant_id, email="ana@example.com")
        people.set_password(session, user=user, password="a-brand-new-password")
    assert _login(runtime, "ana@example.com", "a-brand-new-password").email == "ana@example.com"


def test_lockout_ends_by_itself(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int
) -> None:
    make_user("ana@example.com")
    for _ in range(3):
        _fail(runtime, "ana@example.com")
    later = utcnow() + timedelta(minutes=16)
    with runtime.db.session() as session:
        user = people.authenticate(
            session, email="ana@example.com", password=PASSWORD, ip=None, policy=POLICY, now=later
        )
        assert user.failed_logins == 0 and user.locked_until is None


def test_an_address_with_many_failures_is_throttled(
    runtime: Runtime, make_user: Callable[..., Made]
) -> None:
    make_user("ana@example.com")
    # Unknown addresses count too: guessing e-mails is what throttling stops.
    for i in range(5):
        _fail(runtime, f"guess{i}@example.com", ip="10.9.9.9")
    with pytest.raises(LoginThrottled):
        _login(runtime, "ana@example.com", PASSWORD, ip="10.9.9.9")
    # Another address is not affected.
    assert _login(runtime, "ana@example.com", PASSWORD, ip="10.1.1.1").email == "ana@example.com"


def test_disabled_people_cannot_log_in_and_lose_their_sessions(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int
) -> None:
    make_user("owner@example.com", "owner")
    make_user("op@example.com")
    with runtime.db.session() as session:
        user = people.get_by_email_or_raise(session, tenant_id=tenant_id, email="op@example.com")
        _, token = sessions.create(session, user=user, lifetime=LIFE)
    with runtime.db.session() as session:
        assert sessions.resolve(session, token=token, lifetime=LIFE) is not None
        user = people.get_by_email_or_raise(session, tenant_id=tenant_id, email="op@example.com")
        people.set_disabled(session, user=user, disabled=True)
    with runtime.db.session() as session:
        assert sessions.resolve(session, token=token, lifetime=LIFE) is None
    with pytest.raises(LoginRefused):
        _login(runtime, "op@example.com", PASSWORD)


def test_the_last_owner_cannot_be_demoted_or_disabled(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int
) -> None:
    make_user("owner@example.com", "owner")
    with runtime.db.session() as session:
        owner = people.get_by_email_or_raise(
            session, tenant_id=tenant_id, email="owner@example.com"
        )
        with pytest.raises(Conflict):
            people.set_role(session, user=owner, role="admin", by_role="owner")
        with pytest.raises(Conflict):
            people.set_disabled(session, user=owner, disabled=True)
        # An admin can neither make an owner nor touch one.
        admin = people.create(
            session,
            tenant_id=tenant_id,
            email="ad@example.com",
            name="Ad",
            password=PASSWORD,
            role="admin",
        )
        with pytest.raises(InvalidInput):
            people.set_role(session, user=admin, role="owner", by_role="admin")
        with pytest.raises(InvalidInput):
            people.require_can_manage(by_role="admin", user=owner)


def test_sessions_expire_idle_or_absolute_and_revoke(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int
) -> None:
    make_user("ana@example.com")
    start = utcnow()
    with runtime.db.session() as session:
        user = people.get_by_email_or_raise(session, tenant_id=tenant_id, email="ana@example.com")
        row, token = sessions.create(session, user=user, lifetime=LIFE, now=start)
        other, other_token = sessions.create(session, user=user, lifetime=LIFE, now=start)
        assert row.token_hash != token and token not in row.token_hash
    with runtime.db.session() as session:
        # Seen within the idle window, the session keeps living (and last_seen moves on)...
        assert sessions.resolve(
            session, token=token, lifetime=LIFE, now=start + timedelta(hours=1.5)
        )
    with runtime.db.session() as session:
        assert sessions.resolve(session, token=token, lifetime=LIFE, now=start + timedelta(hours=3))
        # ...but never past its absolute lifetime; and idle too long is over.
        assert (
            sessions.resolve(session, token=token, lifetime=LIFE, now=start + timedelta(hours=11))
            is None
        )
        assert (
            sessions.resolve(
                session, token=other_token, lifetime=LIFE, now=start + timedelta(hours=3)
            )
            is None
        )
        assert sessions.resolve(session, token="made-up", lifetime=LIFE) is None
    with runtime.db.session() as session:
        sessions.revoke(session, user_id=user.id, session_id=row.id)
        with pytest.raises(NotFound):
            sessions.revoke(session, user_id=user.id + 999, session_id=other.id)
    with runtime.db.session() as session:
        assert sessions.resolve(session, token=token, lifetime=LIFE) is None
        assert sessions.resolve(session, token=other_token, lifetime=LIFE) is not None
        assert sessions.revoke_all(session, user_id=user.id) == 1
    with runtime.db.session() as session:
        assert sessions.resolve(session, token=other_token, lifetime=LIFE) is None


def test_setup_token_is_one_time_replaced_on_each_issue_and_gone_once_an_owner_exists(
    runtime: Runtime, tenant_id: int
) -> None:
    first = runtime.setup_token()
    second = runtime.setup_token()
    assert first and second and first != second
    with runtime.db.session() as session:
        assert setup.find(session, token=first) is None  # replaced
        assert setup.find(session, token=second) is not None
    with runtime.db.session() as session:
        owner = setup.complete(
            session, token=second, email="o@example.com", name="O", password=PASSWORD, locale=None
        )
        assert owner.role == "owner"
    with runtime.db.session() as session:
        assert setup.find(session, token=second) is None
        with pytest.raises(NotFound):
            setup.complete(
                session,
                token=second,
                email="x@example.com",
                name="X",
                password=PASSWORD,
                locale=None,
            )
    assert runtime.setup_token() is None


def test_expired_setup_token_is_refused(runtime: Runtime, tenant_id: int) -> None:
    with runtime.db.session() as session:
        token = setup.issue(
            session,
            tenant_id=tenant_id,
            lifetime=timedelta(hours=1),
            now=utcnow() - timedelta(hours=2),
        )
        assert token is not None
        assert setup.find(session, token=token) is None


def test_visible_accounts_follow_role_and_grants(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int, smtp_account: int
) -> None:
    op = make_user("op@example.com", "operator")
    admin = make_user("ad@example.com", "admin")
    with runtime.db.session() as session:
        assert (
            access.visible_account_ids(session, tenant_id=tenant_id, user_id=admin.id, role="admin")
            is None
        )
        assert (
            access.visible_account_ids(session, tenant_id=tenant_id, user_id=op.id, role="operator")
            == set()
        )
        assert access.grant(session, user_id=op.id, account_id=smtp_account)
        assert not access.grant(session, user_id=op.id, account_id=smtp_account)
    with runtime.db.session() as session:
        assert access.visible_account_ids(
            session, tenant_id=tenant_id, user_id=op.id, role="operator"
        ) == {smtp_account}
        # Another tenant's id never matches this person's grants.
        assert (
            access.visible_account_ids(
                session, tenant_id=tenant_id + 1, user_id=op.id, role="operator"
            )
            == set()
        )
        assert access.set_grants(session, user_id=op.id, account_ids=set()) == (
            set(),
            {smtp_account},
        )
    with runtime.db.session() as session:
        assert access.granted(session, user_id=op.id) == set()


def test_audit_filters_by_person_action_and_date(
    runtime: Runtime, make_user: Callable[..., Made], tenant_id: int
) -> None:
    ana = make_user("ana@example.com")
    with runtime.db.session() as session:
        audit.record(session, tenant_id=tenant_id, user_id=ana.id, action="login")
        audit.record(
            session,
            tenant_id=tenant_id,
            user_id=ana.id,
            action="message_read",
            target_type="message",
            target_id=7,
        )
        audit.record(session, tenant_id=tenant_id, user_id=None, action="login")
    with runtime.db.session() as session:

        def count(**kw: object) -> int:
            return audit.list_(session, tenant_id=tenant_id, filter=audit.AuditFilter(**kw))[1]  # type: ignore[arg-type]

        assert count() == 3
        assert count(user_id=ana.id) == 2
        assert count(action="login") == 2
        assert count(user_id=ana.id, action="message_read") == 1
        assert count(since=utcnow() + timedelta(minutes=1)) == 0
        assert count(until=utcnow() + timedelta(minutes=1)) == 3
        rows, _ = audit.list_(session, tenant_id=tenant_id, filter=audit.AuditFilter(), limit=1)
        assert rows[0].action == "login" and rows[0].user_id is None  # newest first
