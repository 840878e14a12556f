"""announcements: final figures stored before their messages are compacted (issue 23, item 4)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        # Empty until the retention job stores them: existing announcements need nothing now, and their final
        # reports read the outbox, as before, until their figures are stored.
        batch_op.add_column(sa.Column("final_sent", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("final_undeliverable", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("final_failed", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("final_cancelled", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("figures_stored_at", storage.models.base.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_column("figures_stored_at")
        batch_op.drop_column("final_cancelled")
        batch_op.drop_column("final_failed")
        batch_op.drop_column("final_undeliverable")
        batch_op.drop_column("final_sent")
