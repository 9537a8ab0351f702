"""Understand plain reminder commands in Japanese and English. Pure: text in, a command out.

    >>> parse_reminder_command("毎朝8時にリマインド")
    ReminderCommand(op='set', days=('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'), time='08:00', pause=None)
    >>> parse_reminder_command("weekdays at 8am").days
    ('mon', 'tue', 'wed', 'thu', 'fri')
    >>> parse_reminder_command("pause for a week").pause
    datetime.timedelta(days=7)

The whole message must be a reminder command: it is read as a sequence of known pieces (days,
a time, "remind me", fillers like "at"/"に"/"の"), and anything left over means it is not one,
so "I worked every day at 7pm" is not mistaken for a request. A schedule needs a time plus a
day word or a reminder word; a pause needs a pause word and a duration.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from bot.reminders.planner import WEEKDAYS

ALL_DAYS = WEEKDAYS
WORKDAYS = WEEKDAYS[:5]
WEEKEND = WEEKDAYS[5:]
MAX_PAUSE = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class ReminderCommand:
    op: str  # set | pause
    days: tuple[str, ...] = ()
    time: str | None = None
    pause: timedelta | None = None


class _Read:
    """What has been read so far."""

    def __init__(self) -> None:
        self.days: set[str] = set()
        self.hour: int | None = None
        self.minute = 0
        self.half: str | None = None  # am | pm, from "pm", "午後", "夜", "evening"
        self.keyword = False
        self.pause_word = False
        self.duration: timedelta | None = None
        self.every = False


_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_NUMBER = re.compile(r"[〇一二三四五六七八九十]+(?=[時分週日ヶか:：]|時間|$)")


def _kanji_to_int(s: str) -> int | None:
    if "十" in s:
        tens, _, ones = s.partition("十")
        t = _KANJI_DIGITS.get(tens, None) if tens else 1
        o = _KANJI_DIGITS.get(ones, None) if ones else 0
        return None if t is None or o is None else t * 10 + o
    if len(s) == 1:
        return _KANJI_DIGITS.get(s)
    return None


def normalise(text: str) -> str:
    """NFKC (full-width digits and colons → ASCII), lower case, kanji numbers → digits."""
    t = unicodedata.normalize("NFKC", text).lower().strip()
    t = _KANJI_NUMBER.sub(lambda m: str(v) if (v := _kanji_to_int(m.group(0))) is not None else m.group(0), t)
    return t


_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "ten": 10, "fourteen": 14, "couple of": 2, "few": 3}
_EN_DAYS = {"mon": "mon", "monday": "mon", "tue": "tue", "tues": "tue", "tuesday": "tue", "wed": "wed",
            "wednesday": "wed", "thu": "thu", "thur": "thu", "thurs": "thu", "thursday": "thu", "fri": "fri",
            "friday": "fri", "sat": "sat", "saturday": "sat", "sun": "sun", "sunday": "sun"}
_JA_DAYS = {"月": "mon", "火": "tue", "水": "wed", "木": "thu", "金": "fri", "土": "sat", "日": "sun"}

Handler = Callable[[_Read, re.Match], None]
_TOKENS: list[tuple[re.Pattern, Handler]] = []


def _token(pattern: str):
    def register(fn: Handler) -> Handler:
        _TOKENS.append((re.compile(pattern), fn))
        return fn
    return register


def _set_time(r: _Read, hour: int, minute: int) -> None:
    if r.hour is not None:
        raise ValueError("two times")
    if not (0 <= hour <= 24 and 0 <= minute < 60):
        raise ValueError("bad time")
    r.hour, r.minute = hour % 24, minute


# -- English ------------------------------------------------------------------------------
_token(r"(?:please |pls |can you |could you |would you )?(?:send me |give me )?(?:a |the |my )?"
       r"(?:remind(?:ers?)?|nudges?|nudge me|ping me)(?: me)?\b")(lambda r, m: setattr(r, "keyword", True))


@_token(r"(?:pause|snooze|mute|hold|stop|take a break from|break from)(?: my| the)?(?: reminders?| nudges?)?\b")
def _en_pause(r: _Read, m: re.Match) -> None:
    r.pause_word = True


@_token(r"(?:for )?(?:(\d{1,3})|(a|an|one|two|three|four|five|six|seven|ten|fourteen|couple of|few))\s*"
        r"(days?|weeks?)\b")
def _en_duration(r: _Read, m: re.Match) -> None:
    n = int(m.group(1)) if m.group(1) else _WORD_NUMBERS[m.group(2)]
    r.duration = timedelta(days=n) if m.group(3).startswith("day") else timedelta(weeks=n)


_token(r"(?:a |one )?week\b(?! ?days?)")(lambda r, m: setattr(r, "duration", r.duration or timedelta(weeks=1)))


@_token(r"(?:every |each )?(?:week ?days?|workdays?|working days?|business days?)\b|"
        r"(?:mon(?:day)?s? ?(?:-|to|through|thru|~) ?fri(?:day)?s?)\b")
def _en_weekdays(r: _Read, m: re.Match) -> None:
    r.days.update(WORKDAYS)


@_token(r"(?:every |each )?weekends?\b")
def _en_weekend(r: _Read, m: re.Match) -> None:
    r.days.update(WEEKEND)


@_token(r"(?:every ?day|each day|daily|every morning|every evening|every night|every afternoon|"
        r"each morning|each evening|all week)\b")
def _en_daily(r: _Read, m: re.Match) -> None:
    r.days.update(ALL_DAYS)
    word = m.group(0)
    if "morning" in word:
        r.half = r.half or "am"
    elif "evening" in word or "night" in word or "afternoon" in word:
        r.half = r.half or "pm"


@_token(r"(?:every |each )?(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day)?s?\b|"
        r"(?:every |each )?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b")
def _en_day(r: _Read, m: re.Match) -> None:
    r.days.add(_EN_DAYS[m.group(1) or m.group(2)])


@_token(r"(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)(?![a-z])|(\d{1,2}):(\d{2})(?!\d)(?!\s*(?:[時分]))|"
        r"(\d{1,2})(?: ?o'?clock)?(?!\s*(?:[\d:時分日週ヶかカケ]|days?|weeks?))")
def _en_time(r: _Read, m: re.Match) -> None:
    if m.group(1):
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= hour <= 12:
            raise ValueError("12-hour clock")
        pm = m.group(3).startswith("p")
        _set_time(r, (hour % 12) + (12 if pm else 0), minute)
        r.half = "fixed"
    elif m.group(4):
        _set_time(r, int(m.group(4)), int(m.group(5)))
    else:
        _set_time(r, int(m.group(6)), 0)


@_token(r"noon\b|midday\b")
def _en_noon(r: _Read, m: re.Match) -> None:
    _set_time(r, 12, 0)
    r.half = "fixed"


@_token(r"(?:in the )?(mornings?|evenings?|nights?|afternoons?|tonight)\b")
def _en_part(r: _Read, m: re.Match) -> None:
    r.half = r.half or ("am" if m.group(1).startswith("morning") else "pm")


_token(r"(?:on|at|every|each|and|the|around|about|by|from now|from today|starting today|for|me|my|"
       r"please|set|schedule|send|them|it|to|of|until further notice|for now|a bit|okay|ok|thanks|"
       r"thank you|instead)\b")(lambda r, m: None)


# -- Japanese -----------------------------------------------------------------------------
_token(r"リマインド|りまいんど|リマインダー|通知|お知らせ|声をかけて|声かけて|連絡して|送って|教えて|知らせて")(
    lambda r, m: setattr(r, "keyword", True))


@_token(r"一時停止|停止|お休み|おやすみ|休み|休憩|止めて|とめて|止める|ストップ|ミュート|オフ|なしで|なし")
def _ja_pause(r: _Read, m: re.Match) -> None:
    r.pause_word = True


@_token(r"(\d{1,3})\s*(?:ヶ|か|カ|ケ)?\s*(日間|日|週間|週)")
def _ja_duration(r: _Read, m: re.Match) -> None:
    n = int(m.group(1))
    r.duration = timedelta(weeks=n) if m.group(2).startswith("週") else timedelta(days=n)


_token(r"来週まで|今週いっぱい")(lambda r, m: setattr(r, "duration", timedelta(weeks=1)))


@_token(r"毎日|毎朝|毎晩|毎夜|毎夕|毎夕方|日曜から土曜")
def _ja_daily(r: _Read, m: re.Match) -> None:
    r.days.update(ALL_DAYS)
    w = m.group(0)
    if w == "毎朝":
        r.half = r.half or "am"
    elif w != "毎日":
        r.half = r.half or "pm"


_token(r"平日|月曜から金曜|月から金|月[~〜-]金|ウィークデー")(lambda r, m: r.days.update(WORKDAYS))
_token(r"週末|土日|土曜と日曜|休日")(lambda r, m: r.days.update(WEEKEND))


@_token(r"(?:毎週)?([月火水木金土日])曜日?|(?:毎週)?([月火水木金土日])(?=[・、と,]|の\d)")
def _ja_day(r: _Read, m: re.Match) -> None:
    r.days.add(_JA_DAYS[m.group(1) or m.group(2)])


@_token(r"(午前|午後|朝|夜|夕方|夕|晩|昼|深夜)?\s*(\d{1,2})\s*時\s*(?:(半)|(\d{1,2})\s*分)?|"
        r"(午前|午後|朝|夜|夕方|夕|晩|昼)?\s*(\d{1,2}):(\d{2})")
def _ja_time(r: _Read, m: re.Match) -> None:
    part = m.group(1) or m.group(5)
    hour = int(m.group(2) or m.group(6))
    minute = 30 if m.group(3) else int(m.group(4) or m.group(7) or 0)
    if part in ("午後", "夜", "夕方", "夕", "晩") and 1 <= hour <= 11:
        hour += 12
    elif part in ("午前", "朝", "深夜") and hour == 12:
        hour = 0
    elif part is None and r.half == "pm" and 1 <= hour <= 11:
        hour += 12
    _set_time(r, hour, minute)
    r.half = "fixed"


_token(r"正午|お昼")(lambda r, m: (_set_time(r, 12, 0), setattr(r, "half", "fixed")))
_token(r"(朝|夜|夕方|晩)(?=の|に)")(lambda r, m: setattr(r, "half", r.half or ("am" if m.group(1) == "朝" else "pm")))
# Polite and casual endings around a request (longest first, so they are read whole).
_token(r"(?:して)?(?:お願い|おねがい)(?:でき|いたし)?(?:ますか|ます|る\?|る)|(?:して)?(?:もらえ|いただけ|くれ)(?:ますか|ません|る)(?:か)?|"
       r"できますか|でしょうか|がいいな|がいいです|がいい|ごろ|いいな")(lambda r, m: None)
_token(r"毎週|ごと|くらい|ぐらい|頃|ころ|ずつ|だけ|から|以降|いいです|いい|かも|かな|でしょうか|助かります|に|の|と|は|を|で|が|へ|も|ね|よ|ほしい|欲しい|"
       r"ください|下さい|お願いします|お願い|おねがい|して|する|します|したい|です|ます|にして|設定|変更|変えて")(
    lambda r, m: None)

_SEPARATORS = re.compile(r"[\s,、。.!！?？・&/]+")


def parse_reminder_command(text: str) -> ReminderCommand | None:
    """A reminder schedule or pause from plain words, or None when the text is something else."""
    t = normalise(text)
    if not t or len(t) > 80:
        return None
    r = _Read()
    pos = 0
    try:
        while pos < len(t):
            sep = _SEPARATORS.match(t, pos)
            if sep:
                pos = sep.end()
                continue
            for pattern, handle in _TOKENS:
                m = pattern.match(t, pos)
                if m and m.end() > pos:
                    handle(r, m)
                    pos = m.end()
                    break
            else:
                return None
    except ValueError:
        return None
    if r.pause_word and r.duration is not None and r.hour is None and not r.days:
        if r.duration <= timedelta(0) or r.duration > MAX_PAUSE:
            return None
        return ReminderCommand(op="pause", pause=r.duration)
    if r.pause_word or r.duration is not None or r.hour is None:
        return None
    if not (r.keyword or r.days):
        return None
    hour = r.hour
    if r.half == "pm" and 1 <= hour <= 11:
        hour += 12
    elif r.half == "am" and hour == 12:
        hour = 0
    days = tuple(d for d in ALL_DAYS if d in r.days) or ALL_DAYS
    return ReminderCommand(op="set", days=days, time=f"{hour:02d}:{r.minute:02d}")
