"""Reminder dispatch speed: one worker sends 10,000 due reminders to a local fake LINE API.

    .venv/bin/python benchmarks/bench_reminders.py [--users 10000] [--rate 1500] [--database-url URL]

Seeds N people whose reminder slot fell due a minute ago (platform "line"), then runs ONE
dispatch pass exactly as the worker does (plan the slots, stage them in batches: decide, render
nudges, put them in the delivery outbox; claim them from it, send concurrently under the token
bucket, record) through handlers.line's
sender, i.e. the real ``linebot.v3`` AsyncMessagingApi push with X-Line-Retry-Key. The fake
LINE API is an aiohttp server on 127.0.0.1 in its own process answering 200 to
POST /v2/bot/message/push; it counts arrivals, so the rate it reports is what LINE would see.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_SECONDS = 10.0
TOKEN = "bench-token"


# ---------------------------------------------------------------------------- the fake LINE API


def _serve_fake(port_queue) -> None:
    from aiohttp import web

    arrivals: list[float] = []
    keys: set[str] = set()

    async def push(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        key = request.headers.get("X-Line-Retry-Key")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Authentication failed"}, status=401)
        await request.read()
        if key in keys:
            return web.json_response({"message": "The retry key is already accepted"}, status=409)
        if key:
            keys.add(key)
        return web.json_response({"sentMessages": [{"id": "1"}]})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"arrivals": arrivals, "unique_keys": len(keys)})

    from benchmarks._loopback import serve_routes

    serve_routes([web.post("/v2/bot/message/push", push), web.get("/stats", stats)], port_queue)


class _NullSender:
    platform = "line"

    async def send(self, delivery, replies) -> None:
        return None


def max_rate_per_second(arrivals: list[float]) -> tuple[int, int]:
    """(most arrivals in any sliding 1-second window, most in any whole wall-clock second)."""
    arrivals = sorted(arrivals)
    best, j = 0, 0
    for i, t in enumerate(arrivals):
        while arrivals[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    buckets: dict[int, int] = {}
    for t in arrivals:
        buckets[int(t)] = buckets.get(int(t), 0) + 1
    return best, max(buckets.values(), default=0)


# ---------------------------------------------------------------------------- seeding


async def seed(database_url: str, n: int, now: datetime) -> None:
    from sqlalchemy import insert

    from bot.reminders.models import ReminderPrefs
    from bot.store.db import Database
    from bot.store.models import User

    db = Database(database_url)
    async with db.session() as s:
        for start in range(0, n, 2000):
            chunk = range(start, min(n, start + 2000))
            rows = [{"platform": "line", "platform_user_id": "U" + uuid.uuid5(uuid.NAMESPACE_OID, str(i)).hex,
                     "language": "ja" if i % 2 else "en", "timezone": "Asia/Tokyo", "consent_store_text": False,
                     "active": True, "created_at": now - timedelta(days=30), "platform_meta": {}} for i in chunk]
            await s.execute(insert(User), rows)
        await s.commit()
        from sqlalchemy import select

        ids = [i for (i,) in (await s.execute(select(User.id)))]
        local = now.astimezone(timezone(timedelta(hours=9)))
        due = now - timedelta(minutes=1)
        prefs = [{"user_id": uid, "enabled": True, "days": "mon,tue,wed,thu,fri,sat,sun",
                  "time_of_day": (local - timedelta(minutes=1)).strftime("%H:%M"), "preset": None,
                  "quiet_start": "00:00", "quiet_end": "00:00", "next_due_at": due, "frequency_factor": 1,
                  "slot_seq": 0, "ignored_streak": 0, "created_at": now, "updated_at": now} for uid in ids]
        for start in range(0, len(prefs), 2000):
            await s.execute(insert(ReminderPrefs), prefs[start:start + 2000])
        await s.commit()
    await db.dispose()


async def run(args) -> dict:
    from aiohttp import ClientSession

    from benchmarks._postgres import fresh_database
    from bot.reminders.dispatch import Dispatcher
    from bot.runtime import build_runtime
    from bot.settings import Settings
    from bot.store.migrate import upgrade

    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve_fake, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=20)
    base = f"http://127.0.0.1:{port}"
    tmp = tempfile.TemporaryDirectory()
    # A database of its own on that server: the bench seeds 10,000 people and must not meet anyone else's.
    url = (await fresh_database(args.database_url, "bansou_bench_reminders") if args.database_url
           else f"sqlite:///{tmp.name}/bench.db")
    try:
        await upgrade(url)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        t_seed = time.perf_counter()
        await seed(url, args.users, now)
        seed_s = time.perf_counter() - t_seed
        settings = Settings(database_url=url, line_channel_secret="bench-secret", line_channel_access_token=TOKEN,
                            line_api_base_url=base, reminder_rate_per_second=args.rate)
        runtime = await build_runtime(settings, clock=lambda: now, migrate=False)
        try:
            from handlers.compose import install_senders

            install_senders(runtime)
            if args.sender == "null":  # isolates our own cost (database, planning, rendering)
                runtime.senders["line"] = _NullSender()
            sender = type(runtime.senders["line"]).__module__ + "." + type(runtime.senders["line"]).__name__
            kw = {"concurrency": args.concurrency} if args.concurrency else {}
            dispatcher = Dispatcher(runtime, batch_size=args.batch, **kw)
            t0, c0 = time.perf_counter(), time.process_time()
            result = await dispatcher.run_pass(now)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            await runtime.close()
        async with ClientSession() as http:
            async with http.get(f"{base}/stats") as resp:
                stats = await resp.json()
    finally:
        server.kill()
        tmp.cleanup()
    sliding, per_second = max_rate_per_second(stats["arrivals"])
    return {"users": args.users, "sent": result.sent, "failed": result.failed, "skipped": result.skipped,
            "received": len(stats["arrivals"]), "unique_retry_keys": stats["unique_keys"],
            "seconds": elapsed, "cpu_seconds": cpu, "sends_per_second": result.sent / elapsed if elapsed else 0.0,
            "max_sliding_1s": sliding, "max_calendar_1s": per_second, "rate_cap": args.rate,
            "seed_seconds": seed_s, "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "sender": sender}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1500.0, help="REMINDER_RATE_PER_SECOND (default 1500)")
    parser.add_argument("--concurrency", type=int, default=None, help="sends in flight (default: the Dispatcher's)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a PostgreSQL server to use (a fresh database bansou_bench_reminders is made on it)")
    parser.add_argument("--sender", choices=["line", "null"], default="line",
                        help="line: handlers.line's SDK sender (default); null: no HTTP, our cost only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    r = asyncio.run(run(args))
    if args.json:
        print(json.dumps(r))
        return 0
    try:
        from benchmarks._machine import machine_line

        print(f"machine: {machine_line()}")
    except Exception:  # noqa: BLE001 - the machine line is a nicety
        pass
    ok_time = r["seconds"] < GOAL_SECONDS
    ok_rate = r["max_sliding_1s"] <= r["rate_cap"]
    print(f"database: {r['database']}; sender: {r['sender']}")
    print(f"{'figure':<34}{'measured':>14}   goal")
    print(f"{'reminders sent':<34}{r['sent']:>14,}   {r['users']:,} (failed {r['failed']}, skipped {r['skipped']})")
    print(f"{'pushes LINE received':<34}{r['received']:>14,}   one per reminder, unique keys: {r['unique_retry_keys']:,}")
    print(f"{'total time (one pass)':<34}{r['seconds']:>13.2f}s   < {GOAL_SECONDS:.0f} s  {'OK' if ok_time else 'MISSED'}")
    print(f"{'CPU of the worker, per reminder':<34}{r['cpu_seconds'] / max(r['sent'], 1) * 1e3:>12.3f}ms   "
          f"(all threads; {r['cpu_seconds']:.2f} s; what the box's load cannot inflate much)")
    print(f"{'sends/s':<34}{r['sends_per_second']:>14,.0f}   > {r['users'] / GOAL_SECONDS:,.0f}/s")
    print(f"{'max rate, any 1 s window':<34}{r['max_sliding_1s']:>14,}   <= {r['rate_cap']:,.0f}/s  {'OK' if ok_rate else 'OVER'}")
    print(f"{'max rate, per calendar second':<34}{r['max_calendar_1s']:>14,}   <= {r['rate_cap']:,.0f}/s")
    return 0 if ok_time and ok_rate and r["sent"] == r["users"] else 1



if __name__ == "__main__":
    sys.exit(main())
