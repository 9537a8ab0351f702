"""Prometheus metrics for one process (no web framework here; ``handlers/metrics.py`` serves them).

Each runtime owns a ``Metrics`` with its own registry, so several runtimes in one process (tests)
never collide. Every process exposes its own ``/metrics``; Prometheus adds them up across processes.

Instrumentation points:

* the durable inbox: ``count_enqueued`` (webhook accepted or duplicate, wired through
  ``bot.inbox.enqueue_listeners``) and ``InboxWorker.on_finished`` (done, failed, ignored, with the
  latency from receipt to the final state);
* delivery: ``wrap_processor`` counts the replies each successful delivery carried;
* the coach: ``coach.listeners`` receives each ``Outcome`` (signals by kind, turns, crisis-care events);
* reminders: ``count_reminders(runtime, outcome, n)`` with outcome due|sent|failed|skipped.

Labels are low-cardinality by construction: platform, outcome, kind, status; never a user id.
"""
from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
REMINDER_OUTCOMES = ("due", "sent", "failed", "skipped")
EVENT_OUTCOMES = ("accepted", "duplicate", "done", "failed", "ignored", "dead")
CRISIS_EVENTS = ("entered_clear", "entered_ask", "acknowledged", "renewed", "resources_shown", "text_services_shown",
                 "asked_yes", "asked_no", "left")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class Metrics:
    """The metrics one process exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhook_events = Counter(
            "bansou_webhook_events", "Platform events by platform and outcome "
            "(accepted/duplicate when stored; done/failed/ignored when finished)",
            ["platform", "outcome"], registry=r)
        self.replies_sent = Counter(
            "bansou_replies_sent", "Reply messages delivered to a platform", ["platform", "source"], registry=r)
        self.reminders = Counter(
            "bansou_reminders", "Reminders by outcome (due, sent, failed, skipped)", ["outcome"], registry=r)
        self.signals = Counter(
            "bansou_detector_signals", "Detector signals found in user messages, by kind", ["kind"], registry=r)
        self.turns = Counter("bansou_coach_turns", "Inbound messages handled by the coach", registry=r)
        self.crisis_care = Counter(
            "bansou_crisis_care", "Crisis care by event (entered_clear, entered_ask, acknowledged, renewed, "
            "resources_shown, text_services_shown, asked_yes, asked_no, left); counts only", ["event"], registry=r)
        self.event_latency = Histogram(
            "bansou_event_latency_seconds", "Seconds from storing a platform event to its final state",
            ["platform"], buckets=LATENCY_BUCKETS, registry=r)
        self.prepare_latency = Histogram(
            "bansou_prepare_seconds", "Seconds spent running one event through the coach (engine, store)",
            ["platform"], buckets=LATENCY_BUCKETS, registry=r)
        self.inbox = Gauge("bansou_inbox_events", "Inbox rows by status at scrape time (dead: retried until the "
                           "horizon without success; replay with bansou inbox retry)", ["status"], registry=r)
        self.reminders_recent = Gauge(
            "bansou_reminders_last_day", "Reminder outbox rows due in the last 24 hours, by status, from the "
            "database (the same in every process, including what the worker sent)", ["status"], registry=r)
        self.outbox = Gauge("bansou_outbox_deliveries", "Delivery outbox rows by status at scrape time (dead: "
                            "retried until the horizon without success; replay with bansou inbox retry)",
                            ["status"], registry=r)
        self.database_up = Gauge("bansou_database_up", "1 when the database answered at scrape time", registry=r)

    def count_enqueued(self, platform: str, *, new: bool) -> None:
        self.webhook_events.labels(platform, "accepted" if new else "duplicate").inc()

    def count_finished(self, platform: str, status: str, *, latency_seconds: float | None = None) -> None:
        self.webhook_events.labels(platform, status).inc()
        if latency_seconds is not None and latency_seconds >= 0:
            self.event_latency.labels(platform).observe(latency_seconds)

    def count_replies(self, platform: str, n: int, *, source: str = "inbox") -> None:
        if n > 0:
            self.replies_sent.labels(platform, source).inc(n)

    def count_reminders(self, outcome: str, n: int = 1) -> None:
        if outcome not in REMINDER_OUTCOMES:
            raise ValueError(f"reminder outcome must be one of {REMINDER_OUTCOMES}, not {outcome!r}")
        if n > 0:
            self.reminders.labels(outcome).inc(n)

    def on_outcome(self, outcome: Any) -> None:
        """A ``coach.listeners`` callback."""
        self.turns.inc()
        for signal in outcome.signals:
            self.signals.labels(signal.kind).inc()
        for effect in getattr(outcome, "effects", ()):
            if effect.name == "crisis_event" and effect.args.get("event") in CRISIS_EVENTS:
                self.crisis_care.labels(effect.args["event"]).inc()

    def set_inbox_counts(self, counts: dict[str, int]) -> None:
        for status in ("pending", "sending", "done", "failed", "ignored", "dead"):
            self.inbox.labels(status).set(counts.get(status, 0))

    def set_outbox_counts(self, counts: dict[str, int]) -> None:
        from bot.outbox import STATUSES

        for status in STATUSES:
            self.outbox.labels(status).set(counts.get(status, 0))

    def render(self) -> bytes:
        """The Prometheus text exposition of everything in this registry."""
        return generate_latest(self.registry)

    def wrap_processor(self, platform: str, processor: Any) -> "InstrumentedProcessor":
        return InstrumentedProcessor(platform, processor, self)


class InstrumentedProcessor:
    """An inbox processor that times ``prepare`` and counts the replies ``deliver`` sent."""

    def __init__(self, platform: str, inner: Any, metrics: Metrics):
        self.platform = platform
        self.inner = inner
        self.metrics = metrics

    async def prepare(self, session, event):  # noqa: ANN001
        started = time.perf_counter()
        try:
            return await self.inner.prepare(session, event)
        finally:
            self.metrics.prepare_latency.labels(self.platform).observe(time.perf_counter() - started)

    async def deliver(self, delivery, parcel):  # noqa: ANN001
        await self.inner.deliver(delivery, parcel)
        self.metrics.count_replies(self.platform, len(parcel.replies))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install(runtime: Any) -> Metrics:
    """Give ``runtime`` its Metrics (once) and listen to the coach and the inbox's enqueue."""
    existing = runtime.metrics
    if existing is not None:
        return existing
    metrics = Metrics()
    runtime.metrics = metrics
    runtime.coach.listeners.append(metrics.on_outcome)
    from bot import inbox

    db = runtime.db

    def on_enqueued(event_db, platform: str, new: bool) -> None:
        if event_db is db:
            metrics.count_enqueued(platform, new=new)

    inbox.enqueue_listeners.append(on_enqueued)
    runtime.metrics_unhook = lambda: _remove(inbox.enqueue_listeners, on_enqueued)
    return metrics


