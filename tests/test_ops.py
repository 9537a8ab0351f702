"""Operations: health, metrics, start-up configuration checks, the core's independence from web
frameworks, and what the logs may (never) contain."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import subprocess
import sys
import textwrap

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.delivery import DeliveryError
from bot.inbox import IncomingEvent, InboxWorker, Parcel, enqueue
from bot.logs import JsonFormatter
from bot.metrics import metrics_of
from bot.settings import Settings
from bot.types import Inbound, UserKey
from tests.procs import BANSOU, child_env, free_port, run_bansou

FRAMEWORKS = ("starlette", "uvicorn", "linebot", "slack_sdk", "slack_bolt", "aiohttp")


# ---------------------------------------------------------------------------- the core stays plain


def test_bot_imports_no_web_framework_or_platform_sdk(tmp_path):
    """Import every module under bot/ in a fresh interpreter; none may pull in a framework or SDK."""
    probe = textwrap.dedent(f"""
        import importlib, pkgutil, sys, json
        import bot
        names = sorted(m.name for m in pkgutil.walk_packages(bot.__path__, "bot."))
        for name in names:
            importlib.import_module(name)
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({FRAMEWORKS!r}))
        print(json.dumps({{"modules": names, "loaded": loaded}}))
    """)
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=child_env())
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["modules"]) > 20, "the probe should have found every module under bot/"
    assert "bot.metrics" in report["modules"] and "bot.retention" in report["modules"]
    assert report["loaded"] == [], f"bot/ imported {report['loaded']}"


# --------------------------------------------------------------------------------------- health


def _asgi(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bansou.test")


async def test_healthz_answers_200_while_the_database_answers(settings, clock):
    from bot.runtime import build_runtime
    from handlers.app import create_app

    runtime = await build_runtime(settings, clock=clock, migrate=False)
    try:
        async with _asgi(create_app(runtime, scheduler=False)) as http:
            r = await http.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        await runtime.close()


async def test_healthz_answers_503_when_the_database_is_unreachable(clock):
    """Nothing listens on the port: the app still answers, with 503 and the reason."""
    from bot.runtime import build_runtime
    from handlers.app import create_app
    from tests.transcript import CONTENT_DIR

    dead = Settings(database_url=f"postgresql://bansou@127.0.0.1:{free_port()}/gone", content_dir=CONTENT_DIR)
    runtime = await build_runtime(dead, clock=clock, migrate=False)
    try:
        async with _asgi(create_app(runtime, scheduler=False)) as http:
            r = await http.get("/healthz")
            m = await http.get("/metrics")
        assert r.status_code == 503
        assert r.json()["status"] == "database unreachable"
        assert m.status_code == 200, "metrics must still be scraped while the database is down"
        assert _sample(m.text, "bansou_database_up") == 0
    finally:
        await runtime.close()


@pytest.mark.postgres_only
async def test_a_running_server_reports_a_database_that_goes_away_and_comes_back(database_url, tmp_path):
    """A real ``bansou serve``: healthy; the database refuses connections → 503; allowed again → 200."""
    import asyncpg

    from tests.conftest import _pg_admin_url
    from tests.procs import ProcessGroup

    name = database_url.rsplit("/", 1)[1]
    admin = _pg_admin_url().replace("postgresql://", "postgres://")
    with ProcessGroup(tmp_path) as group:
        server = group.server(env=child_env(DATABASE_URL=database_url), name="web")
        await server.wait_ready()
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.get(server.url + "/healthz")
                assert r.status_code == 503, r.text
                await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                await server.wait_ready(timeout=20)
        finally:
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await conn.close()
        assert server.alive(), "a database outage must not kill the server"


# -------------------------------------------------------------------------------------- metrics


def _sample(text: str, name: str, **labels) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


class CoachProcessor:
    """An inbox processor for a test platform: the stored text goes through the real coach;
    deliveries are kept in ``delivered``; an event whose text says 'unreachable' fails for good."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.delivered: list[list[str]] = []

    async def prepare(self, session, event):
        platform, user_id = event.user_key.split(":", 1)
        inbound = Inbound(user=UserKey(platform, user_id), kind="text", text=event.payload["text"],
                          received_at=event.received_at, event_id=event.event_id)
        outcome = await self.runtime.coach.handle(inbound, session=session)
        return Parcel(replies=outcome.replies, context={"text_said": "unreachable" in event.payload["text"]})

    async def deliver(self, delivery, parcel):
        if parcel.context.get("text_said"):
            raise DeliveryError("the platform said no", retryable=False, status=400)
        self.delivered.append([r.text for r in parcel.replies])


