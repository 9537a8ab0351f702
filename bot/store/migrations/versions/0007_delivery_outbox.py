"""one delivery outbox: ``delivery_outbox`` (outgoing deliveries, claimed with a lease) and
``delivery_parts`` (the part ledger of multi-request sends, shared by every channel)

* ``slack_posted_parts`` rows move into ``delivery_parts`` (``ref`` is ``channel:ts``) and the
  table is dropped: Slack's sender keeps its ledger in the shared one now. LINE kept its ledger in
  memory, so there is nothing of it to move.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_key", sa.String(160), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("retry_until", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_delivery_outbox_status_due", "delivery_outbox", ["status", "due_at"])
    op.create_index("ix_delivery_outbox_user", "delivery_outbox", ["user_key", "status"])
    op.create_table(
        "delivery_parts",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("ref", sa.String(80), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_delivery_parts_at", "delivery_parts", ["at"])
    bind = op.get_bind()
    bind.execute(sa.text(
        "INSERT INTO delivery_parts (key, part, ref, at) "
        "SELECT idempotency_key, part, channel || ':' || COALESCE(ts, ''), posted_at FROM slack_posted_parts"))
    op.drop_index("ix_slack_posted_parts_at", table_name="slack_posted_parts")
    op.drop_table("slack_posted_parts")


def downgrade() -> None:
    op.create_table(
        "slack_posted_parts",
        sa.Column("idempotency_key", sa.String(64), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_slack_posted_parts_at", "slack_posted_parts", ["posted_at"])
    bind = op.get_bind()
    parts = sa.table("delivery_parts", sa.column("key"), sa.column("part"), sa.column("ref"),
                     sa.column("at", UTCDateTime()))
    posted = sa.table("slack_posted_parts", sa.column("idempotency_key"), sa.column("part"), sa.column("channel"),
                      sa.column("ts"), sa.column("posted_at", UTCDateTime()))
    rows = []
    for row in bind.execute(sa.select(parts.c.key, parts.c.part, parts.c.ref, parts.c.at)).all():
        channel, sep, ts = (row.ref or "").partition(":")
        if sep and channel:  # only Slack's parts name a channel
            rows.append({"idempotency_key": row.key, "part": row.part, "channel": channel[:32],
                         "ts": ts[:32] or None, "posted_at": row.at})
    if rows:
        bind.execute(posted.insert(), rows)
    op.drop_index("ix_delivery_parts_at", table_name="delivery_parts")
    op.drop_table("delivery_parts")
    op.drop_index("ix_delivery_outbox_user", table_name="delivery_outbox")
    op.drop_table("delivery_outbox")
