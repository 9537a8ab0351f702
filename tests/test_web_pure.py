"""Pure parts of the web chat: the trend summary, language choice, and request checks."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from handlers.web.trend import CheckinPoint, SignalPoint, summarise, window_start
from handlers.web.validate import BadRequest, check_same_origin, parse_message, pick_language

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 1, 14, 3, 0, tzinfo=timezone.utc)  # Wednesday 12:00 in Tokyo


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=timezone.utc)


def test_weeks_start_on_monday_in_the_users_timezone():
    start = window_start(NOW, tz=TOKYO, weeks=2)
    assert start == datetime(2026, 1, 5, tzinfo=TOKYO)  # the Monday a week before this one
    # Sunday 2026-01-11 20:00 UTC is already Monday 05:00 in Tokyo: it belongs to this week.
    out = summarise([CheckinPoint(at(11, 20), 4, 3, 2)], [], tz=TOKYO, now=NOW, weeks=2)
    assert [w["week"] for w in out["weeks"]] == ["2026-01-05", "2026-01-12"]
    assert [w["checkins"] for w in out["weeks"]] == [0, 1]
    assert out["checkins"][0]["date"] == "2026-01-12"


def test_weekly_averages_and_pattern_counts_without_text_or_crisis():
    checkins = [CheckinPoint(at(12, 1), 2, 4, None), CheckinPoint(at(13, 1), 3, 5, 4),
                CheckinPoint(at(1, 1), 1, 1, 1)]  # the last is before the window
    signals = [SignalPoint(at(12, 2), "overwork"), SignalPoint(at(13, 2), "overwork"),
               SignalPoint(at(13, 3), "people_pleasing"), SignalPoint(at(13, 4), "crisis"),
               SignalPoint(at(6, 4), "resentment")]
    out = summarise(checkins, signals, tz=TOKYO, now=NOW, weeks=2)
    this_week = out["weeks"][-1]
    assert this_week["average"] == {"energy": 2.5, "boundaries": 4.5, "client_respect": 4.0}
    assert this_week["patterns"] == {"overwork": 2, "people_pleasing": 1}
    assert out["weeks"][0]["patterns"] == {"resentment": 1}
    assert "crisis" not in out["kinds"]
    assert len(out["checkins"]) == 2
    assert all(set(c) == {"at", "date", "energy", "boundaries", "client_respect"} for c in out["checkins"])


def test_an_empty_history_still_has_every_week():
    out = summarise([], [], tz=TOKYO, now=NOW, weeks=12)
    assert len(out["weeks"]) == 12 and out["checkins"] == []
    assert all(w["average"]["energy"] is None and w["patterns"] == {} for w in out["weeks"])
    assert datetime.fromisoformat(out["weeks"][-1]["week"]) + timedelta(days=7) > NOW.replace(tzinfo=None)


@pytest.mark.parametrize("header,expected", [
    ("ja-JP,ja;q=0.9,en-US;q=0.8", "ja"),
    ("en-US,en;q=0.9,ja;q=0.8", "en"),
    ("fr-FR,fr;q=0.9,en;q=0.5", "en"),
    ("fr-FR", "ja"),
    ("", "ja"),
    (None, "ja"),
    ("ja;q=0.2, en;q=0.8", "en"),
    ("en;q=0, ja", "ja"),
    ("en;q=abc, ja;q=0.5", "ja"),
    ("*", "ja"),
])
def test_language_from_accept_language(header, expected):
    assert pick_language(header, default="ja") == expected


@pytest.mark.parametrize("origin,host,fetch_site,ok", [
    (None, "127.0.0.1:8000", None, True),
    ("http://127.0.0.1:8000", "127.0.0.1:8000", "same-origin", True),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", None, False),
    ("http://localhost:8000", "127.0.0.1:8000", None, False),
    ("null", "127.0.0.1:8000", None, False),
    (None, "127.0.0.1:8000", "cross-site", False),
    (None, "127.0.0.1:8000", "none", True),
])
def test_same_origin_rule(origin, host, fetch_site, ok):
    if ok:
        check_same_origin(origin=origin, host=host, fetch_site=fetch_site)
    else:
        with pytest.raises(BadRequest) as err:
            check_same_origin(origin=origin, host=host, fetch_site=fetch_site)
        assert err.value.status == 403


def test_a_message_is_text_or_a_choice():
    assert parse_message({"text": " こんにちは "}).text == " こんにちは "
    assert parse_message({"choice": "c:checkin:energy:3"}).choice == "c:checkin:energy:3"
    assert parse_message({"text": "あ" * 2000}).text  # 2,000 characters, not bytes
    with pytest.raises(BadRequest):
        parse_message({"text": "あ" * 2001})
