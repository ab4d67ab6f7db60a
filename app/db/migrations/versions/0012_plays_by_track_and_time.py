"""the play history by track and time: a track's plays, newest first, without a scan
(the public history's search)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_plays_track_id_started_at", "plays", ["track_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_plays_track_id_started_at", table_name="plays")
