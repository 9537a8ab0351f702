"""The LINE part of inbox processing: a stored event → the coach → a parcel → LINE.

The network is never called while the inbox holds the user's lock or a transaction: what an event
needs from LINE before it can be understood (a new follower's profile language) is looked up in
``enrich``, which the inbox calls before taking the lock, and reaches ``prepare`` as
``event.enrichment``. Replies go out in ``deliver``, after the transaction committed. (The loading
animation is started from ``prepare`` as a detached task that nothing waits for.)"""
from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Delivery
from bot.inbox import Parcel, StoredEvent
from bot.runtime import Runtime
from bot.store import repo
from bot.store.models import NotifiedGroup
from bot.types import CheckinCard, Outgoing, Reply, TrendCard, UserKey
from handlers.line import flex
from handlers.line.api import LineApi
from handlers.line.events import (
    PLATFORM, is_group, is_unblock, postback_data, push_target, reply_token, route_key, to_inbound, unsent_message_id,
)
from handlers.line.messages import to_line_messages

log = logging.getLogger("bansou.line")
CHECKIN_SAVED = "checkin.saved"             # the words that close a check-in (content/flows/checkin.yaml)
WELCOME_BACK = "line.welcome_back"


def route_context(event: dict) -> dict:
    """How the answer travels, decided once and kept with the parcel: ``send`` is "reply" (with the
    event's ``reply_token``, free of quota) or "push" (to ``to``, with the retry key)."""
    token = reply_token(event)
    return {"send": "reply" if token else "push", "reply_token": token, "to": push_target(event)}


TREND_VIEW = "view:trend"  # the rich menu's "my trend": answered here, as a Flex message


