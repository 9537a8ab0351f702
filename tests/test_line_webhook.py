"""POST /line/webhook on a real server: what LINE's platform (or anyone else) gets back, and that
nothing happens unless the body is signed by our channel secret."""
from __future__ import annotations

import copy

import pytest

from tests.fake_line_api import (
    BOT_ID,
    CHANNEL_SECRET,
    FakeLineApi,
    callback_body,
    line_id,
    running_bansou,
    text_event,
    webhook_headers,
)
from tests.line_openapi import LineSpec


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


@pytest.fixture
async def line(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as world:
            yield world
    assert fake.violations == []


async def test_the_consoles_verify_button_gets_200(line):
    body = b'{"destination":"' + BOT_ID.encode() + b'","events":[]}'
    response = await line.post(body=body)
    assert response.status_code == 200
    assert await line.inbox_rows() == []


async def test_a_missing_signature_is_refused_and_nothing_is_stored(line):
    body = callback_body(text_event(line_id(), "hello", reply_token="t"))
    response = await line.post(body=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "X-Line-Signature" in response.text
    assert await line.inbox_rows() == [] and line.fake.requests == []


async def test_a_wrong_signature_is_refused_and_nothing_is_stored(line):
    body = callback_body(text_event(line_id(), "hello", reply_token="t"))
    forged = webhook_headers(body, "not-our-secret")
    assert (await line.post(body=body, headers=forged)).status_code == 401
    # A signature for other bytes (here: the body before someone changed the text) fails too.
    tampered = body.replace(b"hello", b"HELLO")
    assert (await line.post(body=tampered, headers=webhook_headers(body, CHANNEL_SECRET))).status_code == 401
    await line.settle()
    assert await line.inbox_rows() == [] and line.fake.requests == []


async def test_malformed_json_gets_400_with_a_reason(line):
    body = b'{"destination": "U0", "events": [ {'
    response = await line.post(body=body, headers=webhook_headers(body, CHANNEL_SECRET))
    assert response.status_code == 400 and "malformed JSON" in response.text
    wrong_shape = b'{"destination": "U0", "events": "none"}'
    response = await line.post(body=wrong_shape, headers=webhook_headers(wrong_shape, CHANNEL_SECRET))
    assert response.status_code == 400 and "events" in response.text
    assert await line.inbox_rows() == []


async def test_numbers_json_does_not_have_get_400_and_nothing_is_stored(line):
    """Python reads NaN and Infinity; PostgreSQL's json type does not, so storing one would fail
    (a 503, and LINE redelivering it for good)."""
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        body = callback_body(text_event(line_id(), "hello", reply_token="t")).replace(
            b'"timestamp":', b'"timestamp":' + constant + b',"was":', 1)
        assert constant in body
        response = await line.post(body=body, headers=webhook_headers(body, CHANNEL_SECRET))
        assert response.status_code == 400 and "malformed JSON" in response.text
    assert await line.inbox_rows() == []


async def test_a_body_that_is_not_json_by_content_type_gets_415(line):
    body = callback_body(text_event(line_id(), "hello", reply_token="t"))
    headers = dict(webhook_headers(body, CHANNEL_SECRET), **{"Content-Type": "text/plain"})
    response = await line.post(body=body, headers=headers)
    assert response.status_code == 415
    assert await line.inbox_rows() == []


async def test_other_methods_get_405_naming_post_and_the_rest_of_the_app_is_routed_as_before(line):
    for method in ("GET", "PUT", "DELETE"):
        response = await line.http.request(method, "/line/webhook")
        assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert (await line.http.get("/healthz")).json() == {"status": "ok"}
    assert (await line.http.post("/line/webhook/extra", content=b"{}")).status_code == 404
    assert await line.inbox_rows() == []


async def test_a_huge_body_is_refused_from_its_content_length(line):
    body = b"{" + b" " * (1024 * 1024) + b"}"
    response = await line.post(body=body, headers=webhook_headers(body, CHANNEL_SECRET))
    assert response.status_code == 413


async def test_a_huge_body_without_a_length_is_refused_while_reading(line):
    sent = 0

    async def endless():
        nonlocal sent
        chunk = b" " * 65536
        for _ in range(64):  # 4 MiB if the server kept reading
            sent += len(chunk)
            yield chunk

    response = await line.http.post("/line/webhook", content=endless(),
                                    headers={"Content-Type": "application/json", "X-Line-Signature": "x"})
    assert response.status_code == 413
    assert "content-length" not in {k.lower() for k in response.request.headers}


async def test_unknown_event_types_are_acknowledged_and_ignored(line):
    user = line_id()
    odd = {"type": "videoPlayComplete", "mode": "active", "timestamp": 1767600000000,
           "webhookEventId": "01JGZZZZZZZZZZZZZZZZZZZZZZ", "deliveryContext": {"isRedelivery": False},
           "source": {"type": "user", "userId": user}, "replyToken": "r",
           "videoPlayComplete": {"trackingId": "track"}}
    response = await line.post(odd)
    assert response.status_code == 200
    await line.settle()
    assert await line.inbox_rows() == [] and line.fake.requests == []


async def test_events_are_stored_before_the_200(settings, clock, spec):
    # A process that acknowledges and then never gets to work: the event is already in the inbox.
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec, lifespan=False) as line:
            user = line_id()
            event = text_event(user, "hello", reply_token=fake.issue_reply_token(user))
            assert (await line.post(event)).status_code == 200
            [row] = await line.inbox_rows()
            assert (row.event_id, row.user_key, row.status) == (event["webhookEventId"], f"line:{user}", "pending")
            assert row.payload["message"]["text"] == "hello"


async def test_one_body_may_carry_several_users_and_a_repeated_event_is_stored_once(line):
    alice, bob = line_id(), line_id()
    a = text_event(alice, "hi", reply_token=line.fake.issue_reply_token(alice))
    b = text_event(bob, "hello", reply_token=line.fake.issue_reply_token(bob))
    assert (await line.post(a, b, copy.deepcopy(a))).status_code == 200
    await line.fake.wait_for(lambda: line.fake.sent_to(alice) and line.fake.sent_to(bob))
    await line.settle()
    assert len(line.fake.sent_to(alice)) == 1 and len(line.fake.sent_to(bob)) == 1
    assert len(await line.inbox_rows()) == 2


@pytest.mark.parametrize("token", [12345, ["t"], {"t": 1}, ""], ids=["number", "list", "object", "empty"])
async def test_a_reply_token_that_is_not_a_token_is_answered_by_push_not_failed(line, token):
    """Not what LINE sends, but signed all the same (the fuzzer found it): LINE's reply API would refuse
    such a request as malformed, a final 400 and no answer at all. The answer goes by push instead."""
    alice = line_id()
    event = text_event(alice, "hello", reply_token="placeholder")
    event["replyToken"] = token
    body = callback_body(event)
    assert (await line.post(body=body, headers=webhook_headers(body, CHANNEL_SECRET))).status_code == 200
    await line.fake.wait_for(lambda: line.fake.sent_to(alice))
    await line.settle()
    assert [s.via for s in line.fake.sent if s.to == alice] == ["push"]
    assert [r.path for r in line.fake.requests if r.path != "/v2/bot/chat/loading/start"] == ["/v2/bot/message/push"]
