"""Reading free text by meaning: answers, positions, scores, languages, dates and intents.

Everything here is pure (text, lexicons and the clock in; a reading out). The words themselves
are data, one file per language under ``content/understanding/``, validated at start-up with the
rest of the content. Text is folded with the detectors' folding (width, case, katakana to hiragana)
so one phrase covers ニホンゴ, にほんご and ｎｉｈｏｎｇｏ.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.detect.normalise import fold as detector_fold
from bot.detect.normalise import sound_form, without_hesitation

ANSWER_KINDS = ("yes", "no", "maybe", "skip", "dont_know", "already_said")
INTENTS = ("delete_data", "export_data", "pause_reminders", "reminder_frequency", "stop_reminders", "resume",
           "set_reminders", "help", "menu", "cancel", "thanks", "greeting")
ORDINAL_KEYS = ("1", "2", "3", "4", "5", "last")
_SEPARATORS = " 、。,.!！?？…‥・~〜ー-—:;　\n\t"
_EDGE = "。、．，.,!！?？〜~…・「」『』()（）[]【】\"'`*　 \n\t"
_POLITE = ("でいいです", "でいい", "がいいです", "がいい", "で", "でお願いします", "をお願いします", "お願いします", "おねがいします", "してください", "ください", "下さい", "です", "でお願い",
           "please", "pls", "thanks", "thank you")
_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?|[〇零一二三四五六七八九十]+")
_JA_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[a-z]")


def fold(text: str) -> str:
    """Folded text for matching: the detectors' folding, single spaces, no edge punctuation."""
    t = detector_fold(text)
    t = re.sub(r"\s+", " ", t).strip(_EDGE)
    return re.sub(r"ー{2,}", "ー", t)


@dataclass(frozen=True, slots=True)
class IntentRule:
    exact: frozenset[str]
    groups: tuple[tuple[tuple[str, ...], ...], ...]  # entries; each entry is groups that must all be present
    none: tuple[str, ...]
    max_chars: int
    # Where people write freely (a reflection), a message is this intent by its word groups only when
    # it also has one of these words (our own word "reminder", not a client's "notifications").
    in_free_text: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The understanding words of one language, folded."""

    lang: str
    answers: dict[str, tuple[str, ...]]
    fillers: tuple[str, ...]
    ordinals: dict[str, tuple[str, ...]]
    numbers: dict[str, int]
    approx: tuple[str, ...]
    languages: dict[str, tuple[str, ...]]
    intents: dict[str, IntentRule]
    question_endings: tuple[str, ...]
    question_starts: tuple[str, ...]
    hard_words: tuple[str, ...]
    good_words: tuple[str, ...]
    topics: dict[str, tuple[str, ...]]
    # What makes a short answer a sentence rather than the name of a thing (see ``is_label``).
    self_words: tuple[str, ...] = ()
    statement_endings: tuple[str, ...] = ()
    statement_starts: tuple[str, ...] = ()
    question_to_bot: tuple[str, ...] = ()
    hesitation: tuple[str, ...] = ()  # in sound_form: folding would turn 「うーん」 into 「うん」


@dataclass(slots=True)
class Understanding:
    """Lexicons by language; readers try the user's language first, then the others."""

    lexicons: dict[str, Lexicon] = field(default_factory=dict)

    def order(self, lang: str) -> list[Lexicon]:
        first = [self.lexicons[lang]] if lang in self.lexicons else []
        return first + [lx for k, lx in self.lexicons.items() if k != lang]


# ----------------------------------------------------------------------------- matching


def _is_ascii(s: str) -> bool:
    return s.isascii()


@functools.lru_cache(maxsize=None)  # phrases come from content: a bounded set
def _whole_word(phrase: str) -> re.Pattern | None:
    if phrase.isascii() and any(ch.isalnum() for ch in phrase):
        return re.compile(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])")
    return None


def has(text: str, phrase: str) -> bool:
    """Whether folded ``text`` contains ``phrase``: whole words for Latin phrases, anywhere for Japanese."""
    if not phrase or phrase not in text:
        return False
    pattern = _whole_word(phrase)
    return pattern is None or pattern.search(text) is not None


def _strip_edges(t: str, words: Iterable[str]) -> str:
    words = sorted(set(words), key=len, reverse=True)
    changed = True
    while changed and t:
        changed = False
        for w in words:
            if not w:
                continue
            if t.startswith(w) and (len(t) == len(w) or not _is_ascii(w) or not t[len(w)].isalnum()):
                rest = t[len(w):].strip(_SEPARATORS)
                if rest:
                    t, changed = rest, True
            if t.endswith(w) and len(t) > len(w) and (not _is_ascii(w) or not t[-len(w) - 1].isalnum()):
                t, changed = t[: -len(w)].strip(_SEPARATORS), True
    return t


