"""Mail accounts in the console: the list with usage and health, a form to add or change one
(passwords write-only), a real login test, the DNS report, pause and resume."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carteiro.accounts import dns as account_dns
from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.accounts.schemas import AccountCreate, AccountTestResult, AccountUpdate
from carteiro.api.deps import PathId, Rt, Tx, in_transaction
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, InvalidInput, NotFound
from carteiro.mail.resolver import DnsConfig, DnsResolver
from carteiro.mail.transports.smtp import SmtpConfig
from carteiro.tenancy import access
from carteiro.web import acting, render
from carteiro.web.deps import Admin, Person, WebPerson
from carteiro.web.security import form_values

router = Router(include_in_schema=False)

SECURITY = ("starttls", "ssl", "none")
NOTICES = {
    "created": render.N_("The account was added. Test its login, then publish the DNS records."),
    "saved": render.N_("Saved."),
    "paused": render.N_("The account is paused: it sends nothing until you resume it."),
    "resumed": render.N_("The account is active again."),
    "checked": render.N_("DNS checked."),
}
# The form's fields, as the page names them, mapped from the service's field names.
FORM_FIELDS = {
    "smtp.host": "smtp_host",
    "smtp.port": "smtp_port",
    "smtp.security": "smtp_security",
    "smtp.username": "smtp_username",
    "smtp.password": "smtp_password",
    "smtp.ca_file": "smtp_ca_file",
    "imap.host": "imap_host",
    "imap.port": "imap_port",
    "imap.security": "imap_security",
    "limits.per_minute": "per_minute",
    "limits.per_hour": "per_hour",
    "limits.per_day": "per_day",
    "limits.max_connections": "max_connections",
    "warmup.start": "warmup_start",
    "warmup.target": "warmup_target",
    "warmup.factor": "warmup_factor",
}


def _visible(session: Session, person: WebPerson) -> set[int] | None:
    return access.visible_account_ids(
        session, tenant_id=person.tenant_id, user_id=person.user_id, role=person.role
    )


def _account(session: Session, person: WebPerson, account_id: int) -> Account:
    """The account if this person may see it."""
    visible = _visible(session, person)
    if visible is not None and account_id not in visible:
        raise NotFound(f"account {account_id} not found")
    return accounts.get_or_raise(session, tenant_id=person.tenant_id, ref=account_id)


def _audit(request: Request, session: Session, person: WebPerson, action: str, ref: int) -> None:
    acting.record(request, session, person, action, target_type="account", target_id=ref)


def _notice(request: Request, code: str | None) -> str | None:
    msgid = NOTICES.get(code or "")
    return render.text(request, msgid) if msgid else None


@router.get("/ui/accounts")
def accounts_list(
    request: Request, session: Tx, person: Person, notice: str | None = None
) -> HTMLResponse:
    found = accounts.list_visible(
        session, tenant_id=person.tenant_id, account_ids=_visible(session, person)
    )
    return render.page(
        request,
        "accounts.html",
        {
            "section": "accounts",
            "rows": list(zip(found, accounts.public_with_usage(session, found), strict=True)),
            "can_edit": person.at_least("admin"),
            "notice": _notice(request, notice),
        },
    )


def _detail_page(
    request: Request,
    session: Session,
    person: WebPerson,
    account: Account,
    *,
    notice: str | None = None,
    test: AccountTestResult | None = None,
) -> HTMLResponse:
    public = accounts.public_with_usage(session, [account])[0]
    return render.page(
        request,
        "account.html",
        {
            "section": "accounts",
            "account": public,
            "health": accounts.check_of(session, account_id=account.id),
            "dns": account_dns.last_report(session, tenant_id=person.tenant_id, ref=account.id),
            "can_edit": person.at_least("admin"),
            "notice": notice,
            "test": test,
        },
    )


@router.get("/ui/accounts/new")
def account_new(request: Request, person: Admin) -> HTMLResponse:
    return _form(request, values={"smtp_security": "starttls", "max_connections": "2"})


@router.get("/ui/accounts/{account_id}")
def account_detail(
    request: Request,
    account_id: PathId,
    session: Tx,
    person: Person,
    notice: str | None = None,
) -> HTMLResponse:
    account = _account(session, person, account_id)
    return _detail_page(request, session, person, account, notice=_notice(request, notice))


def _form(
    request: Request,
    *,
    values: dict[str, str],
    account: Account | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    public = accounts.to_public(account) if account is not None else None
    return render.page(
        request,
        "account_form.html",
        {
            "section": "accounts",
            "account": public,
            "values": values,
            "security": SECURITY,
            "error": error,
            "field": field,
        },
        status=status,
    )


def _int(values: dict[str, str], name: str) -> int | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("type a whole number", field=name) from None


def _warmup(values: dict[str, str]) -> dict[str, Any] | None:
    start, target = _int(values, "warmup_start"), _int(values, "warmup_target")
    if start is None and target is None:
        return None
    factor_text = values.get("warmup_factor", "").strip().replace(",", ".") or "2"
    try:
        factor = float(factor_text)
    except ValueError:
        raise InvalidInput("type a number such as 1.5", field="warmup_factor") from None
    return {"start": start, "target": target, "factor": factor}


def _imap(values: dict[str, str]) -> dict[str, Any] | None:
    host = values.get("imap_host", "").strip()
    if not host:
        return None
    imap: dict[str, Any] = {
        "host": host,
        "security": values.get("imap_security") or "ssl",
        "username": values.get("imap_username", "").strip() or None,
    }
    if port := _int(values, "imap_port"):
        imap["port"] = port
    if values.get("imap_password"):
        imap["password"] = values["imap_password"]
    return imap


def _payload(values: dict[str, str], *, new: bool) -> dict[str, Any]:
    """The service's shape from the form: blanks mean "not set" (or "unchanged" for passwords)."""
    smtp: dict[str, Any] = {
        "host": values.get("smtp_host", "").strip(),
        "security": values.get("smtp_security") or "starttls",
        "username": values.get("smtp_username", "").strip() or None,
        "verify_tls": values.get("smtp_verify_tls") != "off",
    }
    if port := _int(values, "smtp_port"):
        smtp["port"] = port
    if values.get("smtp_ca_file", "").strip():
        smtp["ca_file"] = values["smtp_ca_file"].strip()
    elif not new:
        smtp["ca_file"] = None
    if values.get("smtp_password"):
        smtp["password"] = values["smtp_password"]
    elif new:
        smtp["password"] = None
    payload: dict[str, Any] = {
        "name": values.get("name", "").strip(),
        "email": values.get("email", "").strip(),
        "display_name": values.get("display_name", "").strip() or None,
        "smtp": smtp,
        "imap": _imap(values),
        "limits": {
            "per_minute": _int(values, "per_minute"),
            "per_hour": _int(values, "per_hour"),
            "per_day": _int(values, "per_day"),
            "max_connections": _int(values, "max_connections") or 2,
        },
        "warmup": _warmup(values),
        "weight": _int(values, "weight") or 1,
    }
    return payload


