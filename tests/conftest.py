"""Shared fixtures. Every database test runs on the backend named by BANSOU_TEST_DB (sqlite by
default); `scripts/test` runs the suite on SQLite, then the ``backend`` tests again on PostgreSQL.

Each test gets its own freshly migrated database: a copy of a migrated SQLite file, or on
PostgreSQL a new database cloned from a migrated template (cheap, and tests never share rows).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.transcript import CONTENT_DIR, shipped_content

# Shared harnesses whose fixtures every module may use without importing them.
pytest_plugins = ["tests.fake_slack_api", "tests.web_harness", "tests.browser_harness"]

BACKEND = os.environ.get("BANSOU_TEST_DB", "sqlite")
PG_URL = os.environ.get("BANSOU_TEST_PG_URL", "")
SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared"


def pytest_configure(config):
    config.addinivalue_line("markers", "backend: runs on every database backend (SQLite and PostgreSQL passes)")
    config.addinivalue_line("markers", "sqlite_only: runs only in the SQLite pass")
    config.addinivalue_line("markers", "postgres_only: runs only in the PostgreSQL pass")
    config.addinivalue_line("markers", "subprocess: starts bansou (or Python) processes; not in `make check`")


def pytest_sessionfinish(session, exitstatus):
    template = _template_ready.pop("template", None)
    if template:
        asyncio.run(_pg_drop(_pg_admin_url(template)))


# The PostgreSQL pass runs what can differ by backend, and only that: the storage contract
# (test_store_contract.py runs itself over both backends in the SQLite pass) plus these modules,
# whose behaviour rests on SQL that is written per dialect or on how each backend locks, claims,
# migrates and fails. Every other module reaches the database only through the repo, inbox and
# delivery calls covered here, so it runs once, on SQLite. A test elsewhere can opt in with
# ``@pytest.mark.backend``; ``postgres_only`` tests are in the PostgreSQL pass by definition.
BACKEND_MODULES = frozenset({
    "test_coach_store.py",            # the per-message Core statements, a failed turn rolled back, user locks
    "test_inbox.py",                  # enqueue is written per dialect; claims and leases
    "test_inbox_worker.py",           # claiming, group commit and retries under concurrency
    "test_inbox_horizon.py",          # dead deliveries and their replay
    "test_group_commit_isolation.py", # one poisoned row must not sink a group commit (a PostgreSQL refusal)
    "test_migrations.py",             # Alembic per dialect (batch mode on SQLite, 0006's branches)
    "test_multiprocess.py",           # several processes on one PostgreSQL
    "test_reliability_db_outage.py",  # the database going away and coming back
    "test_reliability_crash.py",      # a killed process's claimed work is taken up again
    "test_reliability_delivery.py",   # delivery states, backoff and "never twice" on the platform's faults
    "test_reliability_worker.py",     # reminder claims (FOR UPDATE SKIP LOCKED on PostgreSQL) across a kill
    "test_reliability_soak.py",       # many conversations at once: pools, locks, memory
    "test_reminders_story.py",        # the reminder outbox and its claims, two workers on one database
    "test_privacy.py",                # export and erasure of every table
    "test_ops.py",                    # /healthz and /readyz per backend
    "test_ops_security.py",           # read-only PostgreSQL, a SQLite file deleted under us
    "test_ops_processes.py",          # a reply in flight across SIGTERM (the inbox's sending state)
    "test_web_api.py",                # the web identity secret and pending messages (dialect upserts)
    "test_web_hardening.py",          # purges, and ids reused after a table empties
    "test_line_webhook.py",           # ack-first ingest on its own autocommit connection
    "test_line_delivery.py",          # group notices (a dialect upsert), work resumed at the next start
    "test_slack_delivery.py",         # the posted-parts ledger across retries
    "test_slack_home_pulse.py",       # a week's pulse claimed by a conditional UPDATE, posted once
    "test_store_backend.py",          # the driver's behaviour: errors, rollbacks, an abandoned transaction
    "test_inbox_enrichment.py",       # no transaction or lock open while a profile is fetched
})


# Kept out of `make check` (the fast selection): tests that start processes (``subprocess``) and tests
# that take seconds in-process (``slow``), as whole modules or as single tests ("module::test", any
# parameters). A test that starts a process without the mark fails in `make check`, naming the mark.
SUBPROCESS_MODULES = frozenset({
    "test_cli_chat.py", "test_detect_cli.py", "test_fuzz_webhooks.py", "test_import_contracts.py", "test_multiprocess.py",
    "test_ops_processes.py", "test_reliability_crash.py", "test_reliability_db_outage.py",
    "test_reliability_soak.py", "test_reliability_worker.py",
})
SUBPROCESS_TESTS = frozenset({
    "test_content_validation.py::test_content_check_command_and_refused_start_up",
    "test_content_validation.py::test_graph_prints_mermaid",
    "test_crisis_channels.py::test_bansou_chat_shows_where_the_support_lines_go",
    "test_inbox_horizon.py::test_past_the_horizon_a_delivery_is_dead_counted_and_replayed_by_the_cli",
    "test_migrations.py::test_the_operator_cli_migrates_an_empty_database",
    "test_ops.py::test_bot_imports_no_web_framework_or_platform_sdk",
    "test_ops.py::test_a_running_server_reports_a_database_that_goes_away_and_comes_back",
    "test_ops.py::test_serve_refuses_every_half_configured_channel_in_one_line",
    "test_ops.py::test_worker_refuses_a_half_configured_channel_too",
    "test_privacy.py::test_operators_export_and_delete_a_user_from_the_command_line",
    "test_reminders_story.py::test_send_due_command",
    "test_web_api.py::test_a_chosen_reminder_reaches_the_web_page_and_its_buttons_answer_it",
})
SLOW_MODULES = frozenset({"test_reliability_delivery.py", "test_hostile_traffic.py"})
SLOW_TESTS = frozenset({
    "test_detect_model.py::test_training_is_deterministic_and_the_result_loads",
    "test_line_richmenu.py::test_setup_creates_uploads_sets_default_and_aliases_then_a_second_run_changes_nothing",
    "test_line_richmenu.py::test_the_committed_images_are_what_render_menu_draws",
    "test_migrations.py::test_the_models_and_the_migrations_agree",
    "test_migrations.py::test_each_step_downgrades_cleanly",
    "test_migrations.py::test_upgrade_downgrade_upgrade_leaves_the_same_schema",
    "test_reminders_story.py::test_weekdays_at_eight_across_a_restart_never_twice",
    "test_reminders_story.py::test_ignored_three_times_the_question_comes_once",
    "test_reminders_story.py::test_pause_for_a_week",
    "test_reminders_story.py::test_new_york_nine_oclock_through_the_spring_change",
    "test_reminders_story.py::test_two_workers_on_one_database_never_send_the_same_reminder",
    "test_reminders_story.py::test_a_follow_up_queued_with_older_values_falls_back_to_its_plain_wording",
    "test_slack_done_when.py::test_done_when_a_signed_dm_is_answered_a_retry_is_not_coach_acks_and_app_home_shows_the_trend",
    "test_understanding.py::test_content_check_names_bad_interrupts_understands_and_means",
    "test_web_api.py::test_delete_my_data_erases_the_visitor_and_forgets_the_cookie",
})


def _listed(item, modules: frozenset, tests: frozenset) -> bool:
    return item.path.name in modules or f"{item.path.name}::{item.originalname}" in tests


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _listed(item, SUBPROCESS_MODULES, SUBPROCESS_TESTS):
            item.add_marker(pytest.mark.subprocess)
        if _listed(item, SLOW_MODULES, SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
        if item.path.name in BACKEND_MODULES or item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.backend)
        elif not item.get_closest_marker("backend"):
            item.add_marker(pytest.mark.sqlite_only)
        if BACKEND == "sqlite" and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL-only test; runs in the PostgreSQL pass"))


_processes_started = [0]


def _count_processes(event: str, _args) -> None:
    if event in ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec"):
        _processes_started[0] += 1


sys.addaudithook(_count_processes)


@pytest.fixture(autouse=True)
def _processes_are_marked(request):
    """In a run that leaves out ``subprocess`` tests (`make check`), a test that starts a process
    without the mark fails: the fast selection stays fast by construction."""
    before = _processes_started[0]
    yield
    if (_processes_started[0] != before and "not subprocess" in (request.config.option.markexpr or "")
            and not request.node.get_closest_marker("subprocess") and not request.node.get_closest_marker("browser")):
        pytest.fail(f"{request.node.nodeid} starts a process: list it in SUBPROCESS_TESTS (tests/conftest.py) "
                    "so `make check` leaves it to `make test`")


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


@pytest.fixture(scope="session", autouse=True)
def _shipped_content_loaded_once():
    """Runtimes built on the shipped content share one loaded copy, as the detector already is shared:
    reading and validating content/ costs about a second, and some three hundred tests build a runtime.
    Content anywhere else (a test's edited copy) is loaded as usual; the content tests call
    ``load_content`` itself."""
    import bot.runtime as runtime_module

    original = getattr(runtime_module, "load_content", None)
    if original is None:  # the runtime no longer loads content this way: nothing to share
        yield
        return
    shipped = CONTENT_DIR.resolve()

    def load_content(content_dir, *args, **kwargs):
        if not args and not kwargs and Path(content_dir).resolve() == shipped:
            return shipped_content()
        return original(content_dir, *args, **kwargs)

    runtime_module.load_content = load_content
    try:
        yield
    finally:
        runtime_module.load_content = original


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
    return settings.model_copy(update=changes)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is absent; the LINE OpenAPI checks need ../shared beside the repo")
    return SHARED_DIR
