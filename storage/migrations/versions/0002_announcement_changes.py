"""announcements: edit and recall after sending (issue 24)

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        # Existing announcements were never edited: 0, so the column can be NOT NULL at once.
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("edited_at", storage.models.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("recalled_at", storage.models.base.UtcDateTime(timezone=True), nullable=True))

    op.create_table(
        "announcement_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("finished_at", storage.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_changes_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcement_changes")),
    )
    with op.batch_alter_table("announcement_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_announcement_changes_announcement_id"), ["announcement_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("announcement_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_announcement_changes_announcement_id"))
    op.drop_table("announcement_changes")
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_column("recalled_at")
        batch_op.drop_column("edited_at")
        batch_op.drop_column("revision")
