"""Platform-neutral values that flow between the adapters and the core."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # bot.insights imports this module; annotations only
    from bot.insights import WeekScores

SIGNAL_KINDS: tuple[str, ...] = (
    "overwork",
    "people_pleasing",
    "controlling",
    "over_helping",
    "resentment",
    "crisis",
)
LANGUAGES: tuple[str, ...] = ("ja", "en")


@dataclass(frozen=True, slots=True)
class UserKey:
    """Who a message is from: a platform name ("line", "slack", "web", "cli") and its user id."""

    platform: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Signal:
    """A pattern noticed in a message, with the span of text that shows it."""

    kind: str
    evidence: str
    start: int
    end: int
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "evidence": self.evidence,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
        }


InboundKind = Literal["text", "choice", "follow", "unfollow", "unsupported", "command"]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a user did: wrote text, tapped a choice, followed, or sent something we don't read.

    ``choice`` carries the postback value of a tapped button (see ``bot.engine.choice_value``).
    ``command`` carries a command name an adapter recognised itself (e.g. Slack's ``/coach checkin``).
    ``platform_message_id`` is the platform's id of a text message (LINE's message id), kept with
    the text when it is kept, so that unsending it on the platform can delete it here too.
    """

    user: UserKey
    kind: InboundKind
    received_at: datetime
    text: str | None = None
    choice: str | None = None
    command: str | None = None
    event_id: str | None = None
    lang_hint: str | None = None
    platform_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """A button: ``value`` comes back as ``Inbound.choice`` when tapped."""

    label: str
    value: str


ReplyStyle = Literal["normal", "noticed", "crisis", "notice"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to send. ``message_id`` names the content it came from (for tests and logs)."""

    text: str
    message_id: str
    choices: tuple[Choice, ...] = ()
    style: ReplyStyle = "normal"
    evidence: tuple[Signal, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "choices": [{"label": c.label, "value": c.value} for c in self.choices],
        }


ReminderState = Literal["off", "paused", "on"]


@dataclass(frozen=True, slots=True)
class ReminderStatus:
    """Where a person's reminders stand: ``off``; ``paused`` until ``paused_until`` (a date in their
    timezone); or ``on``, with the message id of their preset's label, or else their days and time."""

    state: ReminderState
    paused_until: date | None = None
    preset_label: str | None = None
    days: tuple[str, ...] = ()
    time_of_day: str | None = None


@dataclass(frozen=True, slots=True)
class HomeView:
    """A person's home (Slack's App Home): what it shows, not how. ``trend`` is one entry per week,
    oldest first; ``patterns`` is (week start, ((signal kind, count), ...)) for the weeks that had
    any, newest first; ``reminders`` is None when there is nothing to say about them (no user yet,
    or no reminders in this build). Never any text the person wrote."""

    language: str
    trend: tuple[WeekScores, ...]
    patterns: tuple[tuple[date, tuple[tuple[str, int], ...]], ...] = ()
    reminders: ReminderStatus | None = None


@dataclass(frozen=True, slots=True)
class CheckinCard:
    """A check-in just saved, to show as a card (LINE: a Flex message): ``scores`` is (metric, 1–5 or
    None when skipped) for each of ``bot.insights.SCORES``."""

    language: str
    scores: tuple[tuple[str, int | None], ...]


@dataclass(frozen=True, slots=True)
class TrendCard:
    """A person's weekly check-in averages, oldest week first, to show as a chart (LINE: a Flex message)."""

    language: str
    trend: tuple[WeekScores, ...]


# What an adapter is asked to send: a message, or a typed item that a platform renders its own way
# (or not at all). Never a stand-in message.
Outgoing = Reply | HomeView | CheckinCard | TrendCard
