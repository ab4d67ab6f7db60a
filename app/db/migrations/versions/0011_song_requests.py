"""listeners' song requests, and the rules hosts set for them

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "song_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("listener", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("aired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("track_id", "listener", "client", "status", "entry_id", "created_at"):
        op.create_index(f"ix_song_requests_{column}", "song_requests", [column])
    op.create_table(
        "request_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("playlist_ids", sa.JSON(), nullable=False),
        sa.Column("per_listener_hour", sa.Integer(), nullable=True),
        sa.Column("per_address_hour", sa.Integer(), nullable=True),
        sa.Column("max_pending", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("request_rules")
    for column in ("track_id", "listener", "client", "status", "entry_id", "created_at"):
        op.drop_index(f"ix_song_requests_{column}", table_name="song_requests")
    op.drop_table("song_requests")
