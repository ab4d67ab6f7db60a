"""running totals of listening (board per week and all time, audience per minute and at plays),
built from the sessions so far

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import logging
import time

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")  # quiet with the others in `radio`


def upgrade() -> None:
    op.create_table(
        "listener_spans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "listener_weeks",
        sa.Column("listener", sa.String(length=64), nullable=False),
        sa.Column("week_us", sa.BigInteger(), nullable=False),
        sa.Column("seconds_us", sa.BigInteger(), nullable=False),
        sa.Column("on_board", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("listener", "week_us"),
    )
    op.create_table(
        "listener_totals",
        sa.Column("listener", sa.String(length=64), nullable=False),
        sa.Column("seconds_us", sa.BigInteger(), nullable=False),
        sa.Column("on_board", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("listener"),
    )
    op.create_table(
        "audience_minutes",
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute"),
    )
    op.create_table(
        "audience_marks",
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("listeners", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("at_us"),
    )
    op.create_table(
        "listener_stats_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("min_seconds", sa.Float(), nullable=False),
        sa.Column("marked_until_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The backfill writes the rows in bulk before the indexes exist: cheaper than keeping
    # them up to date row by row.
    backfill()
    op.create_index("ix_listener_spans_owner", "listener_spans", ["kind", "owner", "end_us"])
    op.create_index("ix_listener_spans_end", "listener_spans", ["kind", "end_us"])
    op.create_index("ix_listener_weeks_rank", "listener_weeks",
                    ["week_us", "on_board", "seconds_us"])  # fmt: skip
    op.create_index("ix_listener_totals_rank", "listener_totals", ["on_board", "seconds_us"])


def backfill() -> None:
    # The station's own settings decide the weeks and the minimum; a station started later
    # with others builds the totals again (app.listeners.sessions).
    from app.config import Settings
    from app.listeners.totals import rebuild

    settings = Settings()
    started = time.monotonic()
    rebuild(op.get_bind(), settings.timezone, settings.listener_min_seconds)
    log.info("listening totals built in %.1f s", time.monotonic() - started)


def downgrade() -> None:
    for index, table in (("ix_listener_totals_rank", "listener_totals"),
                         ("ix_listener_weeks_rank", "listener_weeks"),
                         ("ix_listener_spans_end", "listener_spans"),
                         ("ix_listener_spans_owner", "listener_spans")):  # fmt: skip
        op.drop_index(index, table_name=table)
    for table in ("listener_stats_state", "audience_marks", "audience_minutes",
                  "listener_totals", "listener_weeks", "listener_spans"):  # fmt: skip
        op.drop_table(table)
