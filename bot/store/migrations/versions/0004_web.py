"""web: the cookie-signing secret shared by web processes, and messages pushed to web visitors

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from bot.store.models import BigId, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "web_pending_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dedupe_key", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("reply", sa.JSON, nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_web_pending_dedupe"),
    )
    op.create_index("ix_web_pending_user_id", "web_pending_messages", ["user_id", "id"])
    op.create_index("ix_web_pending_created", "web_pending_messages", ["created_at"])


def downgrade() -> None:
    op.drop_table("web_pending_messages")
    op.drop_table("web_secrets")