def core(text: str, lexicons: Iterable[Lexicon]) -> str:
    """The folded text without fillers (um, えーと, かな) and polite endings at its edges."""
    words = list(_POLITE)
    for lx in lexicons:
        words += lx.fillers
    return _strip_edges(fold(text), words)


def _read_kind_at(t: str, table: dict[str, tuple[str, ...]], depth: int = 0) -> tuple[str, int] | None:
    """(kind, length) of the longest phrase of ``table`` that starts ``t`` and is followed by a
    separator, the end, or more words of the same kind."""
    best: tuple[str, int] | None = None
    for kind, phrases in table.items():
        for p in phrases:
            if not p or not t.startswith(p) or (best and len(p) <= best[1]):
                continue
            rest = t[len(p):]
            if rest and _is_ascii(p) and rest[0].isalnum():
                continue
            stripped = rest.strip(_SEPARATORS)
            if rest and stripped and rest[0] not in _SEPARATORS:
                again = _read_kind_at(stripped, table, depth + 1) if depth < 3 else None
                if again is None or again[0] != kind:
                    continue
            best = (kind, len(p))
    return best


def read_answer(u: Understanding, text: str, lang: str) -> str | None:
    """yes / no / maybe / skip / dont_know / already_said, when the message is such an answer."""
    lexs = u.order(lang)
    for lx in lexs:
        rest = without_hesitation(text, lx.hesitation)
        if rest is not None:
            if not rest.strip(_SEPARATORS):
                return "dont_know"  # 「うーん」 alone: thinking, not yes
            text = rest
            break
    t = core(text, lexs)
    if not t or len(t) > 60:
        return None
    for lx in lexs:
        got = _read_kind_at(t, lx.answers)
        if got is not None:
            rest = t[got[1]:].strip(_SEPARATORS)
            if len(rest) <= max(12, got[1] * 3):
                return got[0]
    return None


def read_ordinal(u: Understanding, text: str, lang: str, count: int) -> int | None:
    """The 0-based position named by 「最初の」, 「後者」, "the second one" among ``count`` options."""
    lexs = u.order(lang)
    t = core(text, lexs)
    t = re.sub(r"^(?:the |i'?ll take |i'?d say |let'?s go with |go with )", "", t)
    if not t or len(t) > 30:
        return None
    for lx in lexs:
        best: tuple[str, int] | None = None
        for key, phrases in lx.ordinals.items():
            for p in phrases:
                if t.startswith(p) and (best is None or len(p) > best[1]):
                    rest = t[len(p):]
                    if _is_ascii(p) and rest and rest[0].isalnum():
                        continue
                    if len(rest.strip(_SEPARATORS)) <= 8:
                        best = (key, len(p))
        if best is not None:
            if best[0] == "last":
                return count - 1
            i = int(best[0]) - 1
            return i if i < count else None
    return None


@dataclass(frozen=True, slots=True)
class ScoreReading:
    value: int  # within the scale
    said: float  # the number as said (may be out of range)

    @property
    def out_of_range(self) -> bool:
        return self.said != self.value


def _kanji_number(s: str) -> int | None:
    if "十" in s:
        tens, _, ones = s.partition("十")
        t = _KANJI_DIGITS.get(tens) if tens else 1
        o = _KANJI_DIGITS.get(ones) if ones else 0
        return None if t is None or o is None else t * 10 + o
    if len(s) == 1:
        return _KANJI_DIGITS.get(s)
    return None


def read_number(u: Understanding, text: str, lang: str) -> float | None:
    """The last number in the message (「1かな…いや2」 → 2): digits of any width, kanji numerals,
    number words. None when there is none."""
    lexs = u.order(lang)
    t = fold(text)
    # the scale itself is not an answer: "3 out of 5", "3/5", 「5点中3」, 「5段階で」
    t = re.sub(r"(?:out of|/)\s*\d+|\d+\s*(?:点中|段階中|段階で|段階)", " ", t)
    found: list[tuple[int, float]] = []
    for m in _NUMBER_RE.finditer(t):
        s = m.group(0)
        if s[0].isdigit():
            found.append((m.start(), float(s)))
        else:
            v = _kanji_number(s)
            if v is not None:
                found.append((m.start(), float(v)))
    whole = core(text, lexs)
    for lx in lexs:
        for word, value in lx.numbers.items():
            if not _is_ascii(word) and not any("\u4e00" <= ch <= "\u9fff" for ch in word):
                if whole == word:  # kana number words (さん, に) only on their own: たくさん is not 3
                    found.append((0, float(value)))
                continue
            for m in re.finditer(re.escape(word), t):
                if _is_ascii(word) and not has(t[max(0, m.start() - 1):m.end() + 1], word):
                    continue
                found.append((m.start(), float(value)))
    if not found:
        return None
    return max(found, key=lambda f: f[0])[1]


