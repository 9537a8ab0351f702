"""The LINE part of inbox processing: a stored event → the coach → a parcel → LINE."""
from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Delivery
from bot.inbox import Parcel
from bot.runtime import Runtime
from bot.store import repo
from bot.store.models import InboxEvent, NotifiedGroup
from bot.types import Reply, UserKey
from handlers.line.api import LineApi
from handlers.line.events import PLATFORM, is_group, push_target, reply_token, route_key, to_inbound
from handlers.line.messages import to_line_messages

log = logging.getLogger("bansou.line")


def route_context(event: dict) -> dict:
    """How the answer travels, decided once and kept with the parcel: ``send`` is "reply" (with the
    event's ``reply_token``, free of quota) or "push" (to ``to``, with the retry key)."""
    token = reply_token(event)
    return {"send": "reply" if token else "push", "reply_token": token, "to": push_target(event)}


class LineProcessor:
    """``bot.inbox.InboxProcessor`` for LINE."""

    def __init__(self, runtime: Runtime, api: LineApi, *, ack_first=None):
        self.runtime = runtime
        self.line = api
        self.ack_first = ack_first  # handlers.line.webhook.AckFirst: let acknowledgements go first

    async def prepare(self, session: AsyncSession, event: InboxEvent) -> Parcel | None:
        if self.ack_first is not None:
            await self.ack_first.wait_for_acks()
        payload = event.payload or {}
        if route_key(payload) is None:
            return None
        if is_group(payload):
            return await self._group_notice(session, payload, event)
        lang_hint = None
        if payload.get("type") == "follow":
            user_id = payload["source"]["userId"]
            if await repo.get_user(session, UserKey(PLATFORM, user_id)) is None:
                lang_hint = await self.line.profile_language(user_id)
        inbound = to_inbound(payload, received_at=event.received_at, event_id=event.event_id, lang_hint=lang_hint)
        if inbound is None:
            return None
        outcome = await self.runtime.coach.handle(
            inbound, session=session, user_defaults={"timezone": self.runtime.settings.default_timezone})
        return Parcel(replies=outcome.replies, context=route_context(payload))

    async def _group_notice(self, session: AsyncSession, payload: dict, event: InboxEvent) -> Parcel | None:
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
        messages = to_line_messages(parcel.replies)
        if not messages:
            return
        ctx = parcel.context
        token = ctx.get("reply_token") if ctx.get("send") == "reply" else None
        await self.line.send(to=ctx.get("to") or delivery.user.user_id, messages=messages,
                             retry_key=delivery.idempotency_key, reply_token=token)