def _problem(exc: ValidationError | CarteiroError) -> tuple[str, str | None]:
    if isinstance(exc, CarteiroError):
        return exc.message, FORM_FIELDS.get(exc.field or "", exc.field)
    first = exc.errors()[0]
    name = ".".join(str(p) for p in first["loc"])
    return f"{name}: {first['msg']}", FORM_FIELDS.get(name, name)


@router.post("/ui/accounts")
async def account_create(request: Request, rt: Rt, person: Admin) -> Response:
    values = await form_values(request)

    def _save(session: Session) -> int:
        data = AccountCreate.model_validate(_payload(values, new=True))
        account = accounts.create(
            session,
            tenant_id=person.tenant_id,
            data=data,
            vault=rt.vault,
            allow_private=rt.settings.accounts_allow_private,
        )
        _audit(request, session, person, "account_create", account.id)
        return account.id

    try:
        account_id = await in_transaction(rt, _save)
    except (ValidationError, CarteiroError) as exc:
        message, field = _problem(exc)
        return _form(request, values=values, error=message, field=field, status=422)
    return RedirectResponse(f"/ui/accounts/{account_id}?notice=created", status_code=303)


def _values_of(account: Account) -> dict[str, str]:
    imap = account.imap or {}
    warmup = account.warmup or {}

    def text(v: object) -> str:
        return "" if v is None else str(v)

    return {
        "name": account.name,
        "email": account.email,
        "display_name": text(account.display_name),
        "smtp_host": account.smtp_host,
        "smtp_port": text(account.smtp_port),
        "smtp_security": account.smtp_security,
        "smtp_username": text(account.smtp_username),
        "smtp_verify_tls": "on" if account.smtp_verify_tls else "off",
        "smtp_ca_file": text(account.smtp_ca_file),
        "imap_host": text(imap.get("host")),
        "imap_port": text(imap.get("port")),
        "imap_security": text(imap.get("security") or "ssl"),
        "imap_username": text(imap.get("username")),
        "per_minute": text(account.limit_per_minute),
        "per_hour": text(account.limit_per_hour),
        "per_day": text(account.limit_per_day),
        "max_connections": text(account.max_connections),
        "weight": text(account.weight),
        "warmup_start": text(warmup.get("start")),
        "warmup_target": text(warmup.get("target")),
        "warmup_factor": text(warmup.get("factor")),
    }


