"""hosts' public profiles, stories linked to their host, one level of replies to comments,
and bulletins kept for "listen again" with the stories they carried

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("display_name", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("bio", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("picture_path", sa.String(length=1024), nullable=True))
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.alter_column("display_name", server_default=None)
        batch_op.alter_column("bio", server_default=None)
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_articles_host_id"), ["host_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_articles_host_id_hosts"), "hosts", ["host_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_comments_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_comments_parent_id_comments"), "comments", ["parent_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_path", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("duration", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("title", sa.String(length=200), nullable=False, server_default="")
        )
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.alter_column("title", server_default=None)
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
    with op.batch_alter_table("bulletin_stories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bulletin_stories_article_id"), ["article_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("bulletin_stories")
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_column("title")
        batch_op.drop_column("duration")
        batch_op.drop_column("audio_path")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_comments_parent_id_comments"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_comments_parent_id"))
        batch_op.drop_column("parent_id")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_articles_host_id_hosts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_articles_host_id"))
        batch_op.drop_column("host_id")
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_column("picture_path")
        batch_op.drop_column("bio")
        batch_op.drop_column("display_name")
