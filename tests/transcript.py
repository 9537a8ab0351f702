"""Chat-transcript helpers: drive the engine the way a person would, and read what came back.

``EngineChat`` runs the pure step function with a fixed clock and no database, so a test reads
like the conversation it checks::

    chat = EngineChat(content, lang="en")
    chat.send("check-in")
    assert chat.state == "checkin:energy"
    chat.tap("3")
"""
from __future__ import annotations

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