def read_score(u: Understanding, text: str, lang: str, low: int = 1, high: int = 5) -> ScoreReading | None:
    """A score from 「3くらい」, "about three", 「うーん、1かな…いや2」; out-of-range numbers are brought
    to the nearest end of the scale (the caller says so)."""
    if len(fold(text)) > 60:
        return None
    n = read_number(u, text, lang)
    if n is None:
        return None
    value = int(min(max(n, low), high) + 0.5)
    return ScoreReading(value=min(value, high), said=n)


def named_language(u: Understanding, text: str, lang: str) -> str | None:
    """The language a message names (にほんご, eigo, English, 日本語で), if it names one."""
    lexs = u.order(lang)
    t = core(text, lexs)
    for lx in lexs:
        for code, names in lx.languages.items():
            if t in names or any(len(n) >= 3 and has(t, n) for n in names):
                return code
    return None


def read_language(u: Understanding, text: str, lang: str) -> str | None:
    """The language a message names or, failing that, the one it is written in (Japanese script
    means Japanese)."""
    named = named_language(u, text, lang)
    if named is not None:
        return named
    t = core(text, u.order(lang))
    if _JA_SCRIPT.search(t):
        return "ja"
    if _LATIN.search(t):
        return "en"
    return None


def _rule_matches(rule: IntentRule, t: str, c: str, free_text: bool = False) -> bool:
    if c in rule.exact or t in rule.exact:
        return True
    parts = [p for p in re.split(r"[ 、。,.!！?？…]+", c) if p]
    if len(parts) > 1 and all(p in rule.exact for p in parts):
        return True
    if len(t) > rule.max_chars or any(has(t, n) for n in rule.none):
        return False
    if free_text and not any(has(t, w) for w in rule.in_free_text):
        return False
    return any(all(any(has(t, w) for w in group) for group in entry) for entry in rule.groups)


def read_intent(u: Understanding, text: str, lang: str, *, free_text: bool = False) -> str | None:
    """The intent a message expresses, in priority order (data requests first, small talk last).
    ``free_text``: the question takes free words, so word groups need the intent's own words."""
    lexs = u.order(lang)
    t = fold(text)
    c = core(text, lexs)
    if not t:
        return None
    for name in INTENTS:
        for lx in lexs:
            rule = lx.intents.get(name)
            if rule is not None and _rule_matches(rule, t, c, free_text):
                if name == "pause_reminders" and read_until(u, text, lang, now=datetime(2000, 1, 3), tz="UTC") is None:
                    break
                return name
    return None


def is_question(u: Understanding, text: str, lang: str) -> bool:
    t = fold(text)
    raw = unicodedata.normalize("NFKC", text).strip()
    if raw.endswith("?"):
        return True
    for lx in u.order(lang):
        if any(t.endswith(e) for e in lx.question_endings if e not in ("?", "？")):
            return True
        if lx.lang == "en" and any(t.startswith(s + " ") for s in lx.question_starts):
            return True
    return False


def asks_the_bot(u: Understanding, text: str, lang: str) -> bool:
    """A question that asks for the bot's own answer or advice (「どうしたらいいと思う？」, "what should I do?")."""
    if not is_question(u, text, lang):
        return False
    t = fold(text)
    return any(p in t for lx in u.order(lang) for p in lx.question_to_bot)


LABEL_CHARS_JA = 16
LABEL_CHARS_LATIN = 40
_SENTENCE_MARKS = "。.!！?？\n「」\""


