"""The LINE rich menu, from ``content/line/richmenu.yaml``: loading and checking the file, the
request LINE's ``createRichMenu`` takes, and the content hash that makes set-up idempotent.

Pure (no network, no Pillow): ``handlers/line/richmenu_draw.py`` draws the images and
``handlers/line/richmenu_setup.py`` talks to LINE.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ContentError, ContentInvalid
from bot.yamlfile import load_yaml
from bot.types import LANGUAGES

FILE = Path("line") / "richmenu.yaml"
NAME_PREFIX = "bansou"      # every menu and alias we own starts with this
NAME_MAX = 300              # richMenu name
CHAT_BAR_MAX = 14           # chatBarText
LABEL_MAX = 20              # postback action label
DATA_MAX = 300              # postback data
SIZES = ((2500, 1686), (2500, 843))
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
# What a postback may ask for: a flow, a global command, or a view the LINE adapter answers itself.
_DATA = re.compile(r"^(go:[a-z_]+|cmd:[a-z_]+|view:trend)$")
ICONS = ("check", "hand", "trend", "bell", "question", "folder")


@dataclass(frozen=True, slots=True)
class Area:
    id: str
    data: str
    icon: str
    colour: str
    label: dict[str, str]
    hint: dict[str, str]


@dataclass(frozen=True, slots=True)
class RichMenuSpec:
    width: int
    height: int
    columns: int
    rows: int
    default_language: str
    style: dict[str, str]
    areas: tuple[Area, ...]
    chat_bar: dict[str, str]

    def bounds(self, index: int) -> dict[str, int]:
        """The tap area of cell ``index`` (row by row), edges shared so the grid covers the image."""
        col, row = index % self.columns, index // self.columns
        x0, x1 = self.width * col // self.columns, self.width * (col + 1) // self.columns
        y0, y1 = self.height * row // self.rows, self.height * (row + 1) // self.rows
        return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}

    def as_data(self, lang: str) -> dict[str, Any]:
        """Everything that shapes ``lang``'s menu, as plain data (for the content hash)."""
        return {"size": [self.width, self.height], "grid": [self.columns, self.rows], "style": self.style,
                "areas": [_area_dict(a, lang) for a in self.areas], "chat_bar": self.chat_bar[lang],
                "default": lang == self.default_language}


def _area_dict(a: Area, lang: str) -> dict[str, Any]:
    return {"id": a.id, "data": a.data, "icon": a.icon, "colour": a.colour, "label": a.label[lang],
            "hint": a.hint[lang]}


def image_path(content_dir: Path, lang: str) -> Path:
    return Path(content_dir) / "line" / f"richmenu-{lang}.png"


