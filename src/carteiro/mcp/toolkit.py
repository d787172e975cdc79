"""Runs a tool's service call as the caller and turns domain errors into tool errors."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, InvalidInput, RateLimited
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

log = logging.getLogger("carteiro.mcp")

T = TypeVar("T")

# How far in the past send_at may be (clock skew, a slow call) and still mean "now".
PAST_TOLERANCE_MINUTES = 5

FieldsArg = Annotated[
    list[str] | None,
    Field(
        description="only these fields of each item (e.g. ['id','status','subject']), to "
        "keep the answer short; absent: every field"
    ),
]

Clock = Callable[[], datetime]
"""The server's current time (aware, UTC); tests pass a fake one."""

PrincipalResolver = Callable[[Context], Awaitable[Principal]]
"""Who is calling for the current MCP request: fixed for stdio, from the Bearer key over HTTP."""

# The services name fields as the REST API does; agents only know the tool's parameter names.
_FIELD_NAMES = {
    "to_email": "to",
    "cc_emails": "cc",
    "bcc_emails": "bcc",
    "html_body": "html",
    "scheduled_at": "send_at",
}
_FIELD_NAME = re.compile(r"(?<![\w.])(" + "|".join(_FIELD_NAMES) + r")(?=$|[\[.:,;\s)])")
# Pydantic puts a union member's tag in `loc` ('list[str]', "literal['now']", a model's name).
_TYPE_TAGS = {"str", "int", "float", "bool", "bytes", "none", "dict", "list", "datetime", "date"}
# Errors that only say "not this type": in a union, another member's error says more.
_TYPE_MISMATCH = re.compile(r"_type$|^literal_error$|^is_instance_of$|^model_attributes_type$")


def _tool_field(name: str) -> str:
    return _FIELD_NAME.sub(lambda m: _FIELD_NAMES[m.group(1)], name)


def describe(exc: CarteiroError) -> str:
    """One clear sentence for the agent: the service's message with the tool's field name."""
    message = _tool_field(exc.message)
    if exc.field:
        field = _tool_field(exc.field)
        if not message.startswith(field):
            message = f"{message} (field: {field})"
    if isinstance(exc, RateLimited):
        message = f"{message}; try again in {exc.retry_after} seconds"
    return message


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and (
        part in _TYPE_TAGS or any(c in part for c in "[]()-'") or part[:1].isupper()
    )


