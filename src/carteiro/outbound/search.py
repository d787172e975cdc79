"""Outbox search by substring (recipient, subject, Message-ID) served by trigram indexes."""

from __future__ import annotations

from sqlalchemy import ColumnElement, column, func, literal_column, or_, select, table
from sqlalchemy import text as text_
from sqlalchemy.orm import Session

from carteiro.outbound.models import Email

# Trigram indexes (FTS5's trigram tokenizer, pg_trgm) can only serve substrings this long;
# shorter ones are matched by reading the tenant's mail.
MIN_INDEXED_CHARS = 3

# Above this many candidates (SQLite) the search reads the table instead: a page of dense
# matches is found within a few hundred rows newest-first, and counting that many candidates
# one lookup at a time costs more than one pass over the table (measured at 100,000 e-mails:
# the crossing near a third of the rows).
DENSE_CANDIDATES = 20_000

# The FTS5 table migration 0021 keeps in step with `emails` by triggers (SQLite only).
_FTS = table("emails_fts", column("rowid"), column("emails_fts"))


def needle(q: str) -> str:
    """What is looked for: the search without surrounding blanks, lower-cased."""
    return q.strip().lower()


def scan(q: str) -> ColumnElement[bool]:
    """What a search means, as one condition on a message: the lower-cased `q` is a substring
    of its lower-cased recipients, subject or Message-ID (the database's lower(): ASCII only
    on SQLite, the locale's on PostgreSQL; accents are kept)."""
    pattern = _pattern(q)
    return or_(
        func.lower(Email.to_email).like(pattern, escape="\\"),
        func.lower(Email.subject).like(pattern, escape="\\"),
        func.lower(Email.message_id).like(pattern, escape="\\"),
    )


def _joined() -> ColumnElement[str]:
    """The three columns in one text, lower-cased: the expression migration 0021 indexes on
    PostgreSQL (the blanks are literals, not parameters, so every plan can match it)."""
    blank: ColumnElement[str] = literal_column("' '")
    return func.lower(Email.to_email + blank + Email.subject + blank + Email.message_id)


def _pattern(q: str) -> str:
    escaped = needle(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _phrase(text: str) -> str:
    """An FTS5 phrase matching `text` literally (a substring, with the trigram tokenizer)."""
    return '"' + text.replace('"', '""') + '"'


def matches(session: Session, *, q: str) -> ColumnElement[bool]:
    """The condition for messages matching the search `q` (see `scan`), through the indexes."""
    text = needle(q)
    if len(text) < MIN_INDEXED_CHARS:
        return scan(q)
    if session.get_bind().dialect.name == "postgresql":
        # A plan made for this pattern: the driver prepares a statement it has run five
        # times, and the generic plan PostgreSQL then settles on reads the trigram index for
        # any pattern, which for one that most rows match costs twice a scan of the table.
        session.execute(text_("SET LOCAL plan_cache_mode = force_custom_plan"))
        # The index finds the rows whose joined text holds `q` (a superset: it may straddle
        # two columns), the scan's condition keeps the real matches. The planner itself
        # turns to the table newest-first when matches are dense.
        return _joined().like(_pattern(q), escape="\\") & scan(q)
    found = select(_FTS.c.rowid).where(
        _FTS.c.emails_fts.match("{to_email subject message_id} : " + _phrase(text))
    )
    # SQLite's planner cannot weigh the FTS table's rows: count the candidates (up to the
    # limit, which stops the FTS query early) and choose.
    probe = select(func.count()).select_from(found.limit(DENSE_CANDIDATES + 1).subquery())
    if (session.scalar(probe) or 0) > DENSE_CANDIDATES:
        return scan(q)
    # The candidates (a superset: FTS5 folds case beyond ASCII, SQLite's lower() does not),
    # then the exact condition on those few rows.
    return Email.id.in_(found) & scan(q)