async def test_metrics_count_events_outcomes_replies_signals_and_latency(runtime, clock):
    from handlers.metrics import metrics_route
    from starlette.applications import Starlette

    metrics = metrics_of(runtime)
    processor = CoachProcessor(runtime)
    worker = InboxWorker(runtime.db, {"ops": metrics.wrap_processor("ops", processor)}, clock=clock)
    from bot.metrics import watch_inbox

    watch_inbox(runtime, worker)
    runtime.inbox = worker
    texts = ["I answered client emails until 2am again and skipped lunch all week",
             "いつも深夜までクライアントの返信をしていて休めない",
             "this one is unreachable"]
    events = [IncomingEvent("ops", f"e{i}", "ops:alice", {"type": "message", "text": t}) for i, t in enumerate(texts)]
    assert await enqueue(runtime.db, events, now=clock()) == 3
    assert await enqueue(runtime.db, events[:1], now=clock()) == 0  # a redelivery

    expected_signals: dict[str, int] = {}
    for t in texts:
        for s in runtime.coach.detect(t)[1]:
            expected_signals[s.kind] = expected_signals.get(s.kind, 0) + 1
    assert expected_signals.get("overwork") == 2, "the test texts should each show overwork"

    async with _asgi(Starlette(routes=[metrics_route(runtime)])) as http:
        before = (await http.get("/metrics")).text
        assert _sample(before, "bansou_inbox_events", status="pending") == 3
        clock.advance(seconds=5)
        assert await worker.run_once() == 3
        r = await http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    ev = "bansou_webhook_events_total"
    assert _sample(text, ev, platform="ops", outcome="accepted") == 3
    assert _sample(text, ev, platform="ops", outcome="duplicate") == 1
    assert _sample(text, ev, platform="ops", outcome="done") == 2
    assert _sample(text, ev, platform="ops", outcome="failed") == 1
    sent = sum(len(d) for d in processor.delivered)
    assert sent >= 2 and _sample(text, "bansou_replies_sent_total", platform="ops", source="inbox") == sent
    for kind, n in expected_signals.items():
        assert _sample(text, "bansou_detector_signals_total", kind=kind) == n
    assert _sample(text, "bansou_coach_turns_total") == 3
    assert _sample(text, "bansou_event_latency_seconds_count", platform="ops") == 3
    assert _sample(text, "bansou_event_latency_seconds_sum", platform="ops") == pytest.approx(15.0)
    assert _sample(text, "bansou_prepare_seconds_count", platform="ops") == 3
    assert _sample(text, "bansou_inbox_events", status="done") == 2
    assert _sample(text, "bansou_inbox_events", status="pending") == 0
    assert _sample(text, "bansou_database_up") == 1
    assert "alice" not in text, "metrics never carry a user id"


def test_reminder_outcomes_are_checked(runtime):
    from bot.metrics import count_reminders

    count_reminders(runtime, "due", 3)
    count_reminders(runtime, "sent", 2)
    count_reminders(runtime, "failed")
    text = metrics_of(runtime).render().decode()
    assert _sample(text, "bansou_reminders_total", outcome="due") == 3
    assert _sample(text, "bansou_reminders_total", outcome="sent") == 2
    assert _sample(text, "bansou_reminders_total", outcome="failed") == 1
    with pytest.raises(ValueError):
        count_reminders(runtime, "maybe")


class RecordingSender:
    """A Sender for the test platform: records what a reminder pass pushes."""

    platform = "ops"

    def __init__(self):
        self.sent: list[tuple[str, list[str]]] = []

    async def send(self, delivery, replies):
        if delivery.user.user_id == "gus":
            raise DeliveryError("blocked by the user", retryable=False, status=403)
        self.sent.append((delivery.user.user_id, [r.text for r in replies]))


async def test_a_reminder_pass_is_counted_due_sent_and_failed(runtime, clock):
    from bot.reminders.dispatch import Dispatcher
    from tests.test_privacy import onboard

    sender = RecordingSender()
    runtime.senders["ops"] = sender
    for name in ("dana", "eli", "fay"):
        await onboard(runtime, UserKey("ops", name), consent=False, reminders="weekday_morning")
    await onboard(runtime, UserKey("ops", "gus"), consent=False, reminders="weekday_morning")  # blocked us
    clock.advance(days=2)
    result = await Dispatcher(runtime).run_pass()
    text = metrics_of(runtime).render().decode()
    assert result.sent == len(sender.sent) == 3
    assert result.failed == 1
    assert _sample(text, "bansou_reminders_total", outcome="due") == result.planned >= 4
    assert _sample(text, "bansou_reminders_total", outcome="sent") == 3
    assert _sample(text, "bansou_reminders_total", outcome="failed") == 1
    assert _sample(text, "bansou_reminders_total", outcome="skipped") == result.skipped

    from handlers.metrics import metrics_route
    from starlette.applications import Starlette

    async with _asgi(Starlette(routes=[metrics_route(runtime)])) as http:
        scraped = (await http.get("/metrics")).text
    assert _sample(scraped, "bansou_reminders_last_day", status="sent") == 3, "read from the outbox"
    assert _sample(scraped, "bansou_reminders_last_day", status="failed") == 1


