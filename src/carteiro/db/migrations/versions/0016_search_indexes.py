"""search indexes for leads (trigram: pg_trgm GIN on PostgreSQL, FTS5 on SQLite) and their
consent filter, the lead page's recipient lookup, the dashboard's sent-mail counts and the
queue counts per granted account

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, key column, searched columns, FTS table). Names ending in "_fts" (and their FTS5
# shadow tables) and indexes ending in "_trgm" live in migrations only (db.migrate.include_name).
SEARCHED = [
    ("leads", "lead_id", ["nome", "contato_nome", "documento"], "leads_fts"),
    ("lead_emails", "email_id", ["email"], "lead_emails_fts"),
    ("lead_telefones", "telefone_id", ["telefone"], "lead_telefones_fts"),
]
SENT = sa.text("status = 'sent'")
MULTI_TO = sa.text("to_email LIKE '%,%'")


def _sqlite_search() -> None:
    for table, key, columns, fts in SEARCHED:
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        add = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.{key}, {new});"
        remove = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.{key}, {old});"
        # External content: the index holds trigrams only, the text stays in the table; the
        # triggers keep it in step on every write path (imports, upserts, cascaded deletes).
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', "
            f"content_rowid='{key}', tokenize='trigram')"
        )
        op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END")
        op.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN {remove} {add} END"
        )
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def _postgresql_search() -> None:
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, _key, columns, _fts in SEARCHED:
        for column in columns:
            op.execute(
                f"CREATE INDEX ix_{table}_{column}_trgm ON {table} "
                f"USING gin ({column} gin_trgm_ops)"
            )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_search()
    else:
        _sqlite_search()
    op.create_index(
        "ix_lead_emails_tenant_consent",
        "lead_emails",
        ["tenant_id", "consentimento", "lead_id"],
        unique=False,
    )
    op.create_index(
        "ix_emails_tenant_to",
        "emails",
        ["tenant_id", sa.text("lower(to_email)"), "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_emails_tenant_multi_to",
        "emails",
        ["tenant_id", "created_at"],
        unique=False,
        postgresql_where=MULTI_TO,
        sqlite_where=MULTI_TO,
    )
    # Replaces the plain account_id index: the same lookups, and the queue's counts of the
    # mailboxes a person was granted from the index alone.
    op.create_index(
        "ix_emails_account_status",
        "emails",
        ["account_id", "status", "tenant_id"],
        unique=False,
    )
    op.drop_index("ix_emails_account_id", table_name="emails")
    op.create_index(
        "ix_emails_tenant_sent",
        "emails",
        ["tenant_id", "status", "sent_at"],
        unique=False,
        postgresql_where=SENT,
        sqlite_where=SENT,
    )


def downgrade() -> None:
    op.drop_index("ix_emails_tenant_sent", table_name="emails")
    op.create_index("ix_emails_account_id", "emails", ["account_id"], unique=False)
    op.drop_index("ix_emails_account_status", table_name="emails")
    op.drop_index("ix_emails_tenant_multi_to", table_name="emails")
    op.drop_index("ix_emails_tenant_to", table_name="emails")
    op.drop_index("ix_lead_emails_tenant_consent", table_name="lead_emails")
    if op.get_bind().dialect.name == "postgresql":
        for table, _key, columns, _fts in SEARCHED:
            for column in columns:
                op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_trgm")
        return  # the extension stays: other objects may use it
    for _table, _key, _columns, fts in SEARCHED:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")
