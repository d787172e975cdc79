"""outbox search indexes (trigram: pg_trgm GIN on PostgreSQL, FTS5 on SQLite) on the
recipient, subject and Message-ID of outbound mail, and the dead letters by error type

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns the outbox search reads (outbound.search). Names ending in "_fts" (and their
# FTS5 shadow tables) and indexes ending in "_trgm" live in migrations only
# (db.migrate.include_name).
COLUMNS = ("to_email", "subject", "message_id")
FTS = "emails_fts"
INDEX = "ix_emails_search_trgm"
JOINED = "lower(to_email || ' ' || subject || ' ' || message_id)"
DEAD = sa.text("status = 'dead'")


def _sqlite() -> None:
    cols = ", ".join(COLUMNS)
    new = ", ".join(f"new.{c}" for c in COLUMNS)
    old = ", ".join(f"old.{c}" for c in COLUMNS)
    add = f"INSERT INTO {FTS}(rowid, {cols}) VALUES (new.id, {new});"
    remove = f"INSERT INTO {FTS}({FTS}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    # External content, as for leads (0016): the index holds trigrams only. The update trigger
    # fires only when a searched column changes, so the queue's status writes never touch it.
    op.execute(
        f"CREATE VIRTUAL TABLE {FTS} USING fts5({cols}, content='emails', "
        f"content_rowid='id', tokenize='trigram')"
    )
    op.execute(f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON emails BEGIN {add} END")
    op.execute(f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON emails BEGIN {remove} END")
    op.execute(f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF {cols} ON emails BEGIN {remove} {add} END")
    op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")


def _postgresql() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # One index over the three columns joined (outbound.search._joined, which must stay the
    # same expression), lower-cased as the search is: a row's every status change writes a
    # new entry in each GIN index of the table, and one index costs those writes about half
    # what one per column did.
    op.execute(f"CREATE INDEX {INDEX} ON emails USING gin ({JOINED} gin_trgm_ops)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()
    op.create_index(
        "ix_emails_tenant_dead_error",
        "emails",
        ["tenant_id", "error_type", "account_id"],
        unique=False,
        postgresql_where=DEAD,
        sqlite_where=DEAD,
    )


def downgrade() -> None:
    op.drop_index("ix_emails_tenant_dead_error", table_name="emails")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
        return  # the extension stays: the leads' indexes use it
    for suffix in ("ai", "ad", "au"):
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
    op.execute(f"DROP TABLE IF EXISTS {FTS}")