def load_spec(content_dir: Path, *, flows: set[str] | None = None, commands: set[str] | None = None) -> RichMenuSpec:
    """Read and check the rich menu file; raises ContentInvalid naming file, key and problem.
    With ``flows``/``commands``, a ``go:``/``cmd:`` postback must name one that exists."""
    path = Path(content_dir) / FILE
    errors: list[ContentError] = []

    def bad(key: str, problem: str) -> None:
        errors.append(ContentError(str(FILE), key, problem))

    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentInvalid([ContentError(str(FILE), "-", "file is missing")]) from None
    except yaml.YAMLError as exc:
        raise ContentInvalid([ContentError(str(FILE), "-", f"not valid YAML: {exc}")]) from None
    if not isinstance(raw, dict):
        raise ContentInvalid([ContentError(str(FILE), "-", "expected a mapping")])
    size = raw.get("size") or {}
    width, height = size.get("width"), size.get("height")
    if (width, height) not in SIZES:
        bad("size", f"must be one of {', '.join(f'{w}x{h}' for w, h in SIZES)}")
    columns, rows = raw.get("columns"), raw.get("rows")
    if not isinstance(columns, int) or not isinstance(rows, int) or columns < 1 or rows < 1:
        bad("columns/rows", "must be positive integers")
        columns = rows = 1
    default = raw.get("default_language")
    if default not in LANGUAGES:
        bad("default_language", f"must be one of {LANGUAGES}")
    style = raw.get("style") or {}
    for key in ("background", "grid", "text", "subtext"):
        if not _COLOUR.match(str(style.get(key, ""))):
            bad(f"style.{key}", "must be a colour like #A1B2C3")
    chat_bar = _texts(raw.get("chat_bar"), "chat_bar", CHAT_BAR_MAX, bad)
    areas = []
    raw_areas = raw.get("areas")
    if not isinstance(raw_areas, list) or not raw_areas:
        bad("areas", "must be a non-empty list")
        raw_areas = []
    elif len(raw_areas) != columns * rows:
        bad("areas", f"{len(raw_areas)} areas for a {columns}x{rows} grid (need {columns * rows})")
    seen: set[str] = set()
    for i, a in enumerate(raw_areas):
        where = f"areas[{i}]"
        if not isinstance(a, dict):
            bad(where, "must be a mapping")
            continue
        aid = str(a.get("id") or "")
        if not re.match(r"^[a-z_]+$", aid) or aid in seen:
            bad(f"{where}.id", "must be a unique lower_snake_case id")
        seen.add(aid)
        data = str(a.get("data") or "")
        if not _DATA.match(data) or len(data) > DATA_MAX:
            bad(f"{where}.data", "must be go:FLOW, cmd:COMMAND or view:trend")
        elif flows is not None and data.startswith("go:") and data[3:] not in flows:
            bad(f"{where}.data", f"unknown flow {data[3:]!r}")
        elif commands is not None and data.startswith("cmd:") and data[4:] not in commands:
            bad(f"{where}.data", f"unknown command {data[4:]!r}")
        if a.get("icon") not in ICONS:
            bad(f"{where}.icon", f"must be one of {ICONS}")
        if not _COLOUR.match(str(a.get("colour", ""))):
            bad(f"{where}.colour", "must be a colour like #A1B2C3")
        label = _texts(a.get("label"), f"{where}.label", LABEL_MAX, bad)
        hint = _texts(a.get("hint"), f"{where}.hint", 40, bad)
        areas.append(Area(id=aid, data=data, icon=str(a.get("icon")), colour=str(a.get("colour")),
                          label=label, hint=hint))
    if errors:
        raise ContentInvalid(errors)
    return RichMenuSpec(width=width, height=height, columns=columns, rows=rows, default_language=default,
                        style={k: str(v) for k, v in style.items()}, areas=tuple(areas), chat_bar=chat_bar)


def _texts(value: Any, key: str, limit: int, bad) -> dict[str, str]:
    if not isinstance(value, dict):
        bad(key, "must give the text in ja and en")
        return {}
    out = {}
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            bad(f"{key}.{lang}", "missing")
        elif len(text) > limit:
            bad(f"{key}.{lang}", f"longer than {limit} characters")
        else:
            out[lang] = text
    return out


def content_hash(spec: RichMenuSpec, lang: str, image: bytes) -> str:
    """A short digest of one language's menu: its definition and its image."""
    h = hashlib.sha256()
    h.update(json.dumps({"lang": lang, "spec": spec.as_data(lang)}, sort_keys=True, ensure_ascii=False).encode())
    h.update(image)
    return h.hexdigest()[:12]


def menu_name(lang: str, digest: str) -> str:
    return f"{NAME_PREFIX}-{lang}-{digest}"


def alias_id(lang: str) -> str:
    """The stable alias of a language's current menu (``bansou-ja``)."""
    return f"{NAME_PREFIX}-{lang}"


def menu_request(spec: RichMenuSpec, lang: str, digest: str) -> dict[str, Any]:
    """The body of ``POST /v2/bot/richmenu`` (RichMenuRequest) for ``lang``."""
    areas = []
    for i, a in enumerate(spec.areas):
        areas.append({"bounds": spec.bounds(i),
                      "action": {"type": "postback", "label": a.label[lang], "data": a.data,
                                 "displayText": a.label[lang]}})
    return {"size": {"width": spec.width, "height": spec.height}, "selected": False,
            "name": menu_name(lang, digest), "chatBarText": spec.chat_bar[lang], "areas": areas}
