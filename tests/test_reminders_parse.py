"""Plain reminder commands in both languages, and the words that must NOT be read as one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.reminders.parse import parse_reminder_command
from tests.transcript import EngineChat, shipped_content

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.mark.parametrize("text, days, time", [
    # Japanese
    ("毎朝8時にリマインド", EVERY_DAY, "08:00"),
    ("毎朝８時にリマインド", EVERY_DAY, "08:00"),            # full-width digits
    ("毎朝８時にリマインドしてください", EVERY_DAY, "08:00"),
    ("平日の7時半に", WEEKDAYS, "07:30"),
    ("平日の７時半に", WEEKDAYS, "07:30"),
    ("平日の七時半にリマインド", WEEKDAYS, "07:30"),          # kanji numerals
    ("月曜と木曜の9時", ("mon", "thu"), "09:00"),
    ("月曜日と木曜日の９時にお願いします", ("mon", "thu"), "09:00"),
    ("月・水・金の7時", ("mon", "wed", "fri"), "07:00"),
    ("毎週月曜の朝9時にリマインドして", ("mon",), "09:00"),
    ("土日の10時", ("sat", "sun"), "10:00"),
    ("週末の十時にリマインド", ("sat", "sun"), "10:00"),
    ("毎晩9時", EVERY_DAY, "21:00"),
    ("夜9時にリマインド", EVERY_DAY, "21:00"),
    ("午後7時に通知して", EVERY_DAY, "19:00"),
    ("午後８時３０分にリマインド", EVERY_DAY, "20:30"),
    ("２０：００にリマインドして", EVERY_DAY, "20:00"),
    ("毎日20:30に", EVERY_DAY, "20:30"),
    ("9時にリマインド", EVERY_DAY, "09:00"),
    ("平日 朝7時", WEEKDAYS, "07:00"),
    # English
    ("remind me on Mondays at 9", ("mon",), "09:00"),
    ("Remind me on Mondays at 9", ("mon",), "09:00"),
    ("weekdays at 8am", WEEKDAYS, "08:00"),
    ("Weekdays at 8 AM", WEEKDAYS, "08:00"),
    ("every day at 7:30pm", EVERY_DAY, "19:30"),
    ("every day at 7:30 p.m.", EVERY_DAY, "19:30"),
    ("Every day at ７:３０pm", EVERY_DAY, "19:30"),
    ("every day at 20:30", EVERY_DAY, "20:30"),
    ("remind me at 9", EVERY_DAY, "09:00"),
    ("remind me at 9 o'clock", EVERY_DAY, "09:00"),
    ("Remind me every weekday at 8:30 a.m.", WEEKDAYS, "08:30"),
    ("mon, wed and fri at 7", ("mon", "wed", "fri"), "07:00"),
    ("remind me tuesdays and thursdays at 6pm", ("tue", "thu"), "18:00"),
    ("every morning at 7", EVERY_DAY, "07:00"),
    ("fridays at noon", ("fri",), "12:00"),
    ("remind me fridays at 6 in the evening", ("fri",), "18:00"),
    ("weekends at 10am please", ("sat", "sun"), "10:00"),
    ("please remind me every day at 12am", EVERY_DAY, "00:00"),
])
def test_schedules_in_both_languages(text, days, time):
    command = parse_reminder_command(text)
    assert command is not None, text
    assert (command.op, command.days, command.time) == ("set", days, time)


@pytest.mark.parametrize("text, pause", [
    ("pause for a week", timedelta(days=7)),
    ("Pause reminders for 3 days", timedelta(days=3)),
    ("snooze for 2 weeks", timedelta(days=14)),
    ("1週間お休み", timedelta(days=7)),
    ("１週間お休み", timedelta(days=7)),
    ("一週間お休みします", timedelta(days=7)),
    ("三日間止めて", timedelta(days=3)),
    ("リマインドを2週間停止", timedelta(days=14)),
    ("3日間リマインドお休み", timedelta(days=3)),
])
def test_pauses(text, pause):
    command = parse_reminder_command(text)
    assert command is not None and command.op == "pause" and command.pause == pause


@pytest.mark.parametrize("text", [
    "stop",                                # a global command, handled before interpreters
    "I worked every day at 7pm until midnight",
    "my client called at 9 again",
    "9時",                                  # a bare time: could be an answer to anything
    "9",
    "mondays",                             # days without a time
    "毎朝",
    "hello",
    "疲れた、毎日9時まで働いてる",
    "mondays at 25",                       # not a time
    "remind me at 13pm",
    "pause",                               # a pause without how long
    "pause for 500 days",                  # longer than a year
    "remind me at 9 and at 10",            # two times: ask again rather than guess
    "",
])
def test_not_a_reminder_command(text):
    assert parse_reminder_command(text) is None


def test_the_engine_confirms_a_plain_command_in_the_users_language():
    """Through the engine, with the interpreter the reminders domain installs."""
    from bot.reminders.service import Reminders

    content = shipped_content()
    interpret = Reminders(content, default_timezone="Asia/Tokyo").interpret
    now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

    got = interpret("平日の7時半に", lang="ja", now=now)
    assert got.message_id == "reminders.confirm_set"
    assert got.effects[0].args == {"op": "set", "days": list(WEEKDAYS), "time": "07:30", "preset": None}
    assert "平日の7:30" in content.text(got.message_id, "ja", got.values)

    got = interpret("remind me on Mondays and Thursdays at 9", lang="en", now=now)
    assert "on Mondays, Thursdays at 9:00" in content.text(got.message_id, "en", got.values)

    got = interpret("pause for a week", lang="en", now=now)
    assert got.effects[0].args == {"op": "pause", "until": now + timedelta(days=7)}
    assert "7 days" in content.text(got.message_id, "en", got.values)


def test_idle_chat_sets_reminders_and_stop_still_stops():
    from bot.reminders.service import Reminders

    content = shipped_content()
    chat = EngineChat(content, lang="en", interpreters=[Reminders(content, default_timezone="Asia/Tokyo").interpret])
    chat.send("weekdays at 8am")
    [effect] = [e for e in chat.effects if e.name == "reminders"]
    assert effect.args["op"] == "set"
    assert "on weekdays at 8:00" in chat.texts[-1]
    chat.send("stop")
    assert [e.args for e in chat.effects if e.name == "reminders"] == [{"op": "off"}]
