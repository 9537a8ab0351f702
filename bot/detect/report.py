"""What ``bansou detect`` shows for one message, and how it reads messages from a byte stream.

Pure apart from reading the stream it is given: the command's argument parsing and printing
live at the edge (``handlers/commands/detect.py``).
"""
from __future__ import annotations

from typing import BinaryIO, Callable, Iterator

from bot.detect.detector import Detector
from bot.detect.normalise import guess_language

MAX_LINE_BYTES = 1_000_000


def clean_argument(text: str) -> str:
    """Arguments the OS could not decode arrive with lone surrogates; make them U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def detect_result(detector: Detector, text: str, lang: str | None) -> dict:
    """The contract's JSON object for one message: text, language, signals."""
    lang = lang or guess_language(text)
    signals = detector.detect(text, lang)
    return {"text": text, "lang": lang, "signals": [s.as_dict() for s in signals]}


def visible(text: str) -> str:
    """Control characters shown as escapes, so a message cannot drive the terminal."""
    return "".join(f"\\x{ord(c):02x}" if (ord(c) < 32 and c != "\t") or 0x7F <= ord(c) < 0xA0 else c
                   for c in text)


def readable_lines(result: dict) -> list[str]:
    """A result as lines for a person at a terminal."""
    lines = [f"{visible(result['text'])}  [{result['lang']}]"]
    if not result["signals"]:
        lines.append("  (no signal)")
    for s in result["signals"]:
        lines.append(f"  {s['kind']:<16} 「{visible(s['evidence'])}」 at {s['start']}-{s['end']}  score {s['score']}")
    return lines


def stream_lines(stream: BinaryIO, warn: Callable[[str], None], *, max_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """One message a line: a line that is not valid UTF-8 is read with U+FFFD in place of the bad
    bytes, a line longer than ``max_bytes`` is cut there; ``warn`` is told either, naming the line."""
    number = 0
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            warn(f"line {number}: longer than {max_bytes:,} bytes; read up to there")
            raw = raw[:max_bytes]
            while (rest := stream.readline(max_bytes)) and not rest.endswith(b"\n"):
                pass
        raw = raw.rstrip(b"\r\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            warn(f"line {number}: not valid UTF-8 (byte {exc.start}); read with U+FFFD in place of the bad bytes")
            text = raw.decode("utf-8", "replace")
        yield text