class LineProcessor:
    """``bot.inbox.InboxProcessor`` for LINE."""

    def __init__(self, runtime: Runtime, api: LineApi, *, ack_first=None):
        self.runtime = runtime
        self.line = api
        self.ack_first = ack_first  # handlers.line.webhook.AckFirst: let acknowledgements go first

    def wants_enrichment(self, event: StoredEvent) -> bool:
        """A follow that is not an unblock may be someone new: their profile says their language."""
        payload = event.payload or {}
        return (payload.get("type") == "follow" and route_key(payload) is not None and not is_group(payload)
                and not is_unblock(payload))

    async def enrich(self, event: StoredEvent) -> dict:
        """The profile language of a (possibly) new follower; called with no lock or transaction held."""
        return {"lang_hint": await self.line.profile_language(event.payload["source"]["userId"])}

    async def prepare(self, session: AsyncSession, event: StoredEvent) -> Parcel | None:
        if self.ack_first is not None:
            await self.ack_first.wait_for_acks()
        payload = event.payload or {}
        if route_key(payload) is None:
            return None
        if is_group(payload):
            return await self._group_notice(session, payload, event)
        etype = payload.get("type")
        user_id = payload["source"]["userId"]
        if etype in ("message", "postback"):
            self.line.show_loading(user_id)  # one-to-one only (groups were answered above)
        if etype == "unsend":
            await self._unsend(session, payload)
            return None
        key = UserKey(PLATFORM, user_id)
        lang_hint = None
        if etype == "follow":
            user = await repo.get_user(session, key)
            if user is not None and is_unblock(payload):
                return await self._welcome_back(session, user, payload)
            if user is None:
                lang_hint = (event.enrichment or {}).get("lang_hint")  # looked up by ``enrich``, before the lock
        if postback_data(payload) == TREND_VIEW:
            user = await repo.get_user(session, key)
            if user is not None:
                return await self._trend(session, user, payload, event)
        inbound = to_inbound(payload, received_at=event.received_at, event_id=event.event_id, lang_hint=lang_hint)
        if inbound is None:
            return None
        outcome = await self.runtime.coach.handle(
            inbound, session=session, user_defaults={"timezone": self.runtime.settings.default_timezone})
        replies = list(outcome.replies)
        context = route_context(payload)
        saved = next((e for e in outcome.effects if e.name == "save_checkin"), None)
        if saved is not None and outcome.user_id is not None:
            self._add_checkin_summary(replies, saved.args, outcome.language)
        if outcome.user_id is not None and (etype == "follow" or any(e.name == "set_language" for e in outcome.effects)):
            context["richmenu"] = outcome.language  # linked at delivery, outside the transaction
        return Parcel(replies=replies, context=context)

    def _text(self, lang: str):
        content = self.runtime.content
        return lambda mid, values=None: content.text(mid, lang, values)

    @staticmethod
    def _add_checkin_summary(replies: list[Outgoing], scores: dict, lang: str) -> None:
        """Put a card of the saved check-in (a Flex message, at delivery) right after the "saved" words."""
        after = next((i for i, r in enumerate(replies) if isinstance(r, Reply) and r.message_id == CHECKIN_SAVED),
                     len(replies) - 1)
        replies.insert(after + 1, CheckinCard(language=lang, scores=tuple((m, scores.get(m)) for m in flex.METRICS)))

    async def _trend(self, session: AsyncSession, user, payload: dict, event: StoredEvent) -> Parcel:
        """The rich menu's "my trend": eight weeks of check-in averages (a Flex bar chart, at delivery)."""
        from bot.insights import TREND_WEEKS, weekly_trend, window_start, zone

        now = event.received_at
        tz = zone(user.timezone, self.runtime.settings.default_timezone)
        since = window_start(now, tz=tz, weeks=TREND_WEEKS)
        weeks = weekly_trend(await repo.checkins_since(session, user.id, since), now=now, tz=tz)
        await repo.update_user(session, user, {"last_message_at": now})
        return Parcel(replies=[TrendCard(language=user.language, trend=tuple(weeks))], context=route_context(payload))

    async def _welcome_back(self, session: AsyncSession, user, payload: dict) -> Parcel:
        """An unblock: the person is already known, so no second onboarding; just a warm hello."""
        await repo.update_user(session, user, {"active": True})
        context = {**route_context(payload), "richmenu": user.language}
        text = self.runtime.content.text(WELCOME_BACK, user.language)
        log.info("LINE user unblocked", extra={"kind": "follow"})
        return Parcel(replies=[Reply(text=text, message_id=WELCOME_BACK)], context=context)

    async def _unsend(self, session: AsyncSession, payload: dict) -> None:
        """The user took a message back on LINE: delete our kept copy of it, if we kept one."""
        message_id = unsent_message_id(payload)
        user = await repo.get_user(session, UserKey(PLATFORM, payload["source"]["userId"]))
        if message_id is None or user is None:
            return
        gone = await repo.delete_stored_message(session, user.id, message_id)
        log.info("LINE unsend", extra={"deleted": gone})

    async def _group_notice(self, session: AsyncSession, payload: dict, event: StoredEvent) -> Parcel | None:
        """Tell a group or room once that bansou works one-to-one; never run the engine there."""
        group_id = push_target(payload)
        if self.runtime.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(NotifiedGroup).values(platform=PLATFORM, group_id=group_id, at=event.received_at)
        result = await session.execute(stmt.on_conflict_do_nothing(index_elements=["platform", "group_id"]))
        if not result.rowcount:
            return None
        content = self.runtime.content
        message_id = content.ui["group_only_one_to_one"]
        text = content.text(message_id, self.runtime.settings.default_language)
        log.info("LINE group told bansou is one-to-one", extra={"kind": payload.get("type")})
        return Parcel(replies=[Reply(text=text, message_id=message_id, style="notice")],
                      context=route_context(payload))

    async def deliver(self, delivery: Delivery, parcel: Parcel) -> None:
        ctx = parcel.context
        rich = dict(ctx.get("flex") or {})  # finished cards kept in parcels stored before the typed ones
        for index, item in enumerate(parcel.replies):
            if isinstance(item, (CheckinCard, TrendCard)):
                rich[str(index)] = flex.card_message(item, text=self._text(item.language))
        messages = to_line_messages(parcel.replies, rich)
        to = ctx.get("to") or delivery.user.user_id
        if messages:
            token = ctx.get("reply_token") if ctx.get("send") == "reply" else None
            await self.line.send(to=to, messages=messages, retry_key=delivery.idempotency_key, reply_token=token)
        if ctx.get("richmenu"):
            await self.line.menus.link(to, ctx["richmenu"])