def _remove(items: list, item: Any) -> None:
    try:
        items.remove(item)
    except ValueError:
        pass


def metrics_of(runtime: Any) -> Metrics:
    """The runtime's Metrics, installing them if needed."""
    return runtime.metrics or install(runtime)


def watch_inbox(runtime: Any, worker: Any) -> None:
    """Count each event the inbox worker finishes, with its latency from receipt."""
    metrics = metrics_of(runtime)

    def on_finished(ev, status: str) -> None:  # noqa: ANN001
        latency = None
        if ev.finished_at is not None and ev.received_at is not None:
            latency = (ev.finished_at - ev.received_at).total_seconds()
        metrics.count_finished(ev.platform, status, latency_seconds=latency)

    worker.on_finished.append(on_finished)


def count_reminders(runtime: Any, outcome: str, n: int = 1) -> None:
    """For the reminder scheduler: ``outcome`` is due, sent, failed or skipped."""
    metrics_of(runtime).count_reminders(outcome, n)


def count_reminder_pass(runtime: Any, result: Any) -> None:
    """For the dispatcher, once per pass: ``result`` has planned (due), sent, skipped, failed."""
    metrics = metrics_of(runtime)
    metrics.count_reminders("due", getattr(result, "planned", 0))
    metrics.count_reminders("sent", getattr(result, "sent", 0))
    metrics.count_reminders("skipped", getattr(result, "skipped", 0))
    metrics.count_reminders("failed", getattr(result, "failed", 0))


async def read_reminder_statuses(runtime: Any) -> None:
    """Set ``bansou_reminders_last_day`` from the outbox (the worker serves no HTTP of its own)."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from bot.reminders.models import ReminderOutbox

    since = runtime.clock() - timedelta(days=1)
    async with runtime.db.session() as session:
        rows = (await session.execute(select(ReminderOutbox.status, func.count())
                                      .where(ReminderOutbox.due_at >= since).group_by(ReminderOutbox.status))).all()
    gauge = metrics_of(runtime).reminders_recent
    seen = dict(rows)
    for status in ("pending", "sending", "sent", "skipped", "failed", "dead"):
        gauge.labels(status).set(seen.get(status, 0))
