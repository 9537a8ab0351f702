"""Bad input against a live ``bansou serve``: never a 5xx, never a crash, nothing left half-done.

Bodies come from hypothesis: every LINE event type built from the components of LINE's own
webhook.yml with random values (properly signed, so they get past the signature check), the same
with fields of the wrong type, random JSON, random bytes, invalid UTF-8, huge and deeply nested
bodies; Slack events, interactivity payloads and slash commands (signed); and the web chat's JSON
API. After all of it the server still answers /healthz, every stored event was handled without an
exception, the server logged no errors, and what it sent to LINE passes LINE's OpenAPI description.
"""
from __future__ import annotations

import json
import time
import urllib.parse

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from tests.reliability.live import (LINE_SECRET, SLACK_SECRET, env_flag, inbox_counts,
                                    start_live_stack)
from tests.reliability.openapi_strategies import ANY_JSON, SchemaStrategies, mutated
from tests.reliability.signing import line_headers, slack_headers

EXAMPLES = env_flag("BANSOU_FUZZ_EXAMPLES", 200)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
USERS = [f"U{n:032x}" for n in range(1, 13)]
WORDS = ["今日も夜中まで返信した", "断れなかった", "I did the client's slides for them again", "もう疲れた",
         "help", "/coach", "はい", "no", "設定", "reminders off", "", " ", "🙂", "a" * 300]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from tests.conftest import SHARED_DIR

    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is absent; the fuzzer builds LINE events from ../shared/line-openapi")
    return SHARED_DIR


@pytest.fixture(scope="module")
def live(tmp_path_factory, shared):
    from tests.line_openapi import LineSpec

    spec = LineSpec(shared)
    # One client sends thousands of requests: the web API's rate limit (tested on its own in
    # tests/test_web_hardening.py) would answer most of them 429 and hide what the fuzzer is after.
    stack = start_live_stack(tmp_path_factory.mktemp("fuzz"), line_validate=spec.request_errors,
                             extra_env={"WEB_RATE_LIMIT_PER_MINUTE": "1000000"})
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def schemas(shared) -> SchemaStrategies:
    return SchemaStrategies(shared / "line-openapi" / "webhook.yml")


def line_strategies(schemas: SchemaStrategies):
    """Schema events as LINE could send them, and ones aimed at the paths we act on."""
    raw = schemas.named("Event")
    text_message = st.fixed_dictionaries({"type": st.just("text"), "id": st.text("0123456789", min_size=1, max_size=18),
                                          "text": st.sampled_from(WORDS) | st.text(max_size=200)},
                                         optional={"quoteToken": st.text(max_size=20)})

    @st.composite
    def ours(draw):
        event = dict(draw(raw))
        event["source"] = {"type": "user", "userId": draw(st.sampled_from(USERS))}
        event["mode"] = "active"
        if event["type"] == "message" and draw(st.booleans()):
            event["message"] = draw(text_message)
        if event["type"] == "postback" and draw(st.booleans()):
            event["postback"] = {"data": draw(st.sampled_from(["cmd:help", "go:boundary", "c:x:y:z", "nudge:1:yes",
                                                                "offer:overwork:no", "cmd:delete", ""]))}
        return event

    return raw, ours()


def post_line(client: httpx.Client, body: bytes, **headers) -> httpx.Response:
    return client.post("/line/webhook", content=body, headers={**line_headers(LINE_SECRET, body), **headers})


def assert_clear(r: httpx.Response, allowed: set[int]) -> None:
    assert r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    assert r.status_code in allowed, f"{r.status_code}: {r.text[:300]}"
    if r.status_code >= 400:
        assert r.text.strip(), "a 4xx must say why"


# ---------------------------------------------------------------------------------------- LINE


def test_generated_events_follow_lines_schema(schemas, shared):
    """Every event type webhook.yml maps is generated, and what is generated is valid LINE."""
    from tests.line_openapi import LineSpec

    spec = LineSpec(shared)
    variants = schemas.variants("Event")
    assert len(variants) >= 10, sorted(variants)
    for etype, strategy in variants.items():
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def check(event):
            assert event["type"] == etype
            body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
            assert spec.webhook_errors(body) == []

        check()


