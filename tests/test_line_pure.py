"""The LINE adapter's pure parts: signature, which events we keep, event → Inbound, reply → LINE
messages, text splitting at LINE's limit, error classification."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest

from bot.types import Choice, Reply
from handlers.line.api import batch_retry_key, delivery_error, retry_after_seconds
from handlers.line.events import (
    BadWebhook,
    parse_callback,
    profile_language,
    sign,
    signature_ok,
    sort_events,
    to_inbound,
)
from handlers.line.messages import (
    QUICK_REPLY_LABEL_MAX,
    batches,
    cut_label,
    line_length,
    quick_reply_items,
    split_text,
    to_line_messages,
)
from tests.fake_line_api import (
    follow_event,
    group_text_event,
    line_id,
    media_event,
    postback_event,
    text_event,
    unfollow_event,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
SECRET = "s3cret-channel"


# ---- signature ---------------------------------------------------------------------------------

def test_signature_is_base64_hmac_sha256_of_the_raw_body():
    body = '{"destination":"U0","events":[]}'.encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(body, SECRET) == expected
    assert signature_ok(body, expected, SECRET)


@pytest.mark.parametrize("signature", [None, "", "bm9wZQ==", sign(b"other body", SECRET), sign(b"{}", "other")])
def test_wrong_or_missing_signatures_fail(signature):
    assert not signature_ok(b"{}", signature, SECRET)


def test_signature_covers_the_exact_bytes_not_the_parsed_json():
    body = b'{"destination":"U0","events":[]}'
    reformatted = json.dumps(json.loads(body), indent=1).encode()
    assert not signature_ok(reformatted, sign(body, SECRET), SECRET)


# ---- webhook body ------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[]", b'{"events": {}}', b'{"events": [1]}'])
def test_malformed_bodies_are_refused_with_a_reason(body):
    with pytest.raises(BadWebhook) as err:
        parse_callback(body)
    assert err.value.reason


def test_the_consoles_verification_request_has_no_events():
    assert parse_callback(b'{"destination":"U0123","events":[]}') == []


def test_we_keep_one_to_one_events_and_group_messages_and_skip_the_rest():
    user, group = line_id(), line_id("C")
    events = [text_event(user, "hi", reply_token="t1"), postback_event(user, "go:checkin", reply_token="t2"),
              follow_event(user, reply_token="t3"), unfollow_event(user),
              group_text_event(group, user, "hi all", reply_token="t4"),
              dict(text_event(user, "standby", reply_token=None), mode="standby"),
              {"type": "beacon", "mode": "active", "timestamp": 1, "webhookEventId": "X",
               "deliveryContext": {"isRedelivery": False}, "source": {"type": "user", "userId": user}},
              {"type": "leave", "mode": "active", "timestamp": 1, "webhookEventId": "Y",
               "deliveryContext": {"isRedelivery": False}, "source": {"type": "group", "groupId": group}}]
    sorted_events = sort_events(events)
    assert [e.user_key for e in sorted_events.keep] == [f"line:{user}"] * 4 + [f"line:group:{group}"]
    assert [e.event_id for e in sorted_events.keep] == [e["webhookEventId"] for e in events[:5]]
    assert sorted_events.skipped == ["message", "beacon", "leave"]


def test_an_event_without_a_webhook_event_id_still_gets_a_stable_id():
    event = text_event(line_id(), "hi", reply_token="t")
    del event["webhookEventId"]
    first = sort_events([event]).keep[0].event_id
    event["deliveryContext"]["isRedelivery"] = True
    assert sort_events([event]).keep[0].event_id == first


# ---- event → Inbound ---------------------------------------------------------------------------

def test_text_postback_follow_unfollow_become_the_cores_inbounds():
    user = line_id()
    text = to_inbound(text_event(user, "疲れた", reply_token="t"), received_at=NOW, event_id="E1")
    assert (text.kind, text.text, text.user.platform, text.user.user_id, text.event_id) == ("text", "疲れた", "line", user, "E1")
    choice = to_inbound(postback_event(user, "c:onboarding:language:en", reply_token="t"), received_at=NOW)
    assert (choice.kind, choice.choice) == ("choice", "c:onboarding:language:en")
    follow = to_inbound(follow_event(user, reply_token="t"), received_at=NOW, lang_hint="en")
    assert (follow.kind, follow.lang_hint) == ("follow", "en")
    assert to_inbound(unfollow_event(user), received_at=NOW).kind == "unfollow"


@pytest.mark.parametrize("shape", [["a list"], "a string", 7, True])
def test_a_message_or_postback_that_is_not_an_object_is_handled_not_crashed(shape):
    user = line_id()
    message = dict(text_event(user, "hi", reply_token="t"), message=shape)
    assert to_inbound(message, received_at=NOW).kind == "unsupported"
    postback = dict(postback_event(user, "go:menu", reply_token="t"), postback=shape)
    assert to_inbound(postback, received_at=NOW) is None


@pytest.mark.parametrize("kind", ["sticker", "image", "video", "audio", "file", "location"])
def test_media_we_cannot_read_is_unsupported(kind):
    inbound = to_inbound(media_event(line_id(), kind, reply_token="t"), received_at=NOW)
    assert inbound.kind == "unsupported" and inbound.text is None


def test_group_events_never_reach_the_engine():
    assert to_inbound(group_text_event(line_id("C"), line_id(), "hi", reply_token="t"), received_at=NOW) is None


@pytest.mark.parametrize("tag,lang", [("ja", "ja"), ("en", "en"), ("en-US", "en"), ("EN_gb", "en"),
                                      ("zh-Hant", None), ("", None), (None, None)])
def test_profile_language_is_ja_or_en_or_nothing(tag, lang):
    assert profile_language(tag) == lang


# ---- text splitting ----------------------------------------------------------------------------

def test_short_text_is_one_message():
    assert split_text("こんにちは。") == ["こんにちは。"]
    assert split_text("   \n") == []


def test_long_japanese_text_splits_after_sentence_ends():
    sentence = "今日は少し休みましょう。"  # 12 characters
    text = sentence * 1000  # 12,000 characters
    chunks = split_text(text)
    assert len(chunks) == 3
    assert all(line_length(c) <= 5000 and c.endswith("。") for c in chunks)
    assert "".join(chunks) == text


def test_english_text_splits_on_sentence_ends_and_newlines_not_inside_words_or_numbers():
    text = ("It was 3.5 hours. " * 200 + "\n") * 3
    chunks = split_text(text, limit=1000)
    assert all(line_length(c) <= 1000 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert "".join(c.replace(" ", "").replace("\n", "") for c in chunks) == text.replace(" ", "").replace("\n", "")


def test_a_sentence_longer_than_the_limit_is_hard_cut_and_nothing_is_lost():
    text = "あ" * 12_001 + "。次の文。"
    chunks = split_text(text)
    assert [line_length(c) for c in chunks] == [5000, 5000, 2006]
    assert "".join(chunks) == text


def test_emoji_count_double_and_are_never_cut_in_half():
    text = "😊" * 3000  # 6000 UTF-16 units
    chunks = split_text(text)
    assert [line_length(c) for c in chunks] == [5000, 1000]
    assert "".join(chunks) == text


# ---- replies → LINE messages -------------------------------------------------------------------

def test_choices_become_postback_quick_replies_on_the_last_message():
    replies = [Reply("Welcome.", "a"),
               Reply("Which language?", "b", choices=(Choice("日本語", "c:onboarding:language:ja"),
                                                      Choice("English", "c:onboarding:language:en")))]
    messages = to_line_messages(replies)
    assert [m["text"] for m in messages] == ["Welcome.", "Which language?"]
    assert "quickReply" not in messages[0]
    assert messages[1]["quickReply"]["items"] == [
        {"type": "action", "action": {"type": "postback", "label": "日本語", "data": "c:onboarding:language:ja",
                                      "displayText": "日本語"}},
        {"type": "action", "action": {"type": "postback", "label": "English", "data": "c:onboarding:language:en",
                                      "displayText": "English"}}]


def test_long_labels_are_cut_to_twenty_but_the_chat_shows_the_whole_label():
    label = "I'd rather not say right now, thanks"
    [item] = quick_reply_items([Choice(label, "c:f:s:x")])
    assert line_length(item["action"]["label"]) <= QUICK_REPLY_LABEL_MAX
    assert item["action"]["label"].endswith("…")
    assert item["action"]["displayText"] == label
    assert cut_label("短いラベル") == "短いラベル"


def test_at_most_thirteen_buttons_and_none_with_data_line_would_refuse():
    choices = [Choice(f"option {i}", f"c:f:s:{i}") for i in range(15)] + [Choice("too long", "x" * 301)]
    items = quick_reply_items(choices)
    assert len(items) == 13 and all(len(i["action"]["data"]) <= 300 for i in items)
    assert quick_reply_items([Choice("bad", "x" * 301), Choice("", "c:f:s:a")]) == []


def test_a_long_reply_spans_messages_and_requests_go_five_at_a_time():
    long = "Breathe. " * 1200  # about 10,800 characters
    messages = to_line_messages([Reply(long, "x"), Reply("Anything else?", "y", choices=(Choice("No", "cmd:stop"),))])
    assert len(messages) == 4 and all(line_length(m["text"]) <= 5000 for m in messages)
    assert "quickReply" in messages[-1]
    assert [len(b) for b in batches(messages * 3)] == [5, 5, 2]


# ---- errors ------------------------------------------------------------------------------------

class _Err(Exception):
    def __init__(self, status, message, headers=None):
        self.status, self.reason, self.headers = status, "reason", headers or {}
        self.body = json.dumps({"message": message}).encode()


@pytest.mark.parametrize("status,message,headers,retryable,retry_after", [
    (500, "Internal error", {}, True, None),
    (503, "Unavailable", {"Retry-After": "7"}, True, 7.0),
    (429, "Too many requests", {"Retry-After": "2"}, True, 2.0),
    (429, "You have reached your monthly limit.", {}, False, None),
    (400, "The request body has 1 error(s)", {}, False, None),
    (401, "Authentication failed", {}, False, None),
])
def test_line_failures_are_retryable_or_final(status, message, headers, retryable, retry_after):
    err = delivery_error(_Err(status, message, headers), op="push")
    assert (err.retryable, err.retry_after, err.status) == (retryable, retry_after, status)


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Mon, 05 Jan 2026 09:00:30 GMT", now=NOW) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_each_request_of_a_send_has_its_own_stable_uuid_retry_key():
    import uuid

    key = str(uuid.uuid4())
    keys = [batch_retry_key(key, i) for i in range(3)]
    assert keys[0] == key and len(set(keys)) == 3
    assert keys == [batch_retry_key(key, i) for i in range(3)]
    assert all(uuid.UUID(k) for k in keys)


def test_the_push_target_follows_the_source_type_like_the_queue_does():
    from handlers.line.events import push_target, route_key

    user = text_event("U" + "a" * 32, "hi", reply_token="t")
    user["source"]["groupId"] = "C" + "b" * 32  # stray: a user source has no group
    assert push_target(user) == "U" + "a" * 32 and route_key(user) == "line:U" + "a" * 32
    group = group_text_event("C" + "c" * 32, "U" + "d" * 32, "hi", reply_token="t")
    assert push_target(group) == "C" + "c" * 32


@pytest.mark.parametrize("token, expected", [("abc", "abc"), ("", None), (None, None), (7, None), (["x"], None),
                                             ("x" * 300, None)])
def test_only_a_string_reply_token_is_used_for_the_reply_api(token, expected):
    from handlers.line.events import reply_token

    event = text_event("U" + "a" * 32, "hi", reply_token="t")
    event["replyToken"] = token
    assert reply_token(event) == expected


def test_split_text_hands_each_caller_its_own_list():
    """The split is cached (the same prompts go to many people); a caller changing its list must not
    change what the next caller gets."""
    first = split_text("一つ目。二つ目。", limit=5)
    first.append("extra")
    assert split_text("一つ目。二つ目。", limit=5) == ["一つ目。", "二つ目。"]
