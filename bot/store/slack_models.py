"""Slack tables (migration 0003). Importable without the Slack SDK.

* ``SlackTeam``: per-workspace settings for the anonymous weekly team pulse.
* (Which parts of a delivery already reached Slack is kept in the shared part ledger,
  ``delivery_parts``, since migration 0007.)
* ``slack_installations``, ``slack_bots``, ``slack_oauth_states``: the tables slack_sdk's
  ``AsyncSQLAlchemyInstallationStore`` and ``AsyncSQLAlchemyOAuthStateStore`` read and write,
  declared here column for column so the migration (not the SDK at run time) creates them.
  They are plain tables, not mapped classes: their ``user_id`` is a Slack id, not ours, so the
  user export/delete sweep (which walks mapped classes) must not touch them.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class SlackTeam(Base):
    """A Slack workspace's team-pulse settings; no row means no pulse."""

    __tablename__ = "slack_teams"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pulse_channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pulse_language: Mapped[str] = mapped_column(String(8), default="ja")
    pulse_timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    pulse_set_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # ISO week ("2026-W02") of the last week summarised, posted or skipped for too few members.
    last_pulse_week: Mapped[str | None] = mapped_column(String(10), nullable=True)
    updated_at: Mapped[datetime]


class SlackPulseRelease(Base):
    """A posted team pulse and who contributed to it, as keyed digests (never user ids), so a later
    release whose contributors differ from it by too few people is held back (migration 0006)."""

    __tablename__ = "slack_pulse_releases"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    week_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    contributors: Mapped[list[str]] = mapped_column(sa.JSON)
    released_at: Mapped[datetime]



def _installations_table(metadata: sa.MetaData) -> sa.Table:
    # Same columns as slack_sdk.oauth.installation_store.sqlalchemy (3.47); checked by a test.
    return sa.Table(
        "slack_installations", metadata,
        sa.Column("id", Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", String(32), nullable=False),
        sa.Column("app_id", String(32), nullable=False),
        sa.Column("enterprise_id", String(32)),
        sa.Column("enterprise_name", String(200)),
        sa.Column("enterprise_url", String(200)),
        sa.Column("team_id", String(32)),
        sa.Column("team_name", String(200)),
        sa.Column("bot_token", String(200)),
        sa.Column("bot_id", String(32)),
        sa.Column("bot_user_id", String(32)),
        sa.Column("bot_scopes", String(1000)),
        sa.Column("bot_refresh_token", String(200)),
        sa.Column("bot_token_expires_at", sa.DateTime),
        sa.Column("user_id", String(32), nullable=False),
        sa.Column("user_token", String(200)),
        sa.Column("user_scopes", String(1000)),
        sa.Column("user_refresh_token", String(200)),
        sa.Column("user_token_expires_at", sa.DateTime),
        sa.Column("incoming_webhook_url", String(200)),
        sa.Column("incoming_webhook_channel", String(200)),
        sa.Column("incoming_webhook_channel_id", String(200)),
        sa.Column("incoming_webhook_configuration_url", String(200)),
        sa.Column("is_enterprise_install", sa.Boolean, default=False, nullable=False),
        sa.Column("token_type", String(32)),
        sa.Column("installed_at", sa.DateTime, nullable=False, default=sa.func.now()),
        Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
    )


def _bots_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "slack_bots", metadata,
        sa.Column("id", Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", String(32), nullable=False),
        sa.Column("app_id", String(32), nullable=False),
        sa.Column("enterprise_id", String(32)),
        sa.Column("enterprise_name", String(200)),
        sa.Column("team_id", String(32)),
        sa.Column("team_name", String(200)),
        sa.Column("bot_token", String(200)),
        sa.Column("bot_id", String(32)),
        sa.Column("bot_user_id", String(32)),
        sa.Column("bot_scopes", String(1000)),
        sa.Column("bot_refresh_token", String(200)),
        sa.Column("bot_token_expires_at", sa.DateTime),
        sa.Column("is_enterprise_install", sa.Boolean, default=False, nullable=False),
        sa.Column("installed_at", sa.DateTime, nullable=False, default=sa.func.now()),
        Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
    )


def _oauth_states_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "slack_oauth_states", metadata,
        sa.Column("id", Integer, primary_key=True, autoincrement=True),
        sa.Column("state", String(200), nullable=False),
        sa.Column("expire_at", sa.DateTime, nullable=False),
    )


slack_installations = _installations_table(Base.metadata)
slack_bots = _bots_table(Base.metadata)
slack_oauth_states = _oauth_states_table(Base.metadata)
SDK_TABLES = (slack_installations, slack_bots, slack_oauth_states)
