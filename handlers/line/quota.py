"""LINE's monthly message quota: fetched on an interval by the worker, shown on ``/metrics``, and
used to hold reminders back before it runs out (replies are free of quota and never held).

* ``refresh_quota(runtime)`` (a ``runtime.periodic`` job, and on demand when the snapshot is stale)
  asks LINE for the quota and this month's consumption, keeps the snapshot on the ``LineApi`` and
  writes it to ``line_quota`` so every process's ``/metrics`` shows the same figures.
* ``hold_reason(snapshot, pushed_since)`` (pure) says whether a reminder should be skipped now.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.runtime import Runtime

log = logging.getLogger("bansou.line")
REFRESH_SECONDS = 300.0
CHANNEL = "default"
# Keep this share of the month's quota for pushes that are not reminders (a reply whose token
# expired goes by push): reminders stop when less than this is left.
RESERVE_FRACTION = 0.05
RESERVE_MIN = 10
HELD_REASON = "LINE monthly message quota nearly used"


@dataclass(frozen=True, slots=True)
class QuotaSnapshot:
    limit: int | None  # None: the plan has no monthly limit
    used: int
    fetched_at: datetime


def hold_reason(snapshot: QuotaSnapshot | None, pushed_since: int = 0, *,
                reserve_fraction: float = RESERVE_FRACTION, reserve_min: int = RESERVE_MIN) -> str | None:
    """Why a reminder push should be skipped now, or None to send it. ``pushed_since`` counts pushes
    made since the snapshot (LINE's consumption figure lags)."""
    if snapshot is None or snapshot.limit is None:
        return None
    reserve = max(int(snapshot.limit * reserve_fraction), reserve_min)
    left = snapshot.limit - snapshot.used - pushed_since
    if left <= reserve:
        return f"{HELD_REASON} ({max(left, 0)} of {snapshot.limit} left)"
    return None


async def fetch_quota(api, *, now: datetime) -> QuotaSnapshot:
    """Ask LINE (``GET /v2/bot/message/quota`` and ``.../quota/consumption``)."""
    from handlers.line.api import PROFILE_TIMEOUT

    quota = await api.api.get_message_quota(_request_timeout=PROFILE_TIMEOUT)
    used = await api.api.get_message_quota_consumption(_request_timeout=PROFILE_TIMEOUT)
    limit = quota.value if quota.type == "limited" else None
    return QuotaSnapshot(limit=limit, used=int(used.total_usage or 0), fetched_at=now)


async def refresh_quota(runtime: Runtime) -> QuotaSnapshot | None:
    """Fetch the quota, keep it on the process's LINE client and store it for every process."""
    from handlers.line import line_api

    api = line_api(runtime)
    try:
        snapshot = await fetch_quota(api, now=runtime.clock())
    except Exception as exc:  # noqa: BLE001 - keep the last snapshot; try again next time
        log.warning("LINE quota unavailable", extra={"error": type(exc).__name__,
                                                    "status": getattr(exc, "status", None)})
        return None
    api.quota, api.pushed_since_quota = snapshot, 0
    await store_snapshot(runtime, snapshot)
    set_gauges(runtime, snapshot)
    return snapshot


async def store_snapshot(runtime: Runtime, snapshot: QuotaSnapshot) -> None:
    from bot.store.line_models import LineQuota

    async with runtime.db.session() as session:
        row = await session.get(LineQuota, CHANNEL)
        if row is None:
            row = LineQuota(channel=CHANNEL, used=0, fetched_at=snapshot.fetched_at)
            session.add(row)
        row.limit_value, row.used, row.fetched_at = snapshot.limit, snapshot.used, snapshot.fetched_at
        await session.commit()


async def load_snapshot(runtime: Runtime) -> QuotaSnapshot | None:
    from bot.store.line_models import LineQuota

    async with runtime.db.session() as session:
        row = await session.get(LineQuota, CHANNEL)
    if row is None:
        return None
    return QuotaSnapshot(limit=row.limit_value, used=row.used, fetched_at=row.fetched_at)


async def current_hold(runtime: Runtime) -> str | None:
    """For the reminder dispatch: refresh a stale snapshot (outside any transaction), then decide."""
    from handlers.line import line_api

    api = line_api(runtime)
    snapshot = api.quota
    if snapshot is None or runtime.clock() - snapshot.fetched_at > timedelta(seconds=REFRESH_SECONDS):
        snapshot = await refresh_quota(runtime) or snapshot
    return hold_reason(snapshot, api.pushed_since_quota)


class QuotaGauges:
    """``bansou_line_message_quota*`` on the runtime's registry (read from ``line_quota`` at scrape)."""

    def __init__(self, registry):
        from prometheus_client import Gauge

        self.limit = Gauge("bansou_line_message_quota", "LINE monthly message quota (-1: no limit)",
                           registry=registry)
        self.used = Gauge("bansou_line_message_quota_consumption", "LINE messages counted against the "
                          "quota this month, as LINE last reported", registry=registry)
        self.fetched = Gauge("bansou_line_message_quota_fetched_timestamp_seconds",
                             "When the worker last fetched the LINE quota (Unix time)", registry=registry)

    def set(self, snapshot: QuotaSnapshot) -> None:
        self.limit.set(-1 if snapshot.limit is None else snapshot.limit)
        self.used.set(snapshot.used)
        self.fetched.set(snapshot.fetched_at.timestamp())


def install(runtime: Runtime) -> None:
    """Register the quota job, the gauges and their scrape hook (once per runtime)."""
    from handlers.edge import edge_of

    edge = edge_of(runtime)
    if edge.line_quota_gauges is not None:
        return
    from bot.metrics import metrics_of

    edge.line_quota_gauges = QuotaGauges(metrics_of(runtime).registry)
    runtime.periodic.append(("line_quota", REFRESH_SECONDS, refresh_quota))

    async def on_scrape(rt: Runtime) -> None:
        snapshot = await load_snapshot(rt)
        if snapshot is not None:
            set_gauges(rt, snapshot)

    edge.metrics_scrape_hooks.append(on_scrape)


def set_gauges(runtime: Runtime, snapshot: QuotaSnapshot) -> None:
    from handlers.edge import edge_of

    gauges = edge_of(runtime).line_quota_gauges
    if gauges is not None:
        gauges.set(snapshot)
