"""The Slack inbox processor: a stored Slack event → the coach → replies delivered to Slack.

``enrich`` runs first, with no lock held and no transaction open: it asks Slack (users.info) for what
a new person's first turn needs (time zone, locale) and for an admin check. ``prepare`` runs inside
the inbox's transaction and user lock and never calls Slack: it turns the stored payload into an
``Inbound`` (or an App Home request, or a team-pulse setting), runs the coach, and returns the
replies (or the person's ``HomeView``) with where they go. ``deliver`` encodes and sends them through
the shared ``SlackSender``, after commit: replies as messages, a home view with ``views.publish``.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from bot.crisis import is_private
from bot.delivery import Delivery, DeliveryError, replies_of
from bot.home import load_home
from bot.inbox import EnrichmentNeeded, Parcel, StoredEvent
from bot.store import repo
from bot.store.slack_models import SlackTeam
from bot.types import HomeView, Inbound, Reply, UserKey
from handlers.slack.home import encode_home
from handlers.slack.identity import slack_user_id, slack_user_key
from handlers.slack.sender import SlackSender

log = logging.getLogger("bansou.slack")


def language_from_locale(locale: str | None, default: str) -> str:
    """Slack locale (``ja-JP``, ``en-US``) → our language: ja for Japanese, else en."""
    if not locale:
        return default
    return "ja" if locale.lower().startswith("ja") else "en"


def valid_timezone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


class ProfileCache:
    """users.info answers (tz, locale, admin flags), kept for ``ttl`` seconds so first contact,
    home and admin checks don't call Slack for every event."""

    FIELDS = ("tz", "locale", "is_admin", "is_owner", "is_primary_owner", "is_bot", "deleted")

    def __init__(self, sender: SlackSender, *, ttl: float = 3600.0, max_entries: int = 10_000,
                 clock=time.monotonic):
        self.sender = sender
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[tuple[str | None, str], tuple[float, dict[str, Any]]] = {}
        self.calls = 0

    async def get(self, *, team_id: str | None, enterprise_id: str | None, user_id: str,
                  fresh: bool = False, is_enterprise_install: bool = False) -> dict[str, Any]:
        key = (team_id, user_id)
        hit = self._entries.get(key)
        if hit and not fresh and hit[0] > self.clock():
            return hit[1]
        token = await self.sender.token_for(team_id=team_id, enterprise_id=enterprise_id,
                                            is_enterprise_install=is_enterprise_install)
        self.calls += 1
        user = await self.sender.users_info(token=token, user_id=user_id)
        profile = {k: user.get(k) for k in self.FIELDS}
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self.clock() + self.ttl, profile)
        return profile

    def peek(self, *, team_id: str | None, user_id: str) -> dict[str, Any] | None:
        """The cached answer for this user, if still fresh; never calls Slack."""
        hit = self._entries.get((team_id, user_id))
        return hit[1] if hit and hit[0] > self.clock() else None


def route_of(p: dict[str, Any]) -> dict[str, Any]:
    """Where replies to this stored event go (channel None = the user's DM), and where a short pointer
    to the DM goes (a mention in a channel: the answer itself is private)."""
    route = {"team_id": p.get("team_id"), "enterprise_id": p.get("enterprise_id"),
             "is_enterprise_install": bool(p.get("is_enterprise_install")),
             "channel": p.get("reply_channel"), "thread_ts": p.get("reply_thread_ts")}
    if p.get("pointer_channel"):
        route.update(pointer_channel=p["pointer_channel"], pointer_thread_ts=p.get("pointer_thread_ts"))
    return route


def stored_user_key(p: dict[str, Any]) -> UserKey:
    """The tenant-scoped key of a stored event's user (the intake refused events with no team)."""
    key = slack_user_key(team_id=p.get("team_id"), enterprise_id=p.get("enterprise_id"), user_id=p["user"])
    if key is None:
        raise ValueError("stored Slack event names no team")
    return key


