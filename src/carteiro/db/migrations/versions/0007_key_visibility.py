"""key visibility: own_messages_only on API keys, Idempotency-Key unique per key

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("own_messages_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_constraint("uq_emails_tenant_idempotency", type_="unique")
        batch_op.create_unique_constraint(
            "uq_emails_key_idempotency", ["tenant_id", "api_key_id", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_constraint("uq_emails_key_idempotency", type_="unique")
        batch_op.create_unique_constraint(
            "uq_emails_tenant_idempotency", ["tenant_id", "idempotency_key"]
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("own_messages_only")
