"""Slack token rotation for work Bolt does not see: reminders, the team pulse and App Home refreshes.

Bolt refreshes a rotating token only while it handles a request (its authorize step). Scheduled
sends run outside any request, so ``TokenRefresher.bot_token`` does the same before each use: it
reads the workspace's (or, for an org-wide install, the organisation's) installation, lets
slack_sdk's ``AsyncTokenRotator`` refresh the tokens when they expire within
``minutes_before_expiration``, and saves the refreshed installation back to the store (the SDK's
store updates the same rows). One refresh at a time per workspace in this process.
"""
from __future__ import annotations

import asyncio
import logging

from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("bansou.slack")
MINUTES_BEFORE_EXPIRATION = 120  # as Bolt's default


class TokenRefresher:
    """Finds a workspace's bot token in the installation store, refreshed first when it is expiring."""

    def __init__(self, installation_store, *, client_id: str, client_secret: str, client: AsyncWebClient,
                 minutes_before_expiration: int = MINUTES_BEFORE_EXPIRATION):
        self.store = installation_store
        self.rotator = AsyncTokenRotator(client_id=client_id, client_secret=client_secret, client=client)
        self.minutes = minutes_before_expiration
        self._locks: dict[tuple, asyncio.Lock] = {}
        self.rotations = 0

    async def bot_token(self, *, enterprise_id: str | None, team_id: str | None,
                        is_enterprise_install: bool = False) -> str | None:
        """The bot token to use now, or None when there is no installation."""
        key = (enterprise_id, None if is_enterprise_install else team_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            bot = await self.store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                                  is_enterprise_install=is_enterprise_install)
            if bot is None or not bot.bot_token:
                return None
            if not (bot.bot_refresh_token and bot.bot_token_expires_at):
                return bot.bot_token  # a token that does not rotate
            installation = await self.store.async_find_installation(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
            if installation is not None:
                refreshed = await self.rotator.perform_token_rotation(
                    installation=installation, minutes_before_expiration=self.minutes)
                if refreshed is None:
                    return installation.bot_token or bot.bot_token
                await self.store.async_save(refreshed)
                token = refreshed.bot_token
            else:  # only the bot row is kept
                refreshed_bot = await self.rotator.perform_bot_token_rotation(
                    bot=bot, minutes_before_expiration=self.minutes)
                if refreshed_bot is None:
                    return bot.bot_token
                await self.store.async_save_bot(refreshed_bot)
                token = refreshed_bot.bot_token
            self.rotations += 1
            log.info("Slack bot token rotated", extra={"platform": "slack"})
            return token
