"""reminders: reminder preferences, the reminder outbox and nudge history

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from bot.store.models import BigId, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_prefs",
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("days", sa.String(32), nullable=False),
        sa.Column("time_of_day", sa.String(5), nullable=False),
        sa.Column("preset", sa.String(32), nullable=True),
        sa.Column("quiet_start", sa.String(5), nullable=False),
        sa.Column("quiet_end", sa.String(5), nullable=False),
        sa.Column("paused_until", UTCDateTime(), nullable=True),
        sa.Column("next_due_at", UTCDateTime(), nullable=True),
        sa.Column("frequency_factor", sa.Integer, nullable=False),
        sa.Column("slot_seq", sa.Integer, nullable=False),
        sa.Column("ignored_streak", sa.Integer, nullable=False),
        sa.Column("streak_reset_at", UTCDateTime(), nullable=True),
        sa.Column("backoff_asked_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_reminder_prefs_next_due", "reminder_prefs", ["enabled", "next_due_at"])
    op.create_table(
        "reminder_outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("slot_key", sa.String(64), nullable=False),
        sa.Column("slot_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("nudge_id", sa.String(64), nullable=True),
        sa.Column("message_id", sa.String(96), nullable=True),
        sa.Column("flow", sa.String(64), nullable=True),
        sa.Column("values", sa.JSON, nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.Column("answer", sa.String(12), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "slot_key", name="uq_reminder_outbox_slot"),
    )
    op.create_index("ix_reminder_outbox_status_due", "reminder_outbox", ["status", "due_at"])
    op.create_index("ix_reminder_outbox_user_status", "reminder_outbox", ["user_id", "status"])
    op.create_table(
        "nudge_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("nudge_id", sa.String(64), nullable=False),
        sa.Column("theme", sa.String(32), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_nudge_history_user_theme", "nudge_history", ["user_id", "theme"])


def downgrade() -> None:
    op.drop_index("ix_nudge_history_user_theme", table_name="nudge_history")
    op.drop_table("nudge_history")
    op.drop_index("ix_reminder_outbox_user_status", table_name="reminder_outbox")
    op.drop_index("ix_reminder_outbox_status_due", table_name="reminder_outbox")
    op.drop_table("reminder_outbox")
    op.drop_index("ix_reminder_prefs_next_due", table_name="reminder_prefs")
    op.drop_table("reminder_prefs")
