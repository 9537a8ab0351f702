"""Shared fixtures. Every database test runs on the backend named by BANSOU_TEST_DB (sqlite by
default; `scripts/test` runs the suite again with postgres against a real server).

Each test gets its own freshly migrated database: a copy of a migrated SQLite file, or on
PostgreSQL a new database cloned from a migrated template (cheap, and tests never share rows).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.transcript import CONTENT_DIR

BACKEND = os.environ.get("BANSOU_TEST_DB", "sqlite")
PG_URL = os.environ.get("BANSOU_TEST_PG_URL", "")
SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared"


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: runs only in the SQLite pass")
    config.addinivalue_line("markers", "postgres_only: runs only in the PostgreSQL pass")


def pytest_sessionfinish(session, exitstatus):
    template = _template_ready.pop("template", None)
    if template:
        asyncio.run(_pg_drop(_pg_admin_url(template)))


# Modules whose tests never depend on the database backend (pure decisions, content, the detectors,
# and the browser, whose every request goes through the same web API that test_web_api runs on both
# backends): they run once, in the SQLite pass, so the PostgreSQL pass is spent on what can differ.
BACKEND_INDEPENDENT = frozenset({
    "test_detect.py", "test_detect_cli.py", "test_detect_model.py", "test_engine.py",
    "test_flows.py", "test_content_validation.py", "test_line_pure.py", "test_web_pure.py",
    "test_reminders_parse.py", "test_reminders_planner.py", "test_native_docs.py",
    "test_web_browser.py", "test_web_browser_fixes.py", "test_crisis_web_browser.py",
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in BACKEND_INDEPENDENT:
            item.add_marker(pytest.mark.sqlite_only)
        if BACKEND == "sqlite" and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL-only test; runs in the PostgreSQL pass"))


class FakeClock:
    """A settable clock for code that takes ``clock`` as an argument."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc))


def _pg_admin_url(db: str = "postgres") -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{db}"


_template_ready: dict[str, str] = {}


async def _sqlite_template(tmp_root: Path) -> Path:
    from bot.store.migrate import upgrade

    path = tmp_root / "template.db"
    if not path.exists():
        await upgrade(f"sqlite:///{path}")
    return path


async def _pg_fresh_database() -> str:
    import asyncpg

    from bot.store.migrate import upgrade

    admin = _pg_admin_url().replace("postgresql://", "postgres://")
    if "template" not in _template_ready:
        # One template per test session (several sessions may share the server at once).
        template = f"bansou_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{template}"')
        finally:
            await conn.close()
        await upgrade(_pg_admin_url(template))
        _template_ready["template"] = template
    template = _template_ready["template"]
    name = "t_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return _pg_admin_url(name)


async def _pg_drop(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_pg_admin_url().replace("postgresql://", "postgres://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def _sqlite_template_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dbtemplate")
    return asyncio.run(_sqlite_template(root))


@contextlib.asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path, sqlite_template: Path):
    """A fresh, migrated database on ``backend`` ("sqlite" or "postgres"); dropped afterwards."""
    if backend == "postgres":
        if not PG_URL:
            pytest.skip("BANSOU_TEST_PG_URL is not set")
        url = await _pg_fresh_database()
        try:
            yield url
        finally:
            await _pg_drop(url)
    else:
        path = tmp_path / "bansou.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
async def database_url(tmp_path, _sqlite_template_path) -> str:
    """A fresh, migrated database for this test on the backend under test."""
    async with fresh_database(BACKEND, tmp_path, _sqlite_template_path) as url:
        yield url


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, content_dir=CONTENT_DIR, default_timezone="Asia/Tokyo",
                    default_language="ja")


@pytest.fixture
async def runtime(settings, clock):
    """The real runtime (database, content, detectors, coach) on the test database, with a fake clock."""
    from bot.runtime import build_runtime

    rt = await build_runtime(settings, clock=clock, migrate=False)
    yield rt
    await rt.close()


def settings_with(settings: Settings, **changes) -> Settings:
    return replace(settings, **changes)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is absent; the LINE OpenAPI checks need ../shared beside the repo")
    return SHARED_DIR
