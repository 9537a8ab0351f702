"""Retention: what the service keeps, and for how long (APPI / GDPR storage limitation).

* Message text is stored only when the user consented (``users.consent_store_text``), and then only
  for ``MESSAGE_RETENTION_DAYS`` (default 30): after that the ``stored_messages`` rows go, and the
  words kept on ``signals.evidence`` and ``checkins.reflection`` are cleared (the scores and kinds
  stay: they are what the weekly picture is made of, and they hold none of the user's words).
* A conversation's working memory (``conversations.vars``: answers and evidence a flow is using)
  is cleared once the conversation has lapsed; a lapsed conversation is never resumed anyway.
* Finished inbox events (their payload already reduced to the event type) are deleted after
  ``INBOX_KEEP_DAYS``; they exist only so a platform's redelivery is recognised. ``dead`` events
  (out of retry time, replies kept for ``bansou inbox retry``) go with the text cutoff, since
  their replies may quote the user.

``purge_expired(runtime)`` runs every ``PURGE_INTERVAL_SECONDS`` from ``runtime.periodic`` (the
worker's scheduler). Domains with their own text register ``register_purger(runtime, fn)``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import CheckIn, Conversation, InboxEvent, SignalRecord, StoredMessage

log = logging.getLogger("bansou.retention")
INBOX_KEEP_DAYS = 3
PURGE_INTERVAL_SECONDS = 3600.0

Purger = Callable[[AsyncSession, "Cutoffs"], Awaitable[int]]
"""A domain's own purge: delete or clear what is older than the cutoffs; returns rows touched."""


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """The moments before which things go."""

    now: datetime
    text: datetime  # message text and other words the user wrote
    inbox: datetime  # finished inbox events


def cutoffs(now: datetime, *, retention_days: int, inbox_keep_days: int = INBOX_KEEP_DAYS) -> Cutoffs:
    """Pure: the cutoffs for ``now``. A retention of 0 days means text is never kept past now."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if retention_days < 0:
        raise ValueError("MESSAGE_RETENTION_DAYS must be 0 or more")
    return Cutoffs(now=now, text=now - timedelta(days=retention_days), inbox=now - timedelta(days=inbox_keep_days))


async def purge(session: AsyncSession, cut: Cutoffs, *, extra: list[Purger] = ()) -> dict[str, int]:
    """Apply the cutoffs in ``session`` (the caller commits); returns rows touched per kind."""
    done: dict[str, int] = {}

    async def run(name: str, stmt) -> None:  # noqa: ANN001
        result = await session.execute(stmt)
        done[name] = result.rowcount or 0

    await run("stored_messages", delete(StoredMessage).where(StoredMessage.at < cut.text))
    await run("signal_evidence", update(SignalRecord).where(SignalRecord.at < cut.text,
                                                            SignalRecord.evidence.is_not(None))
              .values(evidence=None))
    await run("checkin_reflections", update(CheckIn).where(CheckIn.at < cut.text, CheckIn.reflection.is_not(None))
              .values(reflection=None))
    lapsed = (await session.execute(
        select(Conversation.user_id, Conversation.vars).where(Conversation.expires_at < cut.now))).all()
    ids = [row.user_id for row in lapsed if row.vars]
    if ids:
        await session.execute(update(Conversation).where(Conversation.user_id.in_(ids)).values(vars={}))
    done["lapsed_conversations"] = len(ids)
    await run("inbox_events", delete(InboxEvent).where(InboxEvent.status.in_(("done", "failed", "ignored")),
                                                       InboxEvent.finished_at < cut.inbox))
    await run("dead_inbox_events", delete(InboxEvent).where(InboxEvent.status == "dead",
                                                            InboxEvent.finished_at < cut.text))
    for purger in extra:
        done[getattr(purger, "__name__", "domain")] = await purger(session, cut)
    return done


def register_purger(runtime: Any, purger: Purger) -> None:
    """Let a domain clear its own stored text on the same schedule."""
    runtime.retention_purgers.append(purger)


async def purge_expired(runtime: Any) -> dict[str, int]:
    """One retention pass for ``runtime`` at its clock's now; commits and logs counts (never content)."""
    cut = cutoffs(runtime.clock(), retention_days=runtime.settings.message_retention_days)
    async with runtime.db.session() as session:
        done = await purge(session, cut, extra=list(runtime.retention_purgers))
        await session.commit()
    log.info("retention pass", extra={"count": sum(done.values()), "outcome": done})
    return done


def install(runtime: Any) -> None:
    """Register the hourly retention pass with the scheduler's periodic jobs (once)."""
    if not any(name == "retention" for name, _, _ in runtime.periodic):
        runtime.periodic.append(("retention", PURGE_INTERVAL_SECONDS, purge_expired))
