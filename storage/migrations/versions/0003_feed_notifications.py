"""volunteers: "Also tell me in my Teams activity feed" (issue 24, part 4)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        # Nobody has chosen it yet: off, so the column can be NOT NULL at once.
        batch_op.add_column(sa.Column("feed_notifications", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_column("feed_notifications")