def pointer_key(idempotency_key: str) -> str:
    """The ledger key of the pointer to the DM: its own, so it never collides with the replies' parts."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, "bansou:slack-pointer:" + idempotency_key))


class SlackProcessor:
    """``bot.inbox.InboxProcessor`` for platform "slack"."""

    PROFILE_KINDS = frozenset({"home", "checkin_modal", "message", "app_mention", "choice", "command",
                               "command_text"})
    KNOWN_MAX = 10_000

    def __init__(self, runtime, sender: SlackSender, profiles: ProfileCache):
        self.runtime = runtime
        self.sender = sender
        self.profiles = profiles
        self._known: set[tuple[str | None, str]] = set()  # (team, user) already a user here: no lookup

    # -- enrich (no lock, no transaction) -------------------------------------------------------------
    def wants_enrichment(self, event: StoredEvent) -> bool:
        p = event.payload or {}
        kind = p.get("type")
        if kind == "team_pulse":
            return True  # the admin check is always fresh
        if kind not in self.PROFILE_KINDS or not p.get("user") or not isinstance(p.get("user"), str):
            return False  # a malformed event is prepare's to refuse, not a profile to look up
        who = (p.get("team_id"), p["user"])
        return who not in self._known and self.profiles.peek(team_id=who[0], user_id=who[1]) is None

    async def enrich(self, event: StoredEvent) -> dict[str, Any]:
        """users.info for a person we have not met (first contact) or for an admin check."""
        p = event.payload or {}
        if p.get("type") == "team_pulse":
            return {"profile": await self._profile(p, fresh=True)}
        async with self.runtime.db.session() as session:  # a short read, closed before the network call
            known = await repo.get_user(session, stored_user_key(p)) is not None
        if known:
            if len(self._known) >= self.KNOWN_MAX:
                self._known.clear()
            self._known.add((p.get("team_id"), p["user"]))
            return {}
        return {"profile": await self._profile(p)}

    def _looked_up(self, event: StoredEvent, p: dict[str, Any]) -> dict[str, Any] | None:
        """For a person with no user row: the profile ``enrich`` fetched, else a fresh cached one.
        Never the network: when there is neither (we took them for known, and they were deleted
        meanwhile) the inbox is asked to enrich the event and prepare it again."""
        if event.enrichment is not None:
            return event.enrichment.get("profile")
        cached = self.profiles.peek(team_id=p.get("team_id"), user_id=p.get("user") or "")
        if cached is None:
            self._known.discard((p.get("team_id"), p.get("user")))
            raise EnrichmentNeeded()
        return cached

    # -- prepare ----------------------------------------------------------------------------------------
    async def prepare(self, session: AsyncSession, event: StoredEvent) -> Parcel | None:
        p = dict(event.payload or {})
        kind = p.get("type")
        key = stored_user_key(p)
        now = event.received_at
        user = await repo.get_user(session, key)
        if kind == "home":
            lang = user.language if user is not None else self._first_language(self._looked_up(event, p))
            home = await load_home(session, user=user, lang=lang, now=now, content=self.runtime.content,
                                   default_timezone=self.runtime.settings.default_timezone)
            return Parcel([home], context={**route_of(p), "user": p["user"]})
        if kind == "team_pulse":
            return await self._team_pulse(session, p, user, now, (event.enrichment or {}).get("profile"))
        if kind == "checkin_modal":
            from handlers.slack.modal import save_submission  # handlers/slack/modal.py

            defaults = self._first_contact(p, self._looked_up(event, p)) if user is None else None
            replies, lang = await save_submission(self.runtime, session, key, p.get("answers") or {},
                                                  now=now, event_id=event.event_id, defaults=defaults)
            await self._remember_routing(session, key, p)
            return Parcel(replies, context={**route_of(p), "lang": lang, "user": p["user"], "refresh_home": True})
        inbound = self._inbound(p, key, now, event.event_id)
        if inbound is None:
            return None
        defaults = self._first_contact(p, self._looked_up(event, p)) if user is None else None
        outcome = await self.runtime.coach.handle(inbound, session=session, user_defaults=defaults)
        if outcome.user_id is not None:
            await self._remember_routing(session, key, p)
        ctx = {**route_of(p), "lang": outcome.language, "user": p["user"]}
        if is_private(outcome.state, outcome.replies):  # crisis care: the person's DM only, never a channel
            ctx["channel"], ctx["thread_ts"] = p.get("dm_channel"), None
        if any(e.name == "save_checkin" for e in outcome.effects):
            ctx["refresh_home"] = True
        return Parcel(list(outcome.replies), context=ctx)

    def _inbound(self, p: dict[str, Any], key: UserKey, now: datetime, event_id: str) -> Inbound | None:
        kind = p.get("type")
        if kind in ("message", "app_mention"):
            text = p.get("text") or ""
            if text.strip():
                return Inbound(user=key, kind="text", text=text, received_at=now, event_id=event_id)
            if kind == "app_mention":
                return Inbound(user=key, kind="command", command="menu", received_at=now, event_id=event_id)
            return Inbound(user=key, kind="unsupported", received_at=now, event_id=event_id)
        if kind == "choice":
            return Inbound(user=key, kind="choice", choice=p.get("choice"), received_at=now, event_id=event_id)
        if kind == "command":
            return Inbound(user=key, kind="command", command=p.get("command"), received_at=now, event_id=event_id)
        if kind == "command_text":
            return Inbound(user=key, kind="text", text=p.get("text") or "", received_at=now, event_id=event_id)
        log.warning("unknown stored Slack event", extra={"platform": "slack", "kind": str(kind)})
        return None

    async def _profile(self, p: dict[str, Any], *, fresh: bool = False) -> dict[str, Any] | None:
        try:
            return await self.profiles.get(team_id=p.get("team_id"), enterprise_id=p.get("enterprise_id"),
                                           user_id=p["user"], fresh=fresh,
                                           is_enterprise_install=bool(p.get("is_enterprise_install")))
        except DeliveryError as exc:
            log.warning("users.info failed", extra={"platform": "slack", "error": str(exc)[:120]})
            return None

    def _first_language(self, profile: dict[str, Any] | None) -> str:
        return language_from_locale((profile or {}).get("locale"), self.runtime.settings.default_language)

    def _first_contact(self, p: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, Any]:
        """user_defaults for a new user: timezone and language from users.info, the team in platform_meta."""
        profile = profile or {}
        defaults: dict[str, Any] = {"platform_meta": self._meta(p)}
        tz = valid_timezone(profile.get("tz"))
        if tz:
            defaults["timezone"] = tz
        if profile.get("locale"):
            defaults["language"] = language_from_locale(profile["locale"], self.runtime.settings.default_language)
        return defaults

    @staticmethod
    def _meta(p: dict[str, Any]) -> dict[str, Any]:
        meta = {"team_id": p.get("team_id")}
        if p.get("enterprise_id"):
            meta["enterprise_id"] = p["enterprise_id"]
        if p.get("is_enterprise_install"):
            meta["is_enterprise_install"] = True
        if p.get("dm_channel"):
            meta["dm_channel"] = p["dm_channel"]
        return meta

    async def _remember_routing(self, session: AsyncSession, key: UserKey, p: dict[str, Any]) -> None:
        """Keep team and DM channel current (a user met before this adapter stored them)."""
        user = await repo.get_user(session, key)
        if user is None:
            return
        merged = {**(user.platform_meta or {}), **{k: v for k, v in self._meta(p).items() if v}}
        if merged != (user.platform_meta or {}):
            user.platform_meta = merged

    async def _team_pulse(self, session: AsyncSession, p: dict[str, Any], user, now: datetime,
                          profile: dict[str, Any] | None) -> Parcel:
        lang = user.language if user is not None else language_from_locale(
            (profile or {}).get("locale"), self.runtime.settings.default_language)

        def say(mid: str, values: dict[str, Any] | None = None) -> Reply:
            return Reply(text=self.runtime.content.text(mid, lang, values), message_id=mid)

        ctx = {**route_of(p), "lang": lang, "user": p["user"]}
        if profile is None:  # users.info failed: we cannot tell whether they are an admin
            return Parcel([say("slack.pulse_check_failed")], context=ctx)
        if not (profile.get("is_admin") or profile.get("is_owner") or profile.get("is_primary_owner")):
            return Parcel([say("slack.pulse_admin_only")], context=ctx)
        team_id = p.get("team_id")
        if not p.get("pulse_off") and not p.get("pulse_channel"):
            return Parcel([say("slack.pulse_usage")], context=ctx)
        team = await session.get(SlackTeam, team_id)
        if team is None:
            team = SlackTeam(team_id=team_id, enterprise_id=p.get("enterprise_id"), updated_at=now,
                             pulse_language=lang, pulse_timezone=self.runtime.settings.default_timezone)
            session.add(team)
        if p.get("pulse_off"):
            team.pulse_channel_id = None
            team.updated_at = now
            return Parcel([say("slack.pulse_off")], context=ctx)
        team.pulse_channel_id = p["pulse_channel"]
        team.pulse_language = lang
        team.pulse_timezone = valid_timezone(profile.get("tz")) or (
            user.timezone if user is not None else self.runtime.settings.default_timezone)
        team.pulse_set_at = now
        team.updated_at = now
        return Parcel([say("slack.pulse_on", {"channel": f"<#{p['pulse_channel']}>",
                                               "min": self.runtime.settings.slack_pulse_min_members})],
                      context=ctx)

    # -- deliver ----------------------------------------------------------------------------------------
    async def deliver(self, delivery: Delivery, parcel: Parcel) -> None:
        ctx = parcel.context
        if ctx.get("op") == "home" and ctx.get("view"):  # a row stored before HomeView: its view as it was
            token = await self.sender.token_for(team_id=ctx.get("team_id"), enterprise_id=ctx.get("enterprise_id"),
                                                is_enterprise_install=bool(ctx.get("is_enterprise_install")))
            await self.sender.publish_home(token=token, user_id=ctx["user"], view=ctx["view"])
            return
        replies = replies_of(parcel.replies)
        if replies:
            if ctx.get("pointer_channel"):
                await self._point_to_dm(delivery, ctx)
            await self.sender.send(delivery, replies)
        for home in (item for item in parcel.replies if isinstance(item, HomeView)):
            await self._publish_home(delivery, ctx, home)
        if ctx.get("refresh_home"):
            await self._refresh_home(delivery, ctx)

    async def _point_to_dm(self, delivery: Delivery, ctx: dict[str, Any]) -> None:
        """One short line in the channel's thread saying the answer is in the DM (posted once per event)."""
        from handlers.slack.blocks import SlackMessage, escape, section

        token = await self.sender.token_for(team_id=ctx.get("team_id"), enterprise_id=ctx.get("enterprise_id"),
                                            is_enterprise_install=bool(ctx.get("is_enterprise_install")))
        text = self.runtime.content.text("slack.dm_pointer", ctx.get("lang") or self.runtime.settings.default_language)
        await self.sender.post_messages([SlackMessage(text=text, blocks=[section(escape(text))])], token=token,
                                        channel=ctx["pointer_channel"], thread_ts=ctx.get("pointer_thread_ts"),
                                        key=pointer_key(delivery.idempotency_key))

    async def _publish_home(self, delivery: Delivery, ctx: dict[str, Any], home: HomeView) -> None:
        """The home view, encoded as Block Kit, published to the person's App Home tab."""
        token = await self.sender.token_for(team_id=ctx.get("team_id"), enterprise_id=ctx.get("enterprise_id"),
                                            is_enterprise_install=bool(ctx.get("is_enterprise_install")))
        await self.sender.publish_home(token=token, user_id=ctx.get("user") or slack_user_id(delivery.user),
                                       view=encode_home(home, content=self.runtime.content))

    async def _refresh_home(self, delivery: Delivery, ctx: dict[str, Any]) -> None:
        """After a check-in, bring App Home up to date; a failure here never fails the delivery."""
        try:
            async with self.runtime.db.session() as session:
                user = await repo.get_user(session, delivery.user)
                if user is None:
                    return
                home = await load_home(session, user=user, lang=user.language, now=self.runtime.clock(),
                                       content=self.runtime.content,
                                       default_timezone=self.runtime.settings.default_timezone)
            await self._publish_home(delivery, ctx, home)
        except Exception as exc:  # noqa: BLE001
            log.warning("App Home refresh failed", extra={"platform": "slack", "error": type(exc).__name__})
