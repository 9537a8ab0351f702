"""Crisis resources as data (``content/crisis/resources.yaml``): the model, its validation, and the
pure choices made from it: which country's set a person gets, in which order, and what is open now.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.errors import ContentError
from bot.types import LANGUAGES

RESOURCES_FILE = "crisis/resources.yaml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Kind = Literal["phone", "text", "chat", "web"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _hhmm(value: Any) -> time:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 09:00 unquoted as 540
        raise ValueError("write times as quoted \"HH:MM\"")
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"not a time HH:MM: {value!r}") from None


class Window(_Strict):
    """Opening hours: on weekdays ``days`` or on ``day_of_month``, from ``start`` to ``end``
    (an end at or before the start runs into the next day; equal means 24 hours)."""

    days: tuple[Weekday, ...] | None = None
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    start: time = Field(alias="from")
    end: time = Field(alias="to")

    _parse_times = field_validator("start", "end", mode="before")(_hhmm)

    @model_validator(mode="after")
    def _one_rule(self) -> "Window":
        if (self.days is None) == (self.day_of_month is None):
            raise ValueError("a window needs either days (weekly) or day_of_month (monthly)")
        return self

    @property
    def length(self) -> timedelta:
        start = datetime.combine(date.min, self.start)
        end = datetime.combine(date.min, self.end)
        return end - start if end > start else end + timedelta(days=1) - start

    def starts_on(self, day: date) -> bool:
        if self.days is not None:
            return WEEKDAYS[day.weekday()] in self.days
        return day.day == self.day_of_month


class Hours(_Strict):
    timezone: str
    always: bool = False
    varies: bool = False
    windows: tuple[Window, ...] = ()

    _zone = field_validator("timezone")(_zone_name)

    @model_validator(mode="after")
    def _one_kind(self) -> "Hours":
        if sum((self.always, self.varies, bool(self.windows))) != 1:
            raise ValueError("hours need exactly one of always: true, varies: true or windows")
        return self

    def open_at(self, now: datetime) -> bool | None:
        """Whether the line is open at ``now`` (None when its hours vary by region)."""
        if self.always:
            return True
        if self.varies:
            return None
        local = now.astimezone(ZoneInfo(self.timezone))
        tz = local.tzinfo
        for w in self.windows:
            for back in (0, 1):  # a window that started yesterday may still be open
                day = local.date() - timedelta(days=back)
                if not w.starts_on(day):
                    continue
                opened = datetime.combine(day, w.start, tzinfo=tz)
                if opened <= local < opened + w.length:
                    return True
        return False


class Checked(_Strict):
    date: date
    source: str = Field(min_length=3)
    verify_before_release: bool


class Resource(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: dict[str, str]
    short: dict[str, str]
    kind: Kind
    number: str | None = Field(default=None, pattern=r"^[0-9][0-9-]{1,15}$")
    url: str | None = Field(default=None, pattern=r"^https://[^\s]+$")
    languages: tuple[str, ...] = Field(min_length=1)
    free: bool
    emergency: bool = False
    hours: Hours
    note: dict[str, str] | None = None
    checked: Checked

    @field_validator("name", "short", "note")
    @classmethod
    def _both_languages(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        missing = [lang for lang in LANGUAGES if not (value.get(lang) or "").strip()]
        if missing:
            raise ValueError(f"needs text in {', '.join(missing)}")
        return value

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in LANGUAGES]
        if unknown:
            raise ValueError(f"unknown language(s) {unknown} (known: {', '.join(LANGUAGES)})")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> "Resource":
        if self.kind in ("phone", "text") and not self.number:
            raise ValueError(f"a {self.kind} resource needs a number")
        if self.kind in ("chat", "web") and not self.url:
            raise ValueError(f"a {self.kind} resource needs a url")
        return self

    @property
    def tel(self) -> str | None:
        """The tel: URI of a phone line (dial string without dashes)."""
        return f"tel:{self.number.replace('-', '')}" if self.kind == "phone" and self.number else None

    @property
    def link(self) -> str | None:
        """Where tapping the resource goes: its tel: URI or its web address."""
        return self.tel or self.url

    @property
    def by_text(self) -> bool:
        """Reachable without speaking: text message, chat, or a directory of those."""
        return self.kind in ("text", "chat")


class Country(_Strict):
    name: dict[str, str]
    timezones: tuple[str, ...] = ()
    resources: tuple[Resource, ...] = Field(min_length=1)

    @field_validator("timezones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for z in value:
            _zone_name(z)
        return value


class ResourceBook(_Strict):
    """Every country's resources and the fallback for everyone else."""

    fallback: str
    countries: dict[str, Country]

    @model_validator(mode="after")
    def _consistent(self) -> "ResourceBook":
        if self.fallback not in self.countries:
            raise ValueError(f"fallback {self.fallback!r} is not one of the countries")
        seen: dict[str, str] = {}
        ids: set[str] = set()
        for code, country in self.countries.items():
            for z in country.timezones:
                if z in seen:
                    raise ValueError(f"time zone {z} is listed by both {seen[z]} and {code}")
                seen[z] = code
            for r in country.resources:
                if r.id in ids:
                    raise ValueError(f"resource id {r.id!r} is used twice")
                ids.add(r.id)
        return self

    def country_for(self, timezone: str | None) -> str:
        """The country a person's timezone puts them in (the fallback when none lists it)."""
        for code, country in self.countries.items():
            if timezone and timezone in country.timezones:
                return code
        return self.fallback

    def unverified(self) -> list[str]:
        return [r.id for c in self.countries.values() for r in c.resources if r.checked.verify_before_release]


@dataclass(frozen=True, slots=True)
class Listed:
    """A resource as shown to one person: whether it speaks their language and is open now."""

    resource: Resource
    in_language: bool
    open_now: bool | None


def resources_for(book: ResourceBook, *, timezone: str | None, lang: str, now: datetime) -> list[Listed]:
    """The resources for this person, ordered: their language first (file order), then the rest,
    emergency numbers last. An English speaker in Japan gets the Japanese set with TELL first."""
    country = book.countries[book.country_for(timezone)]
    listed = [Listed(r, lang in r.languages, r.hours.open_at(now)) for r in country.resources]
    return sorted(listed, key=lambda x: (x.resource.emergency, not x.in_language))


def load_resources(root: Path) -> tuple[ResourceBook | None, list[ContentError]]:
    """``root/crisis/resources.yaml``, validated; every problem named with its key
    (a resource by its id: ``countries.JP.resources[yorisoi].hours``)."""
    from bot.content import load_model

    return load_model(root, RESOURCES_FILE, ResourceBook, missing="missing: crisis resources are required",
                      list_items="bracket")