def is_label(u: Understanding, text: str) -> bool:
    """Whether a short answer names a thing (「毎週の投稿文の作成」, "late-night chat support") rather than
    saying something about it (「ぜんぶ私がやってる」, "they never reply"): only a label reads well quoted
    back as a topic."""
    text = text.strip()
    limit = LABEL_CHARS_JA if _JA_SCRIPT.search(text) else LABEL_CHARS_LATIN
    if not text or len(text) > limit or any(ch in text for ch in _SENTENCE_MARKS):
        return False
    t = fold(text)
    for lx in u.lexicons.values():
        if any(has(t, w) for w in lx.self_words) or any(t.endswith(e) for e in lx.statement_endings):
            return False
        if any(t == w or t.startswith(w + " ") for w in lx.statement_starts):
            return False
    return True


def tone(u: Understanding, text: str | None, lang: str) -> str | None:
    """"hard" or "good" when the words say so, else None."""
    if not text:
        return None
    t = fold(text)
    hard = good = 0
    for lx in u.order(lang):
        hard += sum(1 for w in lx.hard_words if has(t, w))
        good += sum(1 for w in lx.good_words if has(t, w))
    if hard > good:
        return "hard"
    if good > hard:
        return "good"
    return None


def gist(u: Understanding, text: str | None, lang: str) -> str | None:
    """The message id naming what a reflection is mostly about, in our words."""
    if not text:
        return None
    t = fold(text)
    best, hits = None, 0
    for lx in u.order(lang):
        for mid, words in lx.topics.items():
            n = sum(1 for w in words if has(t, w))
            if n > hits:
                best, hits = mid, n
    return best


# -------------------------------------------------------------------- dates for a pause

_EN_WEEKDAYS = {"monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2, "thursday": 3,
                "thu": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5, "sunday": 6, "sun": 6}
_JA_WEEKDAYS = {"月": 0, "火": 1, "水": 2, "木": 3, "金": 4, "土": 5, "日": 6}
_EN_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                               "nov", "dec"))}
_EN_COUNT = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10,
             "couple of": 2, "few": 3}
_KANJI_COUNT = "[一二三四五六七八九十]+"


@dataclass(frozen=True, slots=True)
class DurationWords:
    """How one language writes a duration ("3 days", 「2週間」): the units with their length in days,
    the count words besides digits, what may stand between count and unit and after the unit, and
    the dates that only look like a duration (「3月5日」, 「20日まで」)."""

    units: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)
    kanji_counts: bool = False
    between: str = r"\s*"
    after: str = ""
    not_if: tuple[str, ...] = ()

    @property
    def pattern(self) -> re.Pattern:
        """count, unit (re caches the compiled pattern)."""
        counts = [r"\d{1,3}"] + ([_KANJI_COUNT] if self.kanji_counts else []) + [re.escape(w) for w in self.counts]
        units = sorted(self.units, key=len, reverse=True)
        return re.compile(f"({'|'.join(counts)}){self.between}({'|'.join(map(re.escape, units))}){self.after}")

    def count(self, word: str) -> int:
        if word.isdigit():
            return int(word)
        return self.counts.get(word) or _kanji_number(word) or 0


# Durations by language, tried in this order whatever the conversation's language (people mix them).
DURATIONS = {
    "ja": DurationWords(units={"日間": 1, "日": 1, "週間": 7, "週": 7, "月間": 30, "月": 30}, kanji_counts=True,
                        between=r"\s*(?:ヶ|か|カ|ケ|箇)?\s*", after=r"(?!曜)(?:くらい|ぐらい|ほど)?(?:は|の間|間)?",
                        not_if=(r"\d{1,2}\s*月\s*\d{1,2}\s*日", r"\d{1,2}\s*日\s*まで")),
    "en": DurationWords(units={"days": 1, "day": 1, "weeks": 7, "week": 7, "months": 30, "month": 30},
                        counts=_EN_COUNT, after=r"\b"),
}
MAX_PAUSE_DAYS = 365


def read_duration_days(t: str, languages: Iterable[DurationWords] = DURATIONS.values()) -> int | None:
    """The days in the first duration written in ``t`` (NFKC, lower case): 「2週間」 → 14, "a month" → 30.
    None when there is none, or it is not between one day and a year."""
    for words in languages:
        m = words.pattern.search(t)
        if m is None or any(re.search(p, t) for p in words.not_if):
            continue
        days = words.count(m.group(1)) * words.units[m.group(2)]
        if 0 < days <= MAX_PAUSE_DAYS:
            return days
    return None


