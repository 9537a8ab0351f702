"""Who a Slack user is: Slack only promises that (enterprise or team, user) is unique.

A user id alone is not: Slack Connect and Enterprise Grid share user ids across workspaces. Our
``UserKey`` for Slack is therefore ``slack:<tenant>:<user>``, the tenant being the Enterprise Grid
org when there is one (its user ids are unique across the org's workspaces), else the workspace.
"""
from __future__ import annotations

from bot.types import UserKey

PLATFORM = "slack"


def tenant_of(*, team_id: str | None, enterprise_id: str | None) -> str | None:
    """The org whose user ids are unique: the enterprise when there is one, else the team."""
    return enterprise_id or team_id or None


def slack_user_key(*, team_id: str | None, enterprise_id: str | None, user_id: str) -> UserKey | None:
    """The key of ``user_id`` in its tenant; None when the request names no team at all."""
    tenant = tenant_of(team_id=team_id, enterprise_id=enterprise_id)
    if not tenant or not user_id:
        return None
    return UserKey(PLATFORM, f"{tenant}:{user_id}")


def slack_user_id(key: UserKey) -> str:
    """The Slack user id (what the Web API wants) of one of our Slack keys."""
    return key.user_id.rpartition(":")[2]