def _label(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return _tool_field(out)


def _reason(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "this argument is required"
    if kind == "timezone_aware":
        return "give a UTC offset, e.g. 2030-01-31T09:00:00-03:00 (no timezone given)"
    if kind.startswith(("datetime_", "date_")):
        return (
            "not a date and time: give ISO 8601 with a UTC offset, e.g. 2030-01-31T09:00:00-03:00"
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


def _unknown(names: list[str], arguments: Sequence[str]) -> str:
    """'unknown argument 'from'; did you mean 'from_email'?' for top-level names."""
    guesses: list[str | None] = []
    for name in names:
        renamed = _FIELD_NAMES.get(name)
        close = difflib.get_close_matches(name, arguments, n=1, cutoff=0.5)
        guesses.append(renamed if renamed in arguments else (close[0] if close else None))
    if len(names) == 1:
        if guesses[0]:
            return f"unknown argument '{names[0]}'; did you mean '{guesses[0]}'?"
        known = f"the arguments are: {', '.join(arguments)}" if arguments else "it takes none"
        return f"unknown argument '{names[0]}'; {known}"
    listed = ", ".join(
        f"'{name}' (did you mean '{guess}'?)" if guess else f"'{name}'"
        for name, guess in zip(names, guesses, strict=True)
    )
    return f"unknown arguments {listed}"


def _rank(loc: tuple[str | int, ...], error: ErrorDetails) -> tuple[int, bool]:
    return len(loc), not _TYPE_MISMATCH.search(error["type"])


def describe_validation(exc: ValidationError, arguments: Sequence[str] = ()) -> str:
    """One line for the first bad field, as 'field: reason'; unknown names get a suggestion.

    `arguments` are the tool's parameter names, for 'did you mean' on an unknown argument.
    """
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return "invalid input"
    cleaned = [(tuple(p for p in e["loc"] if not _is_tag(p)), e) for e in errors]
    extra = [loc[0] for loc, e in cleaned if e["type"] == "extra_forbidden" and len(loc) == 1]
    if extra:
        return _unknown([str(name) for name in extra], arguments)
    first = cleaned[0][0][:1]
    # The errors of one field: a union reports one per member; the deepest, most specific wins.
    mine = [(loc, e) for loc, e in cleaned if loc[:1] == first]
    rank = max(_rank(loc, e) for loc, e in mine)
    loc = next(loc for loc, e in mine if _rank(loc, e) == rank)
    reasons: list[str] = []
    for _, e in (item for item in mine if item[0] == loc and _rank(*item) == rank):
        reason = _reason(e)
        if reasons and reason.startswith("input should be "):
            reason = reason.removeprefix("input should be ")
        if reason not in reasons:
            reasons.append(reason)
    reason = " or ".join(reasons)
    if loc and reasons == ["extra inputs are not permitted"]:
        return f"{_label(loc[:-1]) or 'input'}: unknown field '{loc[-1]}'"
    return f"{_label(loc)}: {reason}" if loc else reason


def server_time(now: datetime) -> str:
    """`now` as agents read it best: ISO 8601 in UTC, to the second, with a `Z`."""
    return now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


TimezoneArg = Annotated[
    str | None,
    Field(
        max_length=64,
        description="IANA time zone (e.g. America/Sao_Paulo) to read a send_at without offset "
        "in and to echo times in; absent: the server's default zone",
    ),
]


class LocalTimes(BaseModel):
    """The message's times in the caller's zone, as a person there reads them."""

    timezone: str
    scheduled_at: str | None
    sent_at: str | None
    created_at: str | None


def zone(name: str | None, default: str) -> ZoneInfo:
    """The IANA zone `name` (or `default`); an unknown name is refused naming the argument."""
    wanted = (name or default).strip()
    try:
        return ZoneInfo(wanted)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"timezone: '{wanted}' is not an IANA time zone (e.g. America/Sao_Paulo, UTC)",
            field="timezone",
        ) from None


def local_times(
    tz: ZoneInfo,
    *,
    scheduled_at: datetime | None,
    sent_at: datetime | None,
    created_at: datetime | None,
) -> LocalTimes:
    def show(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat() if value is not None else None

    return LocalTimes(
        timezone=str(tz.key),
        scheduled_at=show(scheduled_at),
        sent_at=show(sent_at),
        created_at=show(created_at),
    )


def schedule(
    send_at: datetime | Literal["now"] | None, now: datetime, tz: ZoneInfo | None = None
) -> datetime | None:
    """The time to pass on: None for 'now'; a time clearly in the past is refused.

    A time without offset is read in `tz` (the caller's explicit zone); without one it is
    refused, since guessing the zone would send at the wrong hour."""
    if send_at is None or send_at == "now":
        return None
    if send_at.tzinfo is None:
        if tz is None:
            raise InvalidInput(
                "send_at: give a UTC offset, e.g. 2030-01-31T09:00:00-03:00, or pass "
                "timezone (e.g. America/Sao_Paulo) with a local time (no timezone given)",
                field="send_at",
            )
        send_at = send_at.replace(tzinfo=tz)
    if send_at < now - timedelta(minutes=PAST_TOLERANCE_MINUTES):
        raise InvalidInput(
            f"send_at: {send_at.isoformat()} is in the past (server time {server_time(now)}); "
            "give a later time, or 'now' (or leave send_at out) to send at once",
            field="send_at",
        )
    return send_at


def fixed_principal(principal: Principal) -> PrincipalResolver:
    """A resolver for transports with one caller for the whole process (stdio)."""

    async def resolve(_: Context) -> Principal:
        return principal

    return resolve


@dataclass(frozen=True)
class ToolRunner:
    """Resolves the principal, checks the scope and runs sync service code in a worker thread."""

    runtime: Runtime
    resolve: PrincipalResolver
    clock: Clock = field(default=utcnow)

    async def run(self, ctx: Context, scope: str, work: Callable[[Session, Principal], T]) -> T:
        try:
            principal = await self.resolve(ctx)
            principal.require(scope)
            return await anyio.to_thread.run_sync(self._in_session, work, principal)
        except CarteiroError as exc:
            # `from None`: the agent gets the sentence, never a traceback or chained cause.
            raise ToolError(describe(exc)) from None
        except ValidationError as exc:
            raise ToolError(describe_validation(exc)) from None
        except OperationalError as exc:
            log.error("database error in an MCP tool: %s", exc.orig)
            raise ToolError("the database does not answer; try again shortly") from None

    async def run_outside_session(
        self, ctx: Context, scope: str, work: Callable[[Principal], Awaitable[T]]
    ) -> T:
        """For services that open their own short transactions around network work (IMAP)."""
        try:
            principal = await self.resolve(ctx)
            principal.require(scope)
            return await work(principal)
        except CarteiroError as exc:
            raise ToolError(describe(exc)) from None
        except ValidationError as exc:
            raise ToolError(describe_validation(exc)) from None
        except OperationalError as exc:
            log.error("database error in an MCP tool: %s", exc.orig)
            raise ToolError("the database does not answer; try again shortly") from None

    def _in_session(self, work: Callable[[Session, Principal], T], principal: Principal) -> T:
        # Public shapes are built inside the session so lazy attributes load before it closes.
        with self.runtime.db.session() as session:
            return work(session, principal)