def _zone(tz: str):
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def read_until(u: Understanding, text: str, lang: str, *, now: datetime, tz: str) -> datetime | None:
    """When a pause should end: 「来週の月曜まで」, 「3日間」, "until next Monday", "for two weeks",
    "until the 20th". The start of that day in the user's time zone; None when no date or duration."""
    t = unicodedata.normalize("NFKC", text).lower()
    local = now.astimezone(_zone(tz))
    today = local.date()

    def day_start(d: date) -> datetime:
        return datetime.combine(d, time(0, 0), tzinfo=local.tzinfo)

    days = read_duration_days(t)
    if days is not None:
        return now + timedelta(days=days)
    m = re.search(r"(来週|再来週|今週)?の?([月火水木金土日])曜(?:日)?(?:まで|から|以降)", t)
    if m:
        target = _JA_WEEKDAYS[m.group(2)]
        return day_start(_weekday_after(today, target, m.group(1)))
    m = re.search(r"(?:until|till|til|through|to|before)\s+(next\s+|this\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs)?|fri|sat|sun)\b", t)
    if m:
        which = {"next": "来週", "this": "今週"}.get((m.group(1) or "").strip())
        return day_start(_weekday_after(today, _EN_WEEKDAYS[m.group(2)], which))
    m = re.search(r"(\d{1,2})\s*月\s*(\d{1,2})\s*日", t)
    if m:
        return day_start(_next_date(today, int(m.group(1)), int(m.group(2))))
    m = re.search(r"(\d{1,2})\s*日\s*(?:まで|から|以降)", t)
    if m:
        return day_start(_next_day_of_month(today, int(m.group(1))))
    m = re.search(r"(?:until|till|to)\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b", t)
    if m:
        return day_start(_next_day_of_month(today, int(m.group(1))))
    m = re.search(r"(?:until|till|to)\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+(\d{1,2})", t)
    if m:
        return day_start(_next_date(today, _EN_MONTHS[m.group(1)], int(m.group(2))))
    if re.search(r"再来週まで", t):
        return day_start(_weekday_after(today, 0, "再来週"))
    if re.search(r"来週まで|来週いっぱい|until next week|till next week", t):
        return day_start(_weekday_after(today, 0, "来週"))
    if re.search(r"今週いっぱい|今週末まで|until the weekend|till the weekend|for the rest of the week|this week", t):
        return day_start(_weekday_after(today, 0, "来週"))
    if re.search(r"明日まで|until tomorrow|till tomorrow", t):
        return day_start(today + timedelta(days=1))
    if re.search(r"明後日まで|あさってまで", t):
        return day_start(today + timedelta(days=2))
    if re.search(r"月末まで|until the end of the month|till the end of the month|来月まで|until next month", t):
        first_next = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        return day_start(first_next)
    if re.search(r"しばらく|for a while|for now", t):
        return now + timedelta(days=7)
    return None