def test_line_schema_events_signed_are_acknowledged(live, client, schemas):
    raw, ours = line_strategies(schemas)

    @FUZZ
    @given(st.lists(raw | ours, max_size=4))
    def check(events):
        body = json.dumps({"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False).encode()
        assert_clear(post_line(client, body), {200})

    check()


def test_line_wrong_types_signed_get_a_clear_answer(live, client, schemas):
    raw, ours = line_strategies(schemas)
    top = st.fixed_dictionaries({"destination": ANY_JSON, "events": ANY_JSON}) | ANY_JSON

    @FUZZ
    @given(st.lists(mutated(raw | ours), max_size=3), top, st.booleans())
    def check(events, other, use_other):
        data = other if use_other else {"destination": "U" + "0" * 32, "events": events}
        body = json.dumps(data, ensure_ascii=False).encode()
        assert_clear(post_line(client, body), {200, 400})

    check()


def test_line_random_bytes_signed_get_a_clear_answer(live, client):
    invalid_utf8 = st.binary(max_size=200).map(lambda b: b'{"events": ["\xff\xfe' + b + b'"]}')

    @FUZZ
    @given(st.binary(max_size=2000) | invalid_utf8)
    def check(body):
        assert_clear(post_line(client, body), {200, 400})

    check()


def _ids(cases):
    return [c[0] for c in cases]


LINE_CASES = [
    ("no signature", b'{"destination":"U","events":[]}', {"X-Line-Signature": ""}, {400}),
    ("wrong signature", b'{"destination":"U","events":[]}', {"X-Line-Signature": "bm9wZQ=="}, {401}),
    ("signature not base64", b'{"destination":"U","events":[]}', {"X-Line-Signature": "%%%"}, {401}),
    ("wrong content type", b'{"destination":"U","events":[]}', {"Content-Type": "text/plain"}, {415}),
    ("empty body", b"", {}, {400}),
    ("deeply nested arrays", b'{"events":' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}, {400, 413}),
    ("deeply nested objects", b'{"events":[' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}", {}, {400, 413}),
    ("huge body", b'{"destination":"U","events":[],"pad":"' + b"x" * (3 * 2**20) + b'"}', {}, {413}),
    ("huge number", b'{"destination":"U","events":[{"type":"message","timestamp":' + b"9" * 5000 + b"}]}",
     {}, {200, 400}),
    ("NaN and Infinity", b'{"destination":"U","events":[{"type":"follow","timestamp":NaN,"x":Infinity}]}', {},
     {200, 400}),
    ("lone surrogate", b'{"destination":"U","events":[{"type":"message","source":{"type":"user","userId":"U1"},'
     b'"message":{"type":"text","id":"1","text":"\\ud800"},"webhookEventId":"01SUR","replyToken":"t"}]}', {},
     {200, 400}),
    ("NUL in text", b'{"destination":"U","events":[{"type":"message","source":{"type":"user","userId":"U2"},'
     b'"message":{"type":"text","id":"1","text":"a\\u0000b"},"webhookEventId":"01NUL","replyToken":"t"}]}', {},
     {200, 400}),
    # PostgreSQL text cannot hold NUL, and the inbox's id columns are bounded (found by the fuzzer on PG).
    ("NUL in webhookEventId and userId", b'{"destination":"U","events":[{"type":"message","source":{"type":"user",'
     b'"userId":"U3\\u0000"},"message":{"type":"text","id":"1","text":"hi"},"webhookEventId":"\\u0000"},'
     b'{"type":"follow","source":{"type":"user","userId":"U4"},"webhookEventId":"0\\u0000","replyToken":"t"}]}',
     {}, {200, 400}),
    ("over-long webhookEventId and userId", b'{"destination":"U","events":[{"type":"follow","source":{"type":"user",'
     b'"userId":"U' + b"5" * 400 + b'"},"webhookEventId":"' + b"E" * 400 + b'","replyToken":"t"},'
     b'{"type":"follow","source":{"type":"user","userId":"U6"},"webhookEventId":"' + b"F" * 400 + b'"}]}',
     {}, {200, 400}),
]


@pytest.mark.parametrize("name, body, headers, allowed", LINE_CASES, ids=_ids(LINE_CASES))
def test_line_malformed_requests(live, client, name, body, headers, allowed):
    assert_clear(post_line(client, body, **headers), allowed)


# --------------------------------------------------------------------------------------- Slack


def slack_post(client: httpx.Client, body: bytes, content_type: str, *, timestamp: int | None = None,
               **headers) -> httpx.Response:
    return client.post("/slack/events", content=body,
                       headers={**slack_headers(SLACK_SECRET, body, timestamp=timestamp, content_type=content_type),
                                **headers})


def slack_strategies():
    user = st.sampled_from(["U0SLACK001", "U0SLACK002", "U0SLACK003"])
    text = st.sampled_from(WORDS) | st.text(max_size=200)
    message = st.fixed_dictionaries({
        "type": st.sampled_from(["message", "app_mention", "app_home_opened", "member_joined_channel", "reaction_added",
                                 "app_uninstalled", "tokens_revoked"]),
        "user": user, "text": text, "channel": st.sampled_from(["D0DM00001", "C0CHAN001"]),
        "channel_type": st.sampled_from(["im", "channel", "group", "mpim"]),
        "ts": st.from_regex(r"1[0-9]{9}\.[0-9]{6}", fullmatch=True),
        "event_ts": st.from_regex(r"1[0-9]{9}\.[0-9]{6}", fullmatch=True),
    }, optional={"subtype": st.sampled_from(["bot_message", "message_changed", "message_deleted", "file_share"]),
                 "bot_id": st.just("B0BOT00001"), "thread_ts": st.just("1700000000.000100"),
                 "client_msg_id": st.uuids().map(str), "tab": st.sampled_from(["home", "messages"])})
    callback = st.fixed_dictionaries({
        "type": st.just("event_callback"), "token": st.just("legacy"), "team_id": st.just("T0000000001"),
        "api_app_id": st.just("A0APP00001"), "event": message,
        "event_id": st.from_regex(r"Ev[0-9A-Z]{10}", fullmatch=True), "event_time": st.integers(0, 2**33),
    }, optional={"authorizations": st.just([{"team_id": "T0000000001", "user_id": "U0BOT00001", "is_bot": True}])})
    action = st.fixed_dictionaries({"action_id": st.text(max_size=30) | st.sampled_from(["choice", "cmd:help"]),
                                    "value": st.text(max_size=60) | st.sampled_from(["cmd:help", "go:boundary"]),
                                    "type": st.just("button"), "block_id": st.text(max_size=10)})
    block_actions = st.fixed_dictionaries({
        "type": st.just("block_actions"), "team": st.just({"id": "T0000000001", "domain": "t"}),
        "user": st.builds(lambda u: {"id": u, "team_id": "T0000000001"}, user),
        "api_app_id": st.just("A0APP00001"), "trigger_id": st.just("1.2.3"),
        "channel": st.just({"id": "D0DM00001"}), "actions": st.lists(action, max_size=2),
    }, optional={"container": ANY_JSON, "message": ANY_JSON, "response_url": st.just("http://127.0.0.1:9/x")})
    return callback, block_actions, user, text


def test_slack_signed_events_get_a_clear_answer(live, client):
    callback, _, _, _ = slack_strategies()

    @FUZZ
    @given(callback | mutated(callback) | ANY_JSON)
    def check(data):
        body = json.dumps(data, ensure_ascii=False).encode()
        assert_clear(slack_post(client, body, "application/json"), {200, 400, 404})

    check()


def test_slack_signed_interactivity_and_commands_get_a_clear_answer(live, client):
    _, block_actions, user, text = slack_strategies()
    command = st.fixed_dictionaries({"command": st.sampled_from(["/coach", "/other"]), "text": text, "user_id": user,
                                     "team_id": st.just("T0000000001"), "channel_id": st.just("D0DM00001"),
                                     "trigger_id": st.just("1.2.3"),
                                     "response_url": st.just("http://127.0.0.1:9/response")})

    @FUZZ
    @example({"command": "/coach", "text": "夜中まで返信した", "user_id": "U0SLACK001", "team_id": "T0000000001",
              "channel_id": "D0DM00001", "trigger_id": "9" * 300, "response_url": "http://127.0.0.1:9/response"})
    @given(st.one_of(block_actions.map(lambda p: {"payload": json.dumps(p)}),
                     mutated(block_actions).map(lambda p: {"payload": json.dumps(p)}),
                     st.text(max_size=300).map(lambda p: {"payload": p}),
                     command, mutated(command)))
    def check(form):
        body = urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}).encode()
        assert_clear(slack_post(client, body, "application/x-www-form-urlencoded"), {200, 400, 404})

    check()


