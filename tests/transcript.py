"""Chat-transcript helpers: drive the engine the way a person would, and read what came back.

``EngineChat`` runs the pure step function with a fixed clock and no database, so a test reads
like the conversation it checks::

    chat = EngineChat(content, lang="en")
    chat.send("check-in")
    assert chat.state == "checkin:energy"
    chat.tap("3")
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from bot.content import Content, load_content
from bot.engine import ConvoState, StepResult, UserView, step
from bot.types import Inbound, Reply, UserKey

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@lru_cache(maxsize=1)
def shipped_content() -> Content:
    return load_content(CONTENT_DIR)


@lru_cache(maxsize=1)
def shipped_detector():
    from bot.detect import load_detector

    return load_detector(CONTENT_DIR)


class EngineChat:
    """One user's conversation with the pure engine; the clock moves only when told."""

    def __init__(self, content: Content | None = None, *, lang: str = "en", now: datetime = T0,
                 is_new: bool = False, detect: bool = True, interpreters=(), consent: bool = False,
                 timezone: str = "Asia/Tokyo", last_checkin: dict | None = None):
        self.content = content or shipped_content()
        self.lang = lang
        self.now = now
        self.is_new = is_new
        self.consent = consent
        self.timezone = timezone
        self.last_checkin = last_checkin
        self.detect = detect
        self.interpreters = tuple(interpreters)
        self.convo: ConvoState | None = None
        self.last: StepResult | None = None
        self.all_effects: list = []
        self.user = UserKey("test", "u1")

    def _signals(self, text: str | None):
        if not text or not self.detect:
            return []
        return shipped_detector().detect(text, None)

    def _step(self, inbound: Inbound) -> list[Reply]:
        view = UserView(language=self.lang, is_new=self.is_new, consent_store_text=self.consent,
                        timezone=self.timezone, last_checkin=self.last_checkin)
        self.last = step(content=self.content, convo=self.convo, inbound=inbound,
                         signals=self._signals(inbound.text), user=view, now=self.now,
                         interpreters=self.interpreters)
        self.is_new = False
        self.convo = self.last.saved
        self.lang = self.last.language
        self.all_effects.extend(self.last.effects)
        return self.last.replies

    def send(self, text: str) -> list[Reply]:
        return self._step(Inbound(user=self.user, kind="text", text=text, received_at=self.now))

    def press(self, value: str) -> list[Reply]:
        """Send a raw choice value (as a platform postback would)."""
        return self._step(Inbound(user=self.user, kind="choice", choice=value, received_at=self.now))

    def tap(self, label: str) -> list[Reply]:
        """Tap the button with this label (or whose label starts with it) on the last replies."""
        for c in self.choices:
            if c.label == label or c.label.startswith(label):
                return self.press(c.value)
        raise AssertionError(f"no button {label!r}; buttons are {[c.label for c in self.choices]}")

    def follow(self, lang_hint: str | None = None) -> list[Reply]:
        return self._step(Inbound(user=self.user, kind="follow", received_at=self.now, lang_hint=lang_hint))

    def wait(self, **delta) -> None:
        self.now += timedelta(**delta)

    @property
    def state(self) -> str:
        return self.convo.label if self.convo else "idle"

    @property
    def replies(self) -> list[Reply]:
        return self.last.replies if self.last else []

    @property
    def ids(self) -> list[str]:
        return [r.message_id for r in self.replies]

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.replies]

    @property
    def choices(self):
        return [c for r in self.replies for c in r.choices]

    @property
    def effects(self):
        return self.last.effects if self.last else []

    def effect_names(self) -> list[str]:
        return [e.name for e in self.effects]


# ---- one conversation, three levels ---------------------------------------------------------------
#
# A conversation script is a list of steps: ("follow", lang), ("say", text) or ("tap", label). The
# same script runs against the pure engine (``EngineLevel``), the coach service with its database
# (``CoachLevel``) and the web chat's HTTP API (``HttpLevel``); each step gives back a ``Turn``, so a
# test can hold the three transcripts side by side.

