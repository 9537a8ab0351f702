"""Benchmark the LINE webhook: a real `bansou serve` process on SQLite, a fake LINE API, signed events.

    .venv/bin/python benchmarks/bench_line_webhook.py [--rates 50,100,200] [--seconds 4] [--no-write]

Starts `bansou serve --no-scheduler` (uvicorn, one process) on 127.0.0.1 with a fresh SQLite
database in a temp dir and LINE pointed at the fake Messaging API (tests/fake_line_api.py, in a
thread of this process). Sends signed text events from 500 users at each rate for a few seconds
(open loop, benchmarks/_line_load.py) and prints events/s, acknowledgement latency p50/p99 and
end-to-end time to the reply. Goal: ack p99 < 50 ms at 200 events/s; every event answered once.
Writes the figures under "## LINE webhook" in benchmarks/RESULTS.md (unless --no-write).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _line_load import LineLoad  # noqa: E402
from tests.fake_line_api import FakeLineApi  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "LINE webhook"
SECRET = "bench-line-channel-secret"
GOAL_ACK_P99_MS = 50.0
GOAL_RATE = 200


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = re.sub(r"\s+", " ", line.split(":", 1)[1]).strip()
                break
    except OSError:
        pass
    import sqlite3

    return (f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}")


async def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"bansou serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                async with session.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("bansou serve did not become healthy in time")


async def bench(rates: list[int], seconds: float) -> tuple[list[dict], dict]:
    fake = FakeLineApi(token="bench-line-access-token")
    stop_fake = fake.start_thread()
    tmp = Path(tempfile.mkdtemp(prefix="bansou-line-bench-"))
    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}", LINE_CHANNEL_SECRET=SECRET,
               LINE_CHANNEL_ACCESS_TOKEN=fake.token, LINE_API_BASE_URL=fake.url, PORT=str(port))
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        env.pop(name, None)
    log_path = tmp / "server.log"
    bansou = ROOT / ".venv" / "bin" / "bansou"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(bansou), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"],
                                env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(base, proc, log_path)
        load = LineLoad(url=base + "/line/webhook", secret=SECRET, fake=fake, users=500)
        await load.step(rate=20, seconds=1)  # warm-up: connections, first users, SQLite pages
        load_before = os.getloadavg()[0]
        steps = []
        for rate in rates:
            step = await load.step(rate=rate, seconds=seconds)
            summary = step.summary()
            steps.append(summary)
            print(f"  {rate:>4} events/s offered: {summary['events_per_s']:>6} acked/s, ack p50 "
                  f"{summary['ack_p50_ms']} ms, p99 {summary['ack_p99_ms']} ms, end-to-end p50 "
                  f"{summary['e2e_p50_ms']} ms, p99 {summary['e2e_p99_ms']} ms, errors {summary['errors']}, "
                  f"unanswered {summary['unanswered']}", flush=True)
        per_token = Counter(s.token for s in fake.sent if s.token)
        extra = {"duplicates": sum(n - 1 for n in per_token.values() if n > 1),
                 "replies": sum(1 for s in fake.sent if s.via == "reply"),
                 "pushes": sum(1 for s in fake.sent if s.via == "push"),
                 "load": f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"}
        return steps, extra
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        stop_fake()


def write_results(steps: list[dict], extra: dict, seconds: float) -> None:
    at_goal = next((s for s in steps if s["rate"] == GOAL_RATE), None)
    verdict = ("met" if at_goal and at_goal["ack_p99_ms"] < GOAL_ACK_P99_MS and at_goal["errors"] == 0
               else "NOT met" if at_goal else "not measured")
    rows = "\n".join(
        f"| {s['rate']} | {s['events_per_s']} | {s['ack_p50_ms']} | {s['ack_p99_ms']} | {s['ack_max_ms']} | "
        f"{s['e2e_p50_ms']} | {s['e2e_p99_ms']} | {s['errors']} | {s['unanswered']} |" for s in steps)
    body = f"""
Command: `.venv/bin/python benchmarks/bench_line_webhook.py`  
Machine: {machine()}; run {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; 1-minute load average
{extra['load']} the run (other work on the box counts against these figures)  
Setup: `bansou serve --no-scheduler` (one uvicorn process) on SQLite in a temp dir, LINE on and pointed at the
fake Messaging API (tests/fake_line_api.py, in a thread of the load process); signed text events from 500 users,
open loop for {seconds:g} s per rate (benchmarks/_line_load.py); latency counted from each event's scheduled send.
Acknowledged = stored in the inbox and 200 sent; end to end = scheduled send → reply received by the fake API.

| offered events/s | acked/s | ack p50 ms | ack p99 ms | ack max ms | end-to-end p50 ms | end-to-end p99 ms | errors | unanswered |
|---|---|---|---|---|---|---|---|---|
{rows}

Goal: ack p99 < {GOAL_ACK_P99_MS:g} ms at {GOAL_RATE} events/s — **{verdict}**. Every event answered exactly once:
{extra['duplicates']} duplicate replies; {extra['replies']} sent by reply API, {extra['pushes']} by push.

Acknowledging and processing share the server's one event loop; the LINE adapter lets acknowledgements go
first (`AckFirst` in handlers/line/webhook.py) and stores concurrent webhooks in one commit. Where the CPU
goes is measured, not restated here: per event by `bench_processing.py` (section Processing), per
acknowledgement under load in the section "Webhook: run to run".
"""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"## {HEADING}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,200", help="offered events per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per rate")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    print(f"LINE webhook benchmark on {machine()}")
    steps, extra = asyncio.run(bench(rates, args.seconds))
    print(f"  duplicates: {extra['duplicates']}, reply API: {extra['replies']}, push: {extra['pushes']}, "
          f"load average {extra['load']}")
    if not args.no_write:
        write_results(steps, extra, args.seconds)
        print(f"wrote '## {HEADING}' in {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
