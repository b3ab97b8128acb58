"""Per-row canonicalisation scheme and actor signature.

`canon` NULL marks rows written before: they keep verifying under the legacy scheme. New rows
say `rfc8785`. `actor_signature` holds a privileged event's signature by its actor's key. `webhook_deliveries`
remembers the guard's delivery ids (operational state, not chained).

Revision ID: 0003_ledger_canon_actor
Revises: 0002_lookup_indexes
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_ledger_canon_actor"
down_revision = "0002_lookup_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_events") as batch:
        batch.add_column(sa.Column("canon", sa.String(16), nullable=True))
        batch.add_column(sa.Column("actor_signature", sa.Text, nullable=True))
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(200), primary_key=True),
        sa.Column("received_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("ledger_events") as batch:
        batch.drop_column("actor_signature")
        batch.drop_column("canon")
