"""The ledger: hash-chained events, the chain head, and the MLflow sync marker.

Revision ID: 0001_ledger
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("scenario_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_ledger_events_scenario_id", "ledger_events", ["scenario_id"])
    op.create_index("ix_ledger_events_event_type", "ledger_events", ["event_type"])
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    op.create_table(
        "ledger_sync",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("target", sa.String(32), primary_key=True),
        sa.Column("synced_at", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ledger_sync")
    op.drop_table("ledger_head")
    op.drop_index("ix_ledger_events_event_type", "ledger_events")
    op.drop_index("ix_ledger_events_scenario_id", "ledger_events")
    op.drop_table("ledger_events")