@dataclass(frozen=True)
class Turn:
    """What one step showed: the state after it and each reply as (message id, text, button labels)."""

    state: str
    replies: tuple[tuple[str, str, tuple[str, ...]], ...]

    @property
    def texts(self) -> list[str]:
        return [text for _, text, _ in self.replies]

    @property
    def labels(self) -> list[str]:
        return [label for _, _, labels in self.replies for label in labels]


def _turn(state: str, replies) -> Turn:
    return Turn(state, tuple((r.message_id, r.text, tuple(c.label for c in r.choices)) for r in replies))


def _value_of(choices, label: str) -> str:
    for c in choices:
        if c.label == label:
            return c.value
    raise AssertionError(f"no button {label!r}; buttons are {[c.label for c in choices]}")


class _CoachLikeEngineChat(EngineChat):
    """Detection as the coach runs it: the language guessed first, then the detectors for it."""

    def _signals(self, text: str | None):
        if not text:
            return []
        from bot.detect import guess_language

        return shipped_detector().detect(text, guess_language(text))


class EngineLevel:
    """The pure ``step`` with the coach's inputs: its interpreters, its language guess for detection,
    and what it knows of a new user (no reminders set). No database; effects are only recorded."""

    def __init__(self, content: Content | None = None, *, now: datetime = T0, user_id: str = "u1"):
        from bot.reminders.service import Reminders

        content = content or shipped_content()
        reminders = Reminders(content, default_timezone="Asia/Tokyo")
        self.chat = _CoachLikeEngineChat(content, lang="ja", now=now, interpreters=(reminders.interpret,))
        self.chat.user = UserKey("engine", user_id)

    async def follow(self, lang: str) -> Turn:
        self.chat.is_new = True
        replies = self.chat.follow(lang_hint=lang)
        return _turn(self.chat.state, replies)

    async def say(self, text: str) -> Turn:
        replies = self.chat.send(text)
        return _turn(self.chat.state, replies)

    async def tap(self, label: str) -> Turn:
        replies = self.chat.press(_value_of(self.chat.choices, label))
        return _turn(self.chat.state, replies)


class CoachLevel:
    """The coach service (``runtime.coach``) with the real database, one user, the runtime's clock."""

    def __init__(self, runtime, *, user_id: str = "u1", platform: str = "cli"):
        self.runtime = runtime
        self.user = UserKey(platform, user_id)
        self.choices: list = []

    async def _handle(self, **fields) -> Turn:
        outcome = await self.runtime.coach.handle(Inbound(user=self.user, received_at=self.runtime.clock(), **fields))
        self.choices = [c for r in outcome.replies for c in r.choices]
        return _turn(outcome.state, outcome.replies)

    async def follow(self, lang: str) -> Turn:
        return await self._handle(kind="follow", lang_hint=lang)

    async def say(self, text: str) -> Turn:
        return await self._handle(kind="text", text=text)

    async def tap(self, label: str) -> Turn:
        return await self._handle(kind="choice", choice=_value_of(self.choices, label))


class HttpLevel:
    """The web chat's JSON API through an HTTP client (cookie kept): /api/start and /api/message."""

    JSON = {"Content-Type": "application/json"}

    def __init__(self, client):
        self.client = client
        self.last: dict = {}

    async def _post(self, path: str, body: dict) -> Turn:
        r = await self.client.post(path, json=body, headers=self.JSON)
        assert r.status_code == 200, r.text
        self.last = r.json()
        return Turn(self.last["state"], tuple((r["id"], r["text"], tuple(c["label"] for c in r["choices"]))
                                              for r in self.last["replies"]))

    async def follow(self, lang: str) -> Turn:
        return await self._post("/api/start", {"language": lang})

    async def say(self, text: str) -> Turn:
        return await self._post("/api/message", {"text": text})

    async def tap(self, label: str) -> Turn:
        from types import SimpleNamespace

        choices = [SimpleNamespace(**c) for r in self.last["replies"] for c in r["choices"]]
        return await self._post("/api/message", {"choice": _value_of(choices, label)})


async def run_script(level, script) -> list[Turn]:
    """Run a conversation script (("follow", lang) | ("say", text) | ("tap", label) steps) at one level."""
    turns = []
    for action, arg in script:
        turns.append(await getattr(level, action)(arg))
    return turns
