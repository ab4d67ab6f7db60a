"""hosts' public profiles, stories linked to their host, one level of replies to comments,
and bulletins kept for "listen again" with the stories they carried

Every change here is an ALTER TABLE ... ADD/DROP COLUMN, never a rebuilt table: on SQLite
(foreign keys on) rebuilding hosts or articles drops the old table, and its ON DELETE
CASCADE would take every token, session, comment, rating and speech row with it. So the two
links (a story's host, a reply's comment) are plain indexed columns without a constraint.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _add_link(table: str, column: str) -> None:
    """A nullable, indexed integer column naming another row (no foreign key constraint:
    SQLite adds one only inline, which SQLAlchemy does not read back; the code that removes
    the row named clears the links, see the models)."""
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def _drop_link(table: str, column: str) -> None:
    op.drop_index(f"ix_{table}_{column}", table_name=table)
    _drop_column(table, column)


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def upgrade() -> None:
    # (op.add_column, not batch: batch mode would rebuild the table to drop a default.)
    op.add_column("hosts", sa.Column("display_name", sa.String(length=100), nullable=False,
                                     server_default=""))  # fmt: skip
    op.add_column("hosts", sa.Column("bio", sa.Text(), nullable=False, server_default=""))
    op.add_column("hosts", sa.Column("picture_path", sa.String(length=1024), nullable=True))
    _add_link("articles", "host_id")
    _add_link("comments", "parent_id")
    op.add_column("bulletins", sa.Column("audio_path", sa.String(length=1024), nullable=True))
    op.add_column("bulletins", sa.Column("duration", sa.Float(), nullable=True))
    op.add_column("bulletins", sa.Column("title", sa.String(length=200), nullable=False,
                                         server_default=""))  # fmt: skip
    op.create_table(
        "bulletin_stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bulletin_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["bulletin_id"], ["bulletins.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bulletin_id", "article_id"),
    )
    op.create_index("ix_bulletin_stories_article_id", "bulletin_stories", ["article_id"],
                    unique=False)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_bulletin_stories_article_id", table_name="bulletin_stories")
    op.drop_table("bulletin_stories")
    for column in ("title", "duration", "audio_path"):
        _drop_column("bulletins", column)
    _drop_link("comments", "parent_id")
    _drop_link("articles", "host_id")
    for column in ("picture_path", "bio", "display_name"):
        _drop_column("hosts", column)
