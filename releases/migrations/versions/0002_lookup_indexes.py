"""Indexes for the lookups promote and audit make (issue 16): an evaluated event by its decision
digest (event_type, subject), and a scenario's events of a type newest first
(scenario_id, event_type, seq). Without them both scanned every matching row.

Revision ID: 0002_lookup_indexes
Revises: 0001_ledger
"""
from alembic import op

revision = "0002_lookup_indexes"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_events_type_subject", "ledger_events", ["event_type", "subject"])
    op.create_index("ix_ledger_events_scenario_type_seq", "ledger_events", ["scenario_id", "event_type", "seq"])


def downgrade() -> None:
    op.drop_index("ix_ledger_events_scenario_type_seq", "ledger_events")
    op.drop_index("ix_ledger_events_type_subject", "ledger_events")
