"""oauth refresh: rotating refresh tokens per grant, and an expiry on API keys (access tokens)

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import carteiro.db.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _when() -> carteiro.db.types.UTCDateTime:
    return carteiro.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expires_at", _when(), nullable=True))
    op.create_table(
        "oauth_refresh_tokens",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", ID, nullable=True),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("used_at", _when(), nullable=True),
        sa.Column("expires_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["oauth_grants.request_id"],
            name=op.f("fk_oauth_refresh_tokens_request_id_oauth_grants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_oauth_refresh_tokens_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oauth_refresh_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_oauth_refresh_tokens_request_id"),
        "oauth_refresh_tokens",
        ["request_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oauth_refresh_tokens_request_id"), table_name="oauth_refresh_tokens")
    op.drop_table("oauth_refresh_tokens")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