@router.get("/ui/accounts/{account_id}/edit")
def account_edit(request: Request, account_id: PathId, session: Tx, person: Admin) -> HTMLResponse:
    account = _account(session, person, account_id)
    return _form(request, values=_values_of(account), account=account)


@router.post("/ui/accounts/{account_id}")
async def account_update(request: Request, account_id: PathId, rt: Rt, person: Admin) -> Response:
    values = await form_values(request)

    def _save(session: Session) -> None:
        account = _account(session, person, account_id)
        payload = _payload(values, new=False)
        if payload["imap"] is None and not account.imap:
            del payload["imap"]
        if payload["warmup"] is None and not account.warmup:
            del payload["warmup"]
        accounts.update(
            session,
            tenant_id=person.tenant_id,
            ref=account_id,
            data=AccountUpdate.model_validate(payload),
            vault=rt.vault,
            allow_private=rt.settings.accounts_allow_private,
        )
        _audit(request, session, person, "account_update", account_id)

    try:
        await in_transaction(rt, _save)
    except (ValidationError, CarteiroError) as exc:
        if isinstance(exc, NotFound):
            raise
        message, field = _problem(exc)

        def _page(session: Session) -> HTMLResponse:
            account = _account(session, person, account_id)
            return _form(
                request, values=values, account=account, error=message, field=field, status=422
            )

        return await in_transaction(rt, _page)
    return RedirectResponse(f"/ui/accounts/{account_id}?notice=saved", status_code=303)


@router.post("/ui/accounts/{account_id}/test")
async def account_test(request: Request, account_id: PathId, rt: Rt, person: Admin) -> HTMLResponse:
    def _config(session: Session) -> tuple[SmtpConfig, str]:
        account = _account(session, person, account_id)
        config = accounts.smtp_config(
            account,
            rt.vault,
            timeout=rt.settings.smtp_timeout,
            allow_private=rt.settings.accounts_allow_private,
        )
        return config, account.name

    # No transaction is held while the remote server answers.
    config, name = await in_transaction(rt, _config)
    result = await accounts.test_login(config, name=name)

    def _page(session: Session) -> HTMLResponse:
        account = _account(session, person, account_id)
        return _detail_page(request, session, person, account, test=result)

    return await in_transaction(rt, _page)


@router.post("/ui/accounts/{account_id}/dns")
def account_dns_check(account_id: PathId, rt: Rt, person: Person) -> RedirectResponse:
    with rt.db.session() as session:
        _account(session, person, account_id)
    # The check opens its own short transactions around the DNS queries.
    resolver = DnsResolver.from_config(DnsConfig.from_settings(rt.settings))
    account_dns.check_account(rt.db, tenant_id=person.tenant_id, ref=account_id, resolver=resolver)
    return RedirectResponse(f"/ui/accounts/{account_id}?notice=checked", status_code=303)


def _set_status(
    request: Request, session: Session, person: WebPerson, account_id: int, status: str
) -> None:
    _account(session, person, account_id)
    data = AccountUpdate.model_validate({"status": status})
    accounts.update(
        session,
        tenant_id=person.tenant_id,
        ref=account_id,
        data=data,
        vault=request.app.state.runtime.vault,
    )
    _audit(request, session, person, f"account_{status}", account_id)


@router.post("/ui/accounts/{account_id}/pause")
def account_pause(
    request: Request, account_id: PathId, session: Tx, person: Admin
) -> RedirectResponse:
    _set_status(request, session, person, account_id, "paused")
    return RedirectResponse(f"/ui/accounts/{account_id}?notice=paused", status_code=303)


@router.post("/ui/accounts/{account_id}/resume")
def account_resume(
    request: Request, account_id: PathId, session: Tx, person: Admin
) -> RedirectResponse:
    _set_status(request, session, person, account_id, "active")
    return RedirectResponse(f"/ui/accounts/{account_id}?notice=resumed", status_code=303)


@router.post("/ui/accounts/{account_id}/delete")
def account_delete(
    request: Request,
    account_id: PathId,
    session: Tx,
    person: Admin,
    confirm: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    account = _account(session, person, account_id)
    if confirm != account.name:
        raise InvalidInput("type the account's name to confirm", field="confirm")
    accounts.delete(session, tenant_id=person.tenant_id, ref=account_id)
    _audit(request, session, person, "delete", account_id)
    return RedirectResponse("/ui/accounts", status_code=303)
