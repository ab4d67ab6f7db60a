"""listening sessions and listener names for the top-listeners board

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listener_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listener", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=40), nullable=False),
        sa.Column("name_key", sa.String(length=80), nullable=False),
        sa.Column("on_board", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("listener"),
        sa.UniqueConstraint("name_key"),
    )
    op.create_table(
        "listening_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listener", sa.String(length=64), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bytes_sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("listening_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listening_sessions_listener"), ["listener"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_listening_sessions_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("listening_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listening_sessions_started_at"))
        batch_op.drop_index(batch_op.f("ix_listening_sessions_listener"))

    op.drop_table("listening_sessions")
    op.drop_table("listener_names")
