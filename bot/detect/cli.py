"""``bansou detect``: run the detectors on texts or standard input, score them on a labelled file,
or retrain the shipped model (``bansou detect train``).

Standard input is read as bytes, one message a line, and every line gets an answer in input
order: an empty line gets no signals; a line that is not valid UTF-8 is read with U+FFFD in place
of the bad bytes and a warning naming the line goes to standard error; a line longer than
MAX_LINE_BYTES is cut there, with a warning.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Iterable, Iterator

from bot.detect.detector import Detector, load_detector
from bot.detect.evaluate import LabelledFileError, evaluate, load_labelled
from bot.detect.normalise import guess_language
from bot.errors import ContentInvalid
from bot.settings import load_settings

MAX_LINE_BYTES = 1_000_000


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``detect`` sub-command to ``subparsers``; its ``func`` is the async ``run``."""
    parser = subparsers.add_parser(
        "detect", help="run the detectors on each TEXT, or on each line of standard input",
        description="Run the detectors on each TEXT, or on each line of standard input. "
                    "`bansou detect train` rebuilds the model from content/detect/corpus/.")
    parser.add_argument("texts", nargs="*", metavar="TEXT",
                        help="messages to check (default: stdin lines); the single word `train` retrains")
    parser.add_argument("--json", action="store_true", help="one JSON object per input line")
    parser.add_argument("--lang", choices=("ja", "en"), help="force the language instead of guessing it")
    parser.add_argument("--eval", metavar="FILE", type=Path,
                        help="score the detectors on a labelled JSONL file ({text, lang, kinds[, explicit]})")
    parser.add_argument("--mistakes", action="store_true", help="with --eval: also list the misread rows")
    parser.add_argument("--content-dir", type=Path, help="content folder (default: CONTENT_DIR)")
    parser.set_defaults(func=run)
    return parser


def _clean(text: str) -> str:
    """Arguments the OS could not decode arrive with lone surrogates; make them U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _result(detector: Detector, text: str, lang: str | None) -> dict:
    lang = lang or guess_language(text)
    signals = detector.detect(text, lang)
    return {"text": text, "lang": lang, "signals": [s.as_dict() for s in signals]}


def _visible(text: str) -> str:
    """Control characters shown as escapes, so a message cannot drive the terminal."""
    return "".join(f"\\x{ord(c):02x}" if (ord(c) < 32 and c != "\t") or 0x7F <= ord(c) < 0xA0 else c
                   for c in text)


def _readable(result: dict) -> list[str]:
    lines = [f"{_visible(result['text'])}  [{result['lang']}]"]
    if not result["signals"]:
        lines.append("  (no signal)")
    for s in result["signals"]:
        lines.append(f"  {s['kind']:<16} 「{_visible(s['evidence'])}」 at {s['start']}-{s['end']}  score {s['score']}")
    return lines


def _stdin_lines(stream, warn) -> Iterator[str]:
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            warn(f"line {number}: longer than {MAX_LINE_BYTES:,} bytes; read up to there")
            raw = raw[:MAX_LINE_BYTES]
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        raw = raw.rstrip(b"\r\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            warn(f"line {number}: not valid UTF-8 (byte {exc.start}); read with U+FFFD in place of the bad bytes")
            text = raw.decode("utf-8", "replace")
        yield text


def _inputs(args: argparse.Namespace) -> Iterable[str]:
    if args.texts:
        yield from (_clean(t) for t in args.texts)
        return
    yield from _stdin_lines(sys.stdin.buffer, lambda m: print(f"bansou detect: {m}", file=sys.stderr))


def _train(content_dir: Path) -> int:
    from bot.detect.train import train

    try:
        train(content_dir, log=lambda line: print(line, flush=True))
    except ContentInvalid as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


async def run(args: argparse.Namespace) -> int:
    """Run the sub-command; return the process exit status."""
    content_dir = args.content_dir or load_settings().content_dir
    if args.texts == ["train"] and args.eval is None:
        return _train(content_dir)
    try:
        detector = load_detector(content_dir)
    except ContentInvalid as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.eval is not None:
        try:
            examples = load_labelled(args.eval)
        except LabelledFileError as exc:
            print(f"bansou detect --eval: {exc}", file=sys.stderr)
            return 2
        report = evaluate(detector, examples)
        print(f"{len(examples)} messages from {args.eval}")
        print("\n".join(report.lines()))
        if args.mistakes:
            for ex, found in report.mistakes:
                print(f"  line {ex.line}: labelled {sorted(ex.kinds)}, found {sorted(found)}: {ex.text}")
        return 0
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    out = sys.stdout
    for text in _inputs(args):
        result = _result(detector, text, args.lang)
        if args.json:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
        else:
            out.write("\n".join(_readable(result)) + "\n")
    out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bot.detect.cli`` (the same as ``bansou detect``)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    parser = argparse.ArgumentParser(prog="bansou")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(["detect", *(sys.argv[1:] if argv is None else argv)])
    return asyncio.run(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
