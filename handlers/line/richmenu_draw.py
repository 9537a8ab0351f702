"""Drawing the rich menu images with Pillow and a Japanese font (``bansou line render-menu``).

Only the render command and its test import this: running bansou uploads the PNGs committed under
``content/line/`` and needs neither Pillow nor a font.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from handlers.line.richmenu import RichMenuSpec

# Debian's fonts-ipaexfont-gothic (scripts/test installs it when it can), then its alternative link.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
)
MAX_BYTES = 1024 * 1024  # LINE refuses a rich menu image over 1 MB


class FontMissing(RuntimeError):
    """No Japanese font to draw with."""


def find_font(explicit: str | None = None) -> str:
    """The font file to draw with: ``explicit``, $BANSOU_MENU_FONT, or IPAex Gothic from Debian."""
    for candidate in (explicit, os.environ.get("BANSOU_MENU_FONT"), *FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FontMissing("no Japanese font: install Debian's fonts-ipaexfont-gothic or set BANSOU_MENU_FONT")


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _tint(colour: str, amount: float) -> tuple[int, int, int]:
    """``colour`` mixed with white (amount 0 = colour, 1 = white)."""
    return tuple(round(c + (255 - c) * amount) for c in _rgb(colour))  # type: ignore[return-value]


def _icon(draw, kind: str, cx: int, cy: int, r: int, colour: tuple[int, int, int], font_path: str) -> None:
    """A simple line icon of radius ``r`` centred on (cx, cy)."""
    from PIL import ImageFont

    w = max(r // 7, 6)
    if kind == "check":
        draw.line([(cx - r * 0.55, cy + r * 0.02), (cx - r * 0.15, cy + r * 0.42), (cx + r * 0.6, cy - r * 0.45)],
                  fill=colour, width=w, joint="curve")
    elif kind == "hand":  # an open palm: "stop here, kindly"
        for i, dx in enumerate((-0.42, -0.14, 0.14, 0.42)):
            top = cy - r * (0.55 if i in (1, 2) else 0.42)
            draw.rounded_rectangle([cx + dx * r - r * 0.1, top, cx + dx * r + r * 0.1, cy + r * 0.1],
                                   radius=r * 0.1, fill=colour)
        draw.rounded_rectangle([cx - r * 0.52, cy - r * 0.05, cx + r * 0.52, cy + r * 0.6], radius=r * 0.25,
                               fill=colour)
    elif kind == "trend":
        pts = [(cx - r * 0.6, cy + r * 0.35), (cx - r * 0.2, cy - r * 0.05), (cx + r * 0.1, cy + r * 0.15),
               (cx + r * 0.6, cy - r * 0.4)]
        draw.line(pts, fill=colour, width=w, joint="curve")
        for x, y in pts:
            draw.ellipse([x - w, y - w, x + w, y + w], fill=colour)
    elif kind == "bell":
        draw.pieslice([cx - r * 0.5, cy - r * 0.55, cx + r * 0.5, cy + r * 0.45], 180, 360, fill=colour)
        draw.rectangle([cx - r * 0.5, cy - r * 0.06, cx + r * 0.5, cy + r * 0.3], fill=colour)
        draw.rounded_rectangle([cx - r * 0.65, cy + r * 0.25, cx + r * 0.65, cy + r * 0.38], radius=r * 0.06,
                               fill=colour)
        draw.ellipse([cx - r * 0.13, cy + r * 0.4, cx + r * 0.13, cy + r * 0.62], fill=colour)
    elif kind == "question":
        font = ImageFont.truetype(font_path, int(r * 1.3))
        draw.text((cx, cy), "?", font=font, fill=colour, anchor="mm")
    elif kind == "folder":
        draw.rounded_rectangle([cx - r * 0.6, cy - r * 0.45, cx - r * 0.05, cy - r * 0.2], radius=r * 0.08,
                               fill=colour)
        draw.rounded_rectangle([cx - r * 0.6, cy - r * 0.3, cx + r * 0.6, cy + r * 0.45], radius=r * 0.1,
                               fill=colour)


def _fit(font_path: str, text: str, size: int, max_width: int):
    """The font at ``size`` or smaller, so ``text`` fits in ``max_width``."""
    from PIL import ImageFont

    while True:
        font = ImageFont.truetype(font_path, size)
        if font.getlength(text) <= max_width or size <= 20:
            return font
        size -= 4


def render(spec: RichMenuSpec, lang: str, *, font_path: str) -> bytes:
    """One language's menu as PNG bytes: a grid of tiles, each an icon, a label and a hint."""
    from PIL import Image, ImageDraw

    style = spec.style
    image = Image.new("RGB", (spec.width, spec.height), _rgb(style["background"]))
    draw = ImageDraw.Draw(image)
    cell_h = spec.height // spec.rows
    scale = cell_h / 843
    for i, area in enumerate(spec.areas):
        b = spec.bounds(i)
        x0, y0, w, h = b["x"], b["y"], b["width"], b["height"]
        pad = int(28 * scale)
        draw.rounded_rectangle([x0 + pad, y0 + pad, x0 + w - pad, y0 + h - pad], radius=int(48 * scale),
                               fill=_tint(area.colour, 0.86))
        cx, cy, r = x0 + w // 2, y0 + int(h * 0.36), int(150 * scale)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_rgb(area.colour))
        _icon(draw, area.icon, cx, cy, int(r * 0.8), (255, 255, 255), font_path)
        label = _fit(font_path, area.label[lang], int(96 * scale), w - 2 * pad - 40)
        draw.text((cx, y0 + int(h * 0.69)), area.label[lang], font=label, fill=_rgb(style["text"]), anchor="mm")
        hint = _fit(font_path, area.hint[lang], int(56 * scale), w - 2 * pad - 40)
        draw.text((cx, y0 + int(h * 0.82)), area.hint[lang], font=hint, fill=_rgb(style["subtext"]), anchor="mm")
    for col in range(1, spec.columns):
        x = spec.width * col // spec.columns
        draw.line([(x, 0), (x, spec.height)], fill=_rgb(style["grid"]), width=4)
    for row in range(1, spec.rows):
        y = spec.height * row // spec.rows
        draw.line([(0, y), (spec.width, y)], fill=_rgb(style["grid"]), width=4)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    data = out.getvalue()
    if len(data) > MAX_BYTES:
        raise ValueError(f"rich menu image for {lang} is {len(data)} bytes; LINE takes at most {MAX_BYTES}")
    return data
