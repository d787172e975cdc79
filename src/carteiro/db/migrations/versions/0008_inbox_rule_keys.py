"""inbox rules send as the API key that made them; record why a rule did not send

Revision ID: 0008
Revises: 0007, 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carteiro.db.types

revision: str = "0008"
# The inbox tables come from 0004, a branch of its own: without it this could run first.
down_revision: tuple[str, str] = ("0007", "0004")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_REASON = (
    "disabled on upgrade: rules now send as the API key that made them, and this rule's key "
    "is unknown; create it again with a key allowed to send"
)


def upgrade() -> None:
    with op.batch_alter_table("inbox_rules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "api_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("last_error_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_inbox_rules_api_key_id_api_keys"),
            "api_keys",
            ["api_key_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # Rules made so far sent as an unrestricted principal and nobody knows which key made them:
    # they stop until someone re-creates them under a key whose limits then apply.
    rules = sa.table(
        "inbox_rules",
        sa.column("enabled", sa.Boolean()),
        sa.column("api_key_id", sa.Integer()),
        sa.column("last_error", sa.Text()),
    )
    op.execute(
        rules.update()
        .where(rules.c.api_key_id.is_(None), rules.c.enabled.is_(True))
        .values(enabled=False, last_error=LEGACY_REASON)
    )


def downgrade() -> None:
    with op.batch_alter_table("inbox_rules", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_inbox_rules_api_key_id_api_keys"), type_="foreignkey"
        )
        batch_op.drop_column("last_error_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("api_key_id")
