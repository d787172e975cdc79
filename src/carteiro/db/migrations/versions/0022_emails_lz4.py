"""outbound bodies compressed with lz4 on PostgreSQL (the raw message, its text and HTML)

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each queued message stores ~5 KB of raw MIME and its two texts, all compressed in TOAST:
# pglz took about as long as the rest of the INSERT did (campaign enqueue, 1,000-row
# batches); lz4 writes them in about half the time at the same size. Values already stored
# keep their compression until rewritten.
COLUMNS = ("raw", "body", "html_body")


def _lz4_available() -> bool:
    """PostgreSQL 14+ built with lz4 (the Debian and official images are)."""
    found = op.get_bind().exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    return bool(found.scalar())


def _set(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql" or not _lz4_available():
        return
    columns = ", ".join(f"ALTER COLUMN {c} SET COMPRESSION {method}" for c in COLUMNS)
    op.execute(f"ALTER TABLE emails {columns}")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
