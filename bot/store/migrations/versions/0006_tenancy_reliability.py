"""tenancy and reliability: Slack users keyed by (enterprise or team, user); inbox retry horizon;
web pending message ids that never go back on SQLite; team pulse releases; the readiness probe

* ``users.platform_user_id`` of a Slack user becomes ``<tenant>:<user>`` (tenant: the enterprise id
  when the user row knows one, else the team id); a row that never recorded its team is left as it
  was (nothing can be proved about whose it is; it is never matched again and lapses with retention).
* ``inbox_events.user_key`` of Slack events is rewritten the same way from the stored payload.
* ``inbox_events.retry_until``: when a delivery that keeps failing gives up (NULL: received_at plus
  the configured horizon). ``bansou inbox retry`` sets it anew.
* ``web_pending_messages`` is rebuilt on SQLite with AUTOINCREMENT, continuing after its largest id.
* ``slack_pulse_releases``: which contributors each posted team pulse had (keyed digests).
* ``readiness_probe``: one row that ``GET /readyz`` writes to prove the database takes writes.

Revision ID: 0006
Revises: 0005
"""
import json

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _meta(value):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _tenant(meta: dict):
    tenant = meta.get("enterprise_id") or meta.get("team_id")
    return tenant if isinstance(tenant, str) and tenant else None


def upgrade() -> None:
    bind = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("platform"), sa.column("platform_user_id"),
                     sa.column("platform_meta"))
    for row in bind.execute(sa.select(users.c.id, users.c.platform_user_id, users.c.platform_meta)
                            .where(users.c.platform == "slack")).all():
        tenant = _tenant(_meta(row.platform_meta))
        if tenant and ":" not in row.platform_user_id:
            bind.execute(users.update().where(users.c.id == row.id)
                         .values(platform_user_id=f"{tenant}:{row.platform_user_id}"))
    inbox = sa.table("inbox_events", sa.column("id"), sa.column("platform"), sa.column("user_key"),
                     sa.column("payload"))
    for row in bind.execute(sa.select(inbox.c.id, inbox.c.user_key, inbox.c.payload)
                            .where(inbox.c.platform == "slack")).all():
        _, _, user_id = row.user_key.partition(":")
        tenant = _tenant(_meta(row.payload))
        if tenant and user_id and ":" not in user_id:
            bind.execute(inbox.update().where(inbox.c.id == row.id).values(user_key=f"slack:{tenant}:{user_id}"))

    op.add_column("inbox_events", sa.Column("retry_until", UTCDateTime(), nullable=True))

    if bind.dialect.name == "sqlite":
        # AUTOINCREMENT: an id is never handed out twice, even once the table has emptied (a page
        # that has seen id N ignores every id up to N). Rebuilt with its rows; the sequence
        # continues after the largest id present.
        with op.batch_alter_table("web_pending_messages", recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}):
            pass
        op.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'web_pending_messages', COALESCE(MAX(id), 0) "
                   "FROM web_pending_messages WHERE NOT EXISTS "
                   "(SELECT 1 FROM sqlite_sequence WHERE name = 'web_pending_messages')")

    op.create_table(
        "slack_pulse_releases",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("week_id", sa.String(10), primary_key=True),
        sa.Column("contributors", sa.JSON, nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "readiness_probe",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("readiness_probe")
    op.drop_table("slack_pulse_releases")
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("retry_until")
    bind = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("platform"), sa.column("platform_user_id"))
    for row in bind.execute(sa.select(users.c.id, users.c.platform_user_id).where(users.c.platform == "slack")).all():
        tenant, sep, user_id = row.platform_user_id.partition(":")
        if sep:
            taken = bind.execute(sa.select(users.c.id).where(users.c.platform == "slack",
                                                             users.c.platform_user_id == user_id)).first()
            if taken is None:  # two workspaces' users with one id cannot both go back; the first keeps it
                bind.execute(users.update().where(users.c.id == row.id).values(platform_user_id=user_id))
    inbox = sa.table("inbox_events", sa.column("id"), sa.column("platform"), sa.column("user_key"))
    for row in bind.execute(sa.select(inbox.c.id, inbox.c.user_key).where(inbox.c.platform == "slack")).all():
        parts = row.user_key.split(":")
        if len(parts) == 3:
            bind.execute(inbox.update().where(inbox.c.id == row.id).values(user_key=f"slack:{parts[2]}"))
