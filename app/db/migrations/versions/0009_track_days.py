"""what each track gained or lost in listeners per UTC day, and each play (the hosts'
tracks page), built from the plays and audience marks so far

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import logging
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")  # quiet with the others in `radio`


def upgrade() -> None:
    op.create_table(
        "track_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day_us", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("artist", sa.String(length=512), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("change", sa.BigInteger(), nullable=False),
        sa.Column("first_us", sa.BigInteger(), nullable=False),
        sa.Column("last_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "play_changes",
        sa.Column("play_id", sa.Integer(), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("artist", sa.String(length=512), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("change", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("play_id"),
    )
    op.create_table(
        "track_totals_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settled_us", sa.BigInteger(), nullable=False),
        sa.Column("settled_play_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    backfill()  # before the index, as 0007
    op.create_index("ix_track_days_day_us", "track_days", ["day_us"])
    op.create_index("ix_play_changes_start_us", "play_changes", ["start_us"])


def backfill() -> None:
    # Every play whose marks can no longer change: those before the earliest open session's
    # last heartbeat (a crash's open sessions are closed at the next start, and add listening
    # from there on).
    from app.listeners.track_totals import heard_until, settle

    started = time.monotonic()
    connection = op.get_bind()
    plays = settle(connection, heard_until(connection, datetime.now(UTC)))
    log.info("track totals built from %d plays in %.1f s", plays, time.monotonic() - started)


def downgrade() -> None:
    op.drop_index("ix_play_changes_start_us", table_name="play_changes")
    op.drop_index("ix_track_days_day_us", table_name="track_days")
    op.drop_table("track_totals_state")
    op.drop_table("play_changes")
    op.drop_table("track_days")
