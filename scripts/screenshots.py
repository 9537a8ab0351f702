#!/usr/bin/env python3
"""Screenshots of the web chat for the README: docs/web-chat*.png, docs/web-trend*.png, docs/web-crisis.png.

    .venv/bin/python scripts/screenshots.py                  # starts `bansou serve` on a temp SQLite DB
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8000 --db sqlite:///./bansou.db

It goes through onboarding and a check-in by clicking, writes one message the detectors notice,
then adds eleven earlier weeks of demo check-ins and patterns for that visitor (straight into the
database) so the trend chart has something to show. Phone-sized viewport (390 x 844), headless
Debian Chromium, no network beyond 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SCRIPT = {
    "ja": {"lang": "日本語", "consent": "点数だけ", "reminders": "リマインドなし", "checkin": "週次チェックイン",
           "skip": "スキップ", "thought": "考えてみる",
           "message": "今週も深夜までクライアントの返信をしていて、断れない自分に疲れました。"},
    "en": {"lang": "English", "consent": "Scores only", "reminders": "No reminders", "checkin": "Weekly check-in",
           "skip": "Skip", "thought": "I'll think about it",
           "message": "I answered client emails until 2am again, and I just can't say no to them."},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server at {url} did not answer within {timeout:.0f}s")


async def seed_demo_history(database_url: str) -> None:
    """Eleven earlier weeks of check-ins and pattern counts for the most recent web visitor."""
    from sqlalchemy import select

    import bot.store.all_models  # noqa: F401
    from bot.store.db import Database
    from bot.store.models import CheckIn, SignalRecord, User

    db = Database(database_url)
    rng = random.Random(7)
    try:
        async with db.session() as session:
            user = (await session.execute(select(User).where(User.platform == "web")
                                          .order_by(User.created_at.desc()).limit(1))).scalar_one()
            now = user.last_message_at or user.created_at
            energy, bounds, respect = 2, 2, 3
            for weeks_ago in range(11, 0, -1):
                at = now - timedelta(weeks=weeks_ago, hours=rng.randint(0, 30))
                energy = max(1, min(5, energy + rng.choice((-1, 0, 1, 1))))
                bounds = max(1, min(5, bounds + rng.choice((0, 1, 0, -1, 1))))
                respect = max(1, min(5, respect + rng.choice((0, 1, -1, 0))))
                session.add(CheckIn(user_id=user.id, at=at, energy=energy, boundaries=bounds,
                                    client_respect=respect, reflection=None))
                kinds = rng.sample(["overwork", "people_pleasing", "over_helping", "resentment", "controlling"],
                                   k=rng.randint(0, 3) if weeks_ago < 6 else rng.randint(1, 3))
                for kind in kinds:
                    for _ in range(rng.randint(1, 3 if weeks_ago > 5 else 2)):
                        session.add(SignalRecord(user_id=user.id, at=at + timedelta(hours=1), kind=kind,
                                                 score=0.9, evidence=None))
            await session.commit()
    finally:
        await db.dispose()


def shoot(base: str, database_url: str, out_dir: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    made = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for lang, suffix in (("ja", ""), ("en", "-en")):
                words = SCRIPT[lang]
                ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                          locale="ja-JP" if lang == "ja" else "en-GB")
                ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                          else route.abort())
                page = ctx.new_page()
                page.goto(base + "/")
                page.wait_for_selector("body[data-ready=true]")

                def tap(label: str) -> None:
                    page.locator(".choices").get_by_role("button", name=label, exact=True).click()
                    page.wait_for_selector("#log[aria-busy=false]", state="attached")

                tap(words["lang"])
                tap(words["consent"])
                tap(words["reminders"])
                tap(words["checkin"])
                for score in ("2", "2", "3"):
                    tap(score)
                tap(words["skip"])
                tap(words["thought"])
                page.fill("#composer-input", words["message"])
                page.keyboard.press("Enter")
                page.wait_for_selector(".msg-noticed")
                page.wait_for_selector("#log[aria-busy=false]", state="attached")
                page.mouse.move(0, 0)  # no hover highlight on a button in the picture
                page.wait_for_timeout(400)
                chat = out_dir / f"web-chat{suffix}.png"
                page.screenshot(path=str(chat))
                made.append(chat)
                # Playwright's sync API keeps an event loop in this thread; seed from another one.
                with ThreadPoolExecutor(1) as pool:
                    pool.submit(asyncio.run, seed_demo_history(database_url)).result()
                page.click("#tab-trend")
                page.wait_for_selector("#chart .chart-svg .pt")
                page.wait_for_timeout(300)
                trend = out_dir / f"web-trend{suffix}.png"
                page.screenshot(path=str(trend), full_page=False)
                made.append(trend)
                ctx.close()
            # The crisis panel, for a brand-new visitor who writes something alarming straight away.
            ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="ja-JP")
            ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                      else route.abort())
            page = ctx.new_page()
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            page.fill("#composer-input", "もう死にたい。何もかも疲れた。")
            page.keyboard.press("Enter")
            page.wait_for_selector(".crisis-panel")
            page.mouse.move(0, 0)
            page.wait_for_timeout(700)
            crisis = out_dir / "web-crisis.png"
            page.screenshot(path=str(crisis))
            made.append(crisis)
            ctx.close()
        finally:
            browser.close()
    return made


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="use a running server instead of starting one")
    ap.add_argument("--db", help="that server's DATABASE_URL (needed with --url, for the demo history)")
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--chromium", default=os.environ.get("BANSOU_CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = None
    tmp = tempfile.TemporaryDirectory()
    try:
        if args.url:
            if not args.db:
                ap.error("--url needs --db")
            base, database_url = args.url.rstrip("/"), args.db
        else:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            database_url = f"sqlite:///{tmp.name}/bansou.db"
            env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
            bansou = str(Path(sys.executable).parent / "bansou")
            subprocess.run([bansou, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
            proc = subprocess.Popen([bansou, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"],
                                    env=env, cwd=tmp.name)
        wait_until_up(base, proc)
        for path in shoot(base, database_url, out_dir, args.chromium):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
