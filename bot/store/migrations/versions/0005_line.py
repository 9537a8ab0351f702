"""line: platform message ids on kept messages (LINE's unsend) and the LINE message quota

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stored_messages") as batch:
        batch.add_column(sa.Column("platform_message_id", sa.String(64), nullable=True))
    op.create_index("ix_stored_messages_user_platform_id", "stored_messages", ["user_id", "platform_message_id"])
    op.create_table(
        "line_quota",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("limit_value", sa.BigInteger, nullable=True),
        sa.Column("used", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("line_quota")
    op.drop_index("ix_stored_messages_user_platform_id", table_name="stored_messages")
    with op.batch_alter_table("stored_messages") as batch:
        batch.drop_column("platform_message_id")
