"""The coach: one inbound message in, replies out, with the store around the pure engine.

This is the I/O edge of the core. For each message it takes the user's lock, loads the user and
their conversation, runs the detectors and ``engine.step``, applies the effects the step asked
for, records signals (and text only with consent), and saves the new state, all in one
transaction. Domains beyond the core (reminders) plug in through ``EffectHandler``s.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.engine import Effect, Interpreter, StepResult, UserView, step
from bot.store import repo
from bot.store.db import Database
from bot.store.models import User
from bot.types import Inbound, Reply, Signal

log = logging.getLogger("bansou.coach")

EffectHandler = Callable[[AsyncSession, User, Effect, datetime], Awaitable[list[Reply] | None]]
"""Applies one effect inside the message's transaction; may return extra replies."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class Outcome:
    """What handling one inbound produced."""

    replies: list[Reply]
    signals: list[Signal]
    state: str
    language: str
    user_id: int | None
    effects: list[Effect] = field(default_factory=list)


class Coach:
    """Runs the engine for inbound messages against the database."""

    def __init__(self, *, db: Database, content: Content, detector, default_language: str = "ja",
                 default_timezone: str = "Asia/Tokyo", clock: Callable[[], datetime] = utcnow,
                 interpreters: Sequence[Interpreter] = ()):
        self.db = db
        self.content = content
        self.detector = detector
        self.default_language = default_language
        self.default_timezone = default_timezone
        self.clock = clock
        self.interpreters = list(interpreters)
        self.effect_handlers: dict[str, list[EffectHandler]] = {}
        self.listeners: list[Callable[[Outcome], None]] = []
        # Facts about the user the engine may rely on (e.g. whether reminders are set), from the domains.
        self.fact_providers: list[Callable[[AsyncSession, User], Awaitable[dict[str, Any]]]] = []

    def on_effect(self, name: str, handler: EffectHandler) -> None:
        """Register a handler for an effect name (several may listen to one name)."""
        self.effect_handlers.setdefault(name, []).append(handler)

    def detect(self, text: str | None) -> tuple[str | None, list[Signal]]:
        if not text:
            return None, []
        from bot.detect import guess_language

        lang = guess_language(text)
        return lang, self.detector.detect(text, lang)

    async def handle(self, inbound: Inbound, *, session: AsyncSession | None = None,
                     user_defaults: dict[str, Any] | None = None) -> Outcome:
        """Handle one inbound and commit, under the user's lock.

        With ``session``, join the caller's transaction instead (the inbox does, so state and queued
        replies commit together); the caller must then already hold ``db.user_lock`` for this user."""
        if session is not None:
            return await self._handle(session, inbound, user_defaults or {})
        async with self.db.user_lock(str(inbound.user)) as conn:
            async with self.db.session(conn) as own:
                outcome = await self._handle(own, inbound, user_defaults or {})
                await own.commit()
                return outcome

    async def _handle(self, session: AsyncSession, inbound: Inbound, defaults: dict[str, Any]) -> Outcome:
        now = inbound.received_at if inbound.received_at.tzinfo else inbound.received_at.replace(tzinfo=timezone.utc)
        text_lang, signals = self.detect(inbound.text if inbound.kind == "text" else None)
        first_lang = defaults.get("language") or inbound.lang_hint or text_lang or self.default_language
        if first_lang not in ("ja", "en"):
            first_lang = self.default_language
        user, convo, convo_saved = await repo.load_user_and_convo(session, inbound.user)
        created = False
        if user is None:
            if inbound.kind == "unfollow":
                return Outcome([], [], "idle", self.default_language, None)
            user = await repo.create_user(session, inbound.user, language=first_lang,
                                          timezone=defaults.get("timezone") or self.default_timezone, now=now)
            created = True
        if created and defaults.get("platform_meta"):
            user.platform_meta = dict(defaults["platform_meta"])
        facts: dict[str, Any] = {}
        for provide in self.fact_providers:
            facts.update(await provide(session, user))
        flow = self.content.flows.get(convo.flow) if convo is not None else None
        if flow is not None and flow.compares_checkins and not created:
            facts["last_checkin"] = await repo.last_checkin_scores(session, user.id)
        view = UserView(language=user.language, consent_store_text=user.consent_store_text,
                        crisis_paused=user.crisis_paused_at is not None, is_new=created,
                        timezone=user.timezone or self.default_timezone, **facts)
        result = step(content=self.content, convo=convo, inbound=inbound, signals=signals, user=view, now=now,
                      interpreters=self.interpreters)
        replies = list(result.replies)
        deleted = False
        for effect in result.effects:
            extra = await self._apply(session, user, effect, now, result)
            if extra:
                replies.extend(extra)
            if effect.name == "delete_data":
                deleted = True
        if deleted:
            replies = [r for r in replies if r.style == "crisis"] + [
                Reply(text=self.content.text(self.content.ui["deleted"], result.language),
                      message_id=self.content.ui["deleted"])]
        else:
            await repo.record_signals(session, user, signals, now=now)
            if inbound.kind == "text" and inbound.text:
                await repo.store_message(session, user, text=inbound.text, direction="in", now=now,
                                         platform_message_id=inbound.platform_message_id)
            await repo.save_convo(session, user.id, result.saved, now=now, exists=convo_saved)
            changes: dict[str, Any] = {}
            if inbound.kind in ("text", "choice", "command"):
                changes["last_message_at"] = now
            if inbound.kind == "follow":
                changes["active"] = True
            await repo.update_user(session, user, changes)
        await session.flush()  # whatever effect handlers changed through the ORM
        outcome = Outcome(replies=replies, signals=signals, state=result.state_label, language=result.language,
                          user_id=None if deleted else user.id, effects=list(result.effects))
        for listener in self.listeners:
            listener(outcome)
        log.info("handled", extra={"platform": inbound.user.platform, "kind": inbound.kind,
                                   "state": outcome.state, "signals": [s.kind for s in signals],
                                   "replies": len(replies)})
        return outcome

    async def _apply(self, session: AsyncSession, user: User, effect: Effect, now: datetime,
                     result: StepResult) -> list[Reply]:
        extra: list[Reply] = []
        name, args = effect.name, effect.args
        if name == "set_language":
            user.language = args["language"]
        elif name == "set_consent":
            user.consent_store_text = bool(args["store_text"])
            user.consent_at = now
        elif name == "save_checkin":
            await repo.save_checkin(session, user, now=now, energy=args.get("energy"),
                                    boundaries=args.get("boundaries"), client_respect=args.get("client_respect"),
                                    reflection=args.get("reflection"))
        elif name == "crisis_pause":
            user.crisis_paused_at = now
        elif name in ("resume", "crisis_end"):  # crisis_end: out of crisis care, reminders left as chosen
            user.crisis_paused_at = None
        elif name == "crisis_event":
            pass  # counted by /metrics from the outcome (bot/metrics.py)
        elif name == "deactivate":
            user.active = False
        elif name == "export_data":
            data = await repo.export_user(session, user)
            extra.append(Reply(text=json.dumps(data, ensure_ascii=False, indent=1, default=str),
                               message_id="privacy.export_data", style="notice"))
        elif name == "delete_data":
            pass  # after the domain handlers below have seen it
        elif name not in self.effect_handlers:
            log.warning("effect without a handler", extra={"effect": name})
        for handler in self.effect_handlers.get(name, []):
            got = await handler(session, user, effect, now)
            if got:
                extra.extend(got)
        if name == "delete_data":
            await repo.delete_user(session, user)
        return extra