SLACK_CASES = [
    ("no signature", b'{"type":"url_verification","challenge":"c"}', "application/json",
     {"X-Slack-Signature": ""}, {400, 401, 403}),
    ("wrong signature", b'{"type":"url_verification","challenge":"c"}', "application/json",
     {"X-Slack-Signature": "v0=00"}, {401, 403}),
    ("random bytes", b"\xff\xfe\x00garbage", "application/json", {}, {400}),
    ("invalid UTF-8 form", b"payload=%FF%FE", "application/x-www-form-urlencoded", {}, {200, 400}),
    ("deeply nested", b'{"type":"event_callback","event":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "application/json", {}, {400, 413}),
    ("huge body", b'{"type":"event_callback","pad":"' + b"x" * (3 * 2**20) + b'"}', "application/json", {},
     {400, 413}),
    ("url verification", b'{"type":"url_verification","challenge":"abc123","token":"t"}', "application/json", {},
     {200}),
]


@pytest.mark.parametrize("name, body, ctype, extra, allowed", SLACK_CASES, ids=_ids(SLACK_CASES))
def test_slack_malformed_requests(live, client, name, body, ctype, extra, allowed):
    assert_clear(slack_post(client, body, ctype, **extra), allowed)


def test_slack_stale_timestamp_is_refused(live, client):
    body = b'{"type":"url_verification","challenge":"c"}'
    r = slack_post(client, body, "application/json", timestamp=int(time.time()) - 3600)
    assert_clear(r, {400, 401, 403})


# ------------------------------------------------------------------------------------ web chat


def test_web_api_bodies_get_a_clear_answer(live, client):
    message = st.fixed_dictionaries({}, optional={"text": st.sampled_from(WORDS) | st.text(max_size=2100) | ANY_JSON,
                                                  "choice": st.sampled_from(["cmd:help", "go:boundary", "x"]) | ANY_JSON,
                                                  "lang": st.sampled_from(["ja", "en", "xx"]) | ANY_JSON})
    body = (message | mutated(message) | ANY_JSON).map(lambda d: json.dumps(d, ensure_ascii=False).encode()) \
        | st.binary(max_size=500)
    ctype = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                             "application/json; charset=latin-1", ""])

    @FUZZ
    @given(st.sampled_from(["/api/start", "/api/message"]), body, ctype)
    def check(path, data, content_type):
        r = client.post(path, content=data, headers={"Content-Type": content_type} if content_type else {})
        assert_clear(r, {200, 400, 413, 415, 422})
        if r.status_code >= 400:
            assert "error" in r.json()

    check()