def _weekday_after(today: date, target: int, which: str | None) -> date:
    """The next ``target`` weekday after today; 来週/next: the one in next week; 再来週: the week after."""
    if which in ("来週", "再来週"):
        monday_next = today + timedelta(days=7 - today.weekday())
        d = monday_next + timedelta(days=target)
        return d + timedelta(days=7) if which == "再来週" else d
    ahead = (target - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def _next_date(today: date, month: int, day: int) -> date:
    for year in (today.year, today.year + 1):
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if d > today:
            return d
    return today + timedelta(days=7)


def _next_day_of_month(today: date, day: int) -> date:
    y, m = today.year, today.month
    for _ in range(3):
        try:
            d = date(y, m, day)
            if d > today:
                return d
        except ValueError:
            pass
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return today + timedelta(days=7)


def read_per_week(u: Understanding, text: str, lang: str) -> int | None:
    """How many reminders a week a message asks for (週1くらい → 1, twice a week → 2, 毎日 → 7)."""
    t = fold(text)
    m = re.search(r"週\s*(?:に)?\s*(\d|一|二|三|四|五)\s*(?:回|度|くらい|ぐらい|で|が|に|$)?", t)
    if m:
        v = int(m.group(1)) if m.group(1).isdigit() else _KANJI_DIGITS[m.group(1)]
        return max(1, min(v, 7))
    if re.search(r"毎日|1日1回|一日一回|every day|daily|once a day", t):
        return 7
    if re.search(r"平日", t) or re.search(r"weekdays", t):
        return 5
    for words, n in (("once a week", 1), ("weekly", 1), ("twice a week", 2), ("two times a week", 2),
                     ("three times a week", 3), ("隔週", 1), ("月1", 1), ("月に1", 1), ("once a month", 1),
                     ("monthly", 1), ("every other week", 1)):
        if words in t:
            return n
    if re.search(r"少なめ|減らし|less often|fewer|less frequent", t):
        return -1  # fewer than now
    if re.search(r"多め|増やし|more often|more frequent", t):
        return -2  # more than now
    return None


# ------------------------------------------------------------------ choices by their words

def _weight(ch: str) -> float:
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
        return 2.0
    return 0.6


def _ja_overlap(a: str, b: str) -> float:
    """Weight of the longest common substring (kanji count more than kana)."""
    best = 0.0
    for i in range(len(a)):
        for j in range(i + 1, len(a) + 1):
            s = a[i:j]
            if s in b:
                w = sum(_weight(c) for c in s)
                best = max(best, w)
            else:
                break
    return best


_EN_STOP = {"the", "and", "with", "for", "that", "this", "want", "would", "like", "just", "yes", "not", "but", "are",
            "you", "your", "its", "it's", "i'm", "i'll", "i'd", "guess", "think", "maybe", "really", "some", "one"}


def _stems(t: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z']+", t) if len(w) >= 3 and w not in _EN_STOP}


def similarity(text: str, label: str) -> float:
    """How much of an option's label a message carries (「断る」 → 「断りたい」, "with conditions")."""
    a, b = fold(text), fold(label)
    if not a or not b:
        return 0.0
    if _is_ascii(a) and _is_ascii(b):
        return float(len(_stems(a) & _stems(b)))
    if _is_ascii(a) != _is_ascii(b):
        return 0.0
    score = _ja_overlap(a, b)
    if score < 2.0:
        return 0.0
    # One shared kanji in a long sentence is chance, not a paraphrase.
    if score / sum(_weight(c) for c in a) < 0.3 and score / sum(_weight(c) for c in b) < 0.5:
        return 0.0
    return score


# ----------------------------------------------------------------------------- loading

def load_understanding(root: Path, languages: tuple[str, ...], add, read_yaml) -> Understanding:
    """Read ``understanding/<lang>.yaml``; ``add(path, key, problem)`` records each problem."""
    from pydantic import ValidationError

    from bot.content import model_errors
    from bot.content_models import UnderstandingFile

    u = Understanding()
    for lang in languages:
        path = root / "understanding" / f"{lang}.yaml"
        if not path.is_file():
            add(path, "(file)", "missing")
            continue
        raw = read_yaml(path)
        if raw is None:
            continue
        try:
            parsed = UnderstandingFile.model_validate(raw)
        except ValidationError as exc:
            for e in model_errors(f"understanding/{lang}.yaml", exc, raw):
                add(path, e.key, e.problem)
            continue
        u.lexicons[lang] = _lexicon(lang, parsed)
    return u


def _folded(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(fold(w) or w.strip() for w in words)


def _lexicon(lang: str, f: Any) -> Lexicon:
    """One validated understanding file (``UnderstandingFile``), its phrases folded."""
    answers = {kind: _folded(words) for kind, words in f.answers.items()}
    # Folding drops long-vowel marks (うーん → うん, んー → ん): a filler shortened that way must not eat
    # an answer word (「うん」, 「ううん」), so those are kept only when no answer starts or ends with them.
    answer_words = {w for words in answers.values() for w in words}
    fillers = tuple(
        folded for folded, raw in zip(_folded(f.fillers), (w.strip().lower() for w in f.fillers))
        if folded == raw or not any(w.startswith(folded) or w.endswith(folded) for w in answer_words))
    intents = {name: IntentRule(exact=frozenset(_folded(rule.exact)),
                                groups=(tuple(_folded(g) for g in rule.all),) if rule.all else (),
                                none=_folded(rule.none), max_chars=rule.max_chars,
                                in_free_text=_folded(rule.in_free_text))
               for name, rule in f.intents.items()}
    return Lexicon(
        lang=lang, answers=answers, fillers=fillers,
        ordinals={k: _folded(v) for k, v in f.ordinals.items()},
        numbers={fold(word): value for word, value in f.numbers.items()},
        approx=_folded(f.approx), languages={k: _folded(v) for k, v in f.languages.items()},
        intents=intents,
        question_endings=f.question.endings, question_starts=_folded(f.question.starts),
        hard_words=_folded(f.hard_words), good_words=_folded(f.good_words),
        topics={k: _folded(v) for k, v in f.topics.items()},
        self_words=_folded(f.statement.self_), statement_endings=_folded(f.statement.endings),
        statement_starts=_folded(f.statement.starts), question_to_bot=_folded(f.question.to_bot),
        hesitation=tuple(sound_form(w) for w in f.hesitation))
