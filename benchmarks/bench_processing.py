"""CPU per inbound message: ``Coach.handle`` alone, and the whole LINE inbox path.

    .venv/bin/python benchmarks/bench_processing.py [--events 1000] [--repeat 2] [--database-url URL]
                                                    [--only coach|inbox] [--prof coach|inbox] [--loop app|asyncio]

1. Coach.handle: N text messages from 200 users, one ``coach.handle`` each (its own lock and transaction).
2. Inbox path: the same kind of messages as signed LINE would deliver them, each stored with
   ``bot.inbox.enqueue`` (one call per webhook request), then the app's ``InboxWorker`` (built by
   ``handlers.app.create_app``, so with the metrics wrapper and listeners) prepares each through the
   coach and replies through the real ``linebot.v3`` client to a fake LINE API on 127.0.0.1 in a
   separate process (so its CPU is not counted). Events arrive in waves of 20 from different users,
   then worker passes run until the wave is answered, as under steady load.

CPU is ``time.process_time()`` (every thread of this process: the event loop and aiosqlite's),
divided by the number of events: "ms per event". Each figure is measured --repeat times after a
warm-up; the fake API counts replies so every event is checked to be answered exactly once.
SQLite in a temp dir by default; ``--database-url postgresql://...`` for PostgreSQL (its tables are
created by migration; the users are new each run). The event loop is the one ``bansou serve`` runs
on (``handlers.server.new_event_loop``: uvloop when installed) unless ``--loop asyncio``. The machine
is usually shared: compare figures only from runs made close together (or interleaved).
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "bench-processing-token"
SECRET = "bench-processing-secret"
USERS = 200
WAVE = 20
TEXTS = ["こんにちは", "今日も夜中までクライアントの返信をしてしまった", "I can't say no to my clients", "hello",
         "疲れた", "1", "2", "check in", "チェックイン", "I keep doing their work for them", "ok", "はい"]


# ---------------------------------------------------------------------------- the fake LINE API


def _serve_fake(port_queue) -> None:
    from aiohttp import web

    counts = {"reply": 0, "push": 0, "tokens": set()}

    async def reply(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Authentication failed"}, status=401)
        body = await request.json()
        token = body.get("replyToken")
        if token in counts["tokens"]:
            return web.json_response({"message": "Invalid reply token"}, status=400)
        counts["tokens"].add(token)
        counts["reply"] += 1
        return web.json_response({"sentMessages": [{"id": "1", "quoteToken": "q"}]})

    async def push(request: web.Request) -> web.Response:
        await request.read()
        counts["push"] += 1
        return web.json_response({"sentMessages": [{"id": "1"}]})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"reply": counts["reply"], "push": counts["push"]})

    from benchmarks._loopback import serve_routes

    serve_routes([web.post("/v2/bot/message/reply", reply), web.post("/v2/bot/message/push", push),
                  web.get("/stats", stats)], port_queue, backlog=1024)


async def _fake_stats(base: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/stats") as r:
            return await r.json()


# ---------------------------------------------------------------------------- measurements


def _user_ids(run: str) -> list[str]:
    return ["U" + uuid.uuid5(uuid.NAMESPACE_OID, f"{run}:{i}").hex for i in range(USERS)]


async def measure_coach(url: str, *, events: int, repeat: int, prof: bool) -> list[float]:
    from bot.runtime import build_runtime
    from bot.settings import Settings
    from bot.types import Inbound, UserKey

    rt = await build_runtime(Settings(database_url=url), migrate=True)
    users = _user_ids(uuid.uuid4().hex)
    rng = random.Random(1)

    async def run(n: int) -> None:
        for _ in range(n):
            user = UserKey("line", rng.choice(users))
            await rt.coach.handle(Inbound(user=user, kind="text", received_at=datetime.now(timezone.utc),
                                          text=rng.choice(TEXTS)))

    figures = []
    try:
        await run(300)  # warm-up: users exist, statements compiled, pages cached
        for _ in range(repeat):
            profile = cProfile.Profile() if prof else None
            c = time.process_time()
            if profile:
                profile.enable()
            await run(events)
            if profile:
                profile.disable()
            figures.append((time.process_time() - c) * 1000 / events)
            if profile:
                pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    finally:
        await rt.close()
    return figures


async def measure_inbox(url: str, base: str, *, events: int, repeat: int,
                        prof: bool) -> tuple[list[tuple[float, float]], dict]:
    from bot.inbox import enqueue
    from bot.runtime import build_runtime
    from bot.settings import Settings
    from handlers.app import create_app
    from handlers.edge import edge_of
    from handlers.line.events import sort_events
    from tests.fake_line_api import text_event

    settings = Settings(database_url=url, line_channel_secret=SECRET, line_channel_access_token=TOKEN,
                        line_api_base_url=base)
    rt = await build_runtime(settings, migrate=True)
    create_app(rt, scheduler=False)
    worker = rt.inbox
    channels = edge_of(rt).channels
    users = _user_ids(uuid.uuid4().hex)
    rng = random.Random(2)
    sent = 0

    async def run(n: int) -> tuple[float, float]:
        nonlocal sent
        enqueue_cpu = worker_cpu = 0.0
        for start in range(0, n, WAVE):
            wave = rng.sample(users, min(WAVE, n - start))
            for user in wave:  # one webhook request each
                event = text_event(user, rng.choice(TEXTS), reply_token=uuid.uuid4().hex)
                c = time.process_time()
                await enqueue(rt.db, sort_events([event]).keep, now=rt.clock())
                enqueue_cpu += time.process_time() - c
            sent += len(wave)
            c = time.process_time()
            while await worker.run_once():
                pass
            worker_cpu += time.process_time() - c
        return enqueue_cpu * 1000 / n, worker_cpu * 1000 / n

    figures = []
    try:
        await run(300)
        for _ in range(repeat):
            profile = cProfile.Profile() if prof else None
            if profile:
                profile.enable()
            figures.append(await run(events))
            if profile:
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
        counts = await worker.counts()
        stats = await _fake_stats(base)
        check = {"events": sent, "replies": stats["reply"], "pushes": stats["push"], "inbox": counts}
    finally:
        for channel in channels.values():
            for hook in channel.on_stop:
                await hook()
        await rt.close()
    return figures, check


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--prof", choices=("coach", "inbox"), default=None, help="print a cProfile of one part")
    parser.add_argument("--only", choices=("coach", "inbox"), default=None)
    parser.add_argument("--loop", choices=("app", "asyncio"), default="app")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)  # the same for every run; log formatting is not what is measured

    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve_fake, args=(ports,), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=30)}"
    tmp = tempfile.TemporaryDirectory()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    import bot

    loop = type(asyncio.get_running_loop())
    print(f"{backend}; {args.events} events per measurement; code from {Path(bot.__file__).parent.parent}; "
          f"loop {loop.__module__}.{loop.__name__}; load average before "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        if args.only in (None, "coach"):
            url = args.database_url or f"sqlite:///{tmp.name}/coach.db"
            coach = await measure_coach(url, events=args.events, repeat=args.repeat, prof=args.prof == "coach")
            print(f"Coach.handle:            {_fmt(coach)} ms CPU per event (best {min(coach):.2f})", flush=True)
        if args.only in (None, "inbox"):
            url = args.database_url or f"sqlite:///{tmp.name}/inbox.db"
            inbox, check = await measure_inbox(url, base, events=args.events, repeat=args.repeat,
                                               prof=args.prof == "inbox")
            whole = [e + w for e, w in inbox]
            print(f"inbox path (whole):      {_fmt(whole)} ms CPU per event (best {min(whole):.2f})")
            print(f"  of which enqueue:      {_fmt([e for e, _ in inbox])}")
            print(f"  of which InboxWorker:  {_fmt([w for _, w in inbox])} (prepare + LINE reply + bookkeeping)")
            ok = check["replies"] == check["events"] and check["pushes"] == 0
            print(f"  check: {check['events']} events, {check['replies']} replies, {check['pushes']} pushes, "
                  f"inbox {check['inbox']} -> {'ok' if ok else 'MISMATCH'}")
    finally:
        server.terminate()
        server.join(timeout=5)
    print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    arguments = parse_args()
    factory = None
    if arguments.loop == "app":
        from handlers.server import new_event_loop as factory
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(arguments))