def test_web_api_queries_get_a_clear_answer(live, client):
    value = st.text(max_size=30) | st.integers().map(str) | st.sampled_from(["-1", "1e9", "０", "NaN", "9" * 40])

    @FUZZ
    @given(st.sampled_from(["/api/trend?weeks=", "/api/messages?after=", "/api/session?x="]), value)
    def check(path, v):
        r = client.get(path + urllib.parse.quote(v))
        assert_clear(r, {200, 400, 422})

    check()


WEB_CASES = [
    ("deeply nested", b'{"text":' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}, {400, 413}),
    ("huge body", b'{"text":"' + b"x" * (2 * 2**20) + b'"}', {}, {413}),
    ("invalid UTF-8", b'{"text":"\xff\xfe"}', {}, {400}),
    ("cross-site", b'{"text":"hi"}', {"Origin": "https://evil.example"}, {403}),
    ("bad cookie", b'{"text":"hi"}', {"Cookie": "bansou_visitor=garbage.garbage"}, {200, 400, 401}),
]


@pytest.mark.parametrize("name, body, headers, allowed", WEB_CASES, ids=_ids(WEB_CASES))
def test_web_api_malformed_requests(live, client, name, body, headers, allowed):
    r = client.post("/api/message", content=body, headers={"Content-Type": "application/json", **headers})
    assert_clear(r, allowed)


# ------------------------------------------------------------------------------------ afterwards


def test_after_the_fuzzing_the_app_is_healthy_and_handled_everything(live, client):
    assert client.get("/healthz").status_code == 200
    assert live.server.alive()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = inbox_counts(live.database_url)
        if not any(status in ("pending",) for status, _ in counts):
            break
        time.sleep(0.5)
    counts = inbox_counts(live.database_url)
    assert not any(status == "pending" for status, _ in counts), counts
    assert not any(error == "prepare" for _, error in counts), f"an event crashed the engine: {counts}"
    assert live.error_log_lines() == []
    assert live.line.violations == []