async def test_two_runtimes_in_one_process_keep_their_own_counts(settings, clock, runtime):
    """Each runtime has its own registry: a second one neither fails to register nor sees the first's counts."""
    from bot.runtime import build_runtime

    other = await build_runtime(settings, clock=clock, migrate=False)
    try:
        await enqueue(runtime.db, [IncomingEvent("ops", "x1", "ops:bob", {"type": "message", "text": "hi"})],
                      now=clock())
        mine, theirs = metrics_of(runtime).render().decode(), metrics_of(other).render().decode()
        assert _sample(mine, "bansou_webhook_events_total", platform="ops", outcome="accepted") == 1
        assert _sample(theirs, "bansou_webhook_events_total", platform="ops", outcome="accepted") == 0
    finally:
        await other.close()


# ------------------------------------------------------------------ start-up refuses half a channel

LINE_VARS = ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN")
SLACK_VARS = ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")


def _expected_missing(present: set[str]) -> str | None:
    """The rule an operator reads in the README's Deploy section, written out independently of Settings.check():
    the variable that must be added, or None when the configuration is whole (or the channel off)."""
    line = present & set(LINE_VARS)
    if len(line) == 1:
        return (set(LINE_VARS) - line).pop()
    cid, csecret = "SLACK_CLIENT_ID" in present, "SLACK_CLIENT_SECRET" in present
    if cid != csecret:
        return "SLACK_CLIENT_SECRET" if cid else "SLACK_CLIENT_ID"
    credentials = "SLACK_BOT_TOKEN" in present or (cid and csecret)
    if "SLACK_SIGNING_SECRET" in present and not credentials:
        return "SLACK_BOT_TOKEN"
    if credentials and "SLACK_SIGNING_SECRET" not in present:
        return "SLACK_SIGNING_SECRET"
    if "SLACK_APP_TOKEN" in present and not credentials:
        return "SLACK_BOT_TOKEN"
    return None


def _combinations() -> list[frozenset[str]]:
    combos = []
    for names in (LINE_VARS, SLACK_VARS):
        for n in range(len(names) + 1):
            combos.extend(frozenset(c) for c in itertools.combinations(names, n))
    return sorted(set(combos), key=sorted)


VALUES = {"LINE_CHANNEL_SECRET": "line-secret-value", "LINE_CHANNEL_ACCESS_TOKEN": "line-token-value",
          "SLACK_SIGNING_SECRET": "slack-signing-value", "SLACK_BOT_TOKEN": "xoxb-0000-test",
          "SLACK_APP_TOKEN": "xapp-0000-test", "SLACK_CLIENT_ID": "1234.5678", "SLACK_CLIENT_SECRET": "client-secret"}


def test_every_whole_or_empty_combination_passes_the_check():
    from bot.settings import load_settings

    whole = [c for c in _combinations() if _expected_missing(set(c)) is None]
    assert len(whole) >= 8
    for combo in whole:
        load_settings({k: VALUES[k] for k in combo}).check()


