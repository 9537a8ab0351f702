"""No network call while the inbox holds a user's lock or a database transaction.

The fake LINE and Slack APIs record, at the moment a profile request (LINE's profile, Slack's
users.info) arrives, whether any connection of bansou's database had a transaction open and whether
the person's lock was held. Before adapters were codecs, ``prepare`` looked the profile up inside the
transaction, under the lock; now ``enrich`` does it first and ``prepare`` gets the answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from tests.fake_line_api import FakeLineApi, follow_event, line_id, running_bansou
from tests.fake_slack_api import PEOPLE, SIGNING_SECRET, FakeSlackApi, SlackHarness, dm, slack_settings  # noqa: F401
from tests.line_openapi import LineSpec


@dataclass
class TransactionProbe:
    """Which of a database's connections are inside a transaction right now (engine events)."""

    open: set[int] = field(default_factory=set)
    db: object = None
    seen: list[dict] = field(default_factory=list)

    def attach(self, db) -> None:  # noqa: ANN001
        self.db = db
        engine = db.engine.sync_engine
        event.listen(engine, "begin", lambda conn: self.open.add(id(conn)))
        event.listen(engine, "commit", lambda conn: self.open.discard(id(conn)))
        event.listen(engine, "rollback", lambda conn: self.open.discard(id(conn)))

    def record(self, what: str, user_key: str) -> None:
        self.seen.append({"what": what, "transactions_open": len(self.open),
                          "lock_held": user_key in self.db._local_users})


class ProbedLineApi(FakeLineApi):
    def __init__(self, probe: TransactionProbe, **kw):
        super().__init__(**kw)
        self.probe = probe

    async def _profile(self, request):  # noqa: ANN001
        self.probe.record("profile", "line:" + request.path_params["user_id"])
        return await super()._profile(request)


async def test_a_new_followers_profile_is_read_with_no_transaction_open_and_no_lock_held(settings, clock, shared_dir):
    spec = LineSpec(shared_dir)
    probe = TransactionProbe()
    fake = ProbedLineApi(probe, validate=spec.request_errors)
    emma = line_id()
    fake.profiles[emma] = {"language": "en-GB"}
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            probe.attach(line.runtime.db)
            await line.post(follow_event(emma, reply_token=fake.issue_reply_token(emma)))
            await fake.wait_for(lambda: fake.sent_to(emma))
            [welcome] = fake.sent_to(emma)
            assert welcome.texts[0] == line.runtime.content.text("onboarding.welcome", "en")  # the profile was used
    assert probe.seen == [{"what": "profile", "transactions_open": 0, "lock_held": False}]
    assert fake.violations == []


@dataclass
class ProbedSlackApi(FakeSlackApi):
    probe: TransactionProbe | None = None

    async def _handle(self, request):  # noqa: ANN001
        if request.match_info["method"] == "users.info" and self.probe is not None:
            raw = await request.read()
            from urllib.parse import parse_qsl

            user = dict(parse_qsl(raw.decode())).get("user") or request.query.get("user", "")
            self.probe.record("users.info", f"slack:{self.team_id}:{user}")
        return await super()._handle(request)


@pytest.fixture
async def probed_slack(settings, clock):
    from bot.runtime import build_runtime

    probe = TransactionProbe()
    api = await ProbedSlackApi(users={k: dict(v) for k, v in PEOPLE.items()}, probe=probe).start()
    rt = await build_runtime(slack_settings(settings, api), clock=clock, migrate=False)
    probe.attach(rt.db)
    harness = SlackHarness(rt, api)
    yield harness, probe
    await harness.close()
    await rt.close()
    await api.stop()


async def test_slack_first_contact_and_the_admin_check_call_users_info_outside_any_transaction(probed_slack):
    slack, probe = probed_slack
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-first")
    await slack.process()
    from bot.store import repo
    from bot.types import UserKey

    async with slack.runtime.db.session() as session:
        ben = await repo.get_user(session, UserKey("slack", f"{slack.api.team_id}:UBEN"))
    assert ben is not None and ben.timezone == "Europe/London"  # users.info reached the first turn
    assert probe.seen and all(s == {"what": "users.info", "transactions_open": 0, "lock_held": False}
                              for s in probe.seen), probe.seen
    before = len(probe.seen)
    await slack.post_event(dm("UBEN", "again"), event_id="Ev-second")
    await slack.process()
    assert len(probe.seen) == before  # a known person: no lookup at all