@pytest.mark.sqlite_only
async def test_serve_refuses_every_half_configured_channel_in_one_line(tmp_path):
    """Every combination of LINE's and Slack's variables that leaves a channel half set up:
    ``bansou serve`` exits non-zero with one line naming the missing variable, no traceback."""
    half = [c for c in _combinations() if _expected_missing(set(c)) is not None]
    assert len(half) >= 20
    sem = asyncio.Semaphore(6)

    async def attempt(combo: frozenset[str]) -> tuple[frozenset[str], int, str]:
        env = child_env(DATABASE_URL=f"sqlite:///{tmp_path}/never.db", PORT=str(free_port()),
                        **{k: VALUES[k] for k in combo})
        async with sem:
            proc = await asyncio.create_subprocess_exec(
                BANSOU, "serve", env=env, cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                out, err = await asyncio.wait_for(proc.communicate(), 60)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                return combo, -1, "still running after 60s: it should have refused to start"
        return combo, proc.returncode, (out + err).decode()

    for combo, code, output in await asyncio.gather(*(attempt(c) for c in half)):
        missing = _expected_missing(set(combo))
        lines = [ln for ln in output.splitlines() if ln.strip()]
        where = f"with {sorted(combo)}: exit {code}, output {output!r}"
        assert code not in (0, -1), where
        assert len(lines) == 1, where
        assert missing in lines[0], where
        assert "Traceback" not in output, where
        for name in combo:
            assert VALUES[name] not in output, f"a secret's value was echoed {where}"
    assert not (tmp_path / "never.db").exists(), "a refused start must not touch the database"


@pytest.mark.sqlite_only
def test_worker_refuses_a_half_configured_channel_too(tmp_path):
    env = child_env(DATABASE_URL=f"sqlite:///{tmp_path}/never.db", LINE_CHANNEL_ACCESS_TOKEN="t")
    done = run_bansou(["worker"], env=env, cwd=tmp_path)
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    assert done.returncode != 0 and len(lines) == 1 and "LINE_CHANNEL_SECRET" in lines[0], lines


# --------------------------------------------------------------------------------- what logs hold

SECRET_TOKEN = "sk_live_4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
DISTINCTIVE = "紫陽花の坂道で見積書を三回書き直した"


def _conversation() -> list[str]:
    return [f"my api key is {SECRET_TOKEN} and {DISTINCTIVE}",
            f"I answered client emails until 2am again — {DISTINCTIVE}",
            f"{DISTINCTIVE}、いつも深夜までクライアントの返信をしていて休めない"]


async def test_the_coach_logs_no_message_text_or_tokens(runtime, clock):
    """Everything any logger emits at DEBUG while a conversation with a token and distinctive words
    runs through the coach, formatted as production formats it."""
    from bot.logs import setup_logging
    from tests.test_privacy import onboard, say, tap

    # Production's logging at its most verbose (LOG_LEVEL=DEBUG), captured as the JSON it writes.
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    setup_logging("DEBUG")
    captured: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            captured.append(self.format(record))

    capture = Capture()
    capture.setFormatter(JsonFormatter())
    root.addHandler(capture)
    try:
        key = UserKey("ops", "carol")
        await onboard(runtime, key, consent=True)
        for text in _conversation():
            await say(runtime, key, text)
            clock.advance(minutes=1)
        await tap(runtime, key, "go:privacy")
        await tap(runtime, key, "c:privacy:choose:export")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    lines = captured
    assert any('"handled"' in ln for ln in lines), "the coach should have logged its turns"
    blob = "\n".join(lines)
    assert SECRET_TOKEN not in blob
    assert DISTINCTIVE not in blob
    assert "紫陽花" not in blob


def test_the_formatter_drops_fields_outside_its_whitelist_and_masks_tokens():
    record = logging.LogRecord("bansou.x", logging.INFO, __file__, 1, "sent with Bearer %s", (SECRET_TOKEN,), None)
    record.text = DISTINCTIVE
    record.platform = "line"
    out = json.loads(JsonFormatter().format(record))
    assert out["platform"] == "line"
    assert "text" not in out and SECRET_TOKEN not in json.dumps(out)


def test_an_exception_is_logged_by_type_and_place_never_by_its_message():
    import sys

    from bot.text import normalize_command

    try:
        normalize_command(None)  # a TypeError raised in bot/text.py
    except Exception as exc:  # noqa: BLE001
        exc.args = (DISTINCTIVE,)
        record = logging.LogRecord("bansou.x", logging.ERROR, __file__, 1, "prepare failed", (), sys.exc_info())
    out = json.loads(JsonFormatter().format(record))
    assert out["exception"] == "TypeError"
    assert DISTINCTIVE not in json.dumps(out)
    places = out["raised_at"].split(" < ")
    assert all(p.rsplit(":", 1)[1].isdigit() for p in places)
    assert places[-1].startswith("bot/text.py:") and "/root" not in out["raised_at"]


# ------------------------------------------------------------------------------- database URLs


def test_database_urls_as_platforms_write_them():
    from bot.settings import async_database_url

    assert async_database_url("postgres://u:p@db:5432/app") == "postgresql+asyncpg://u:p@db:5432/app"
    assert async_database_url("postgresql://u@db/app") == "postgresql+asyncpg://u@db/app"
    assert async_database_url("postgres://u@db/app?sslmode=require") == "postgresql+asyncpg://u@db/app?ssl=require"
    assert async_database_url("sqlite:///./bansou.db") == "sqlite+aiosqlite:///./bansou.db"


@pytest.mark.postgres_only
async def test_a_managed_database_url_with_sslmode_connects(database_url):
    """Managed PostgreSQL hands out libpq URLs with ``?sslmode=...``; asyncpg must still connect."""
    from bot.store.db import Database

    for mode in ("disable", "prefer"):
        db = Database(database_url.replace("postgresql://", "postgres://") + f"?sslmode={mode}")
        try:
            assert await db.ping(), mode
        finally:
            await db.dispose()


def test_serve_runs_on_uvloop_when_it_is_installed():
    """uvicorn picks uvloop itself when it owns the loop; ``bansou serve`` owns it, so it must pick it too."""
    uvloop = pytest.importorskip("uvloop")
    from handlers.server import new_event_loop

    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
