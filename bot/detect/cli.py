"""``bansou detect``: run the detectors on texts or standard input, or score them on a labelled file."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Iterable

from bot.detect.detector import Detector, load_detector
from bot.detect.evaluate import LabelledFileError, evaluate, load_labelled
from bot.detect.normalise import guess_language
from bot.errors import ContentInvalid
from bot.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``detect`` sub-command to ``subparsers``; its ``func`` is the async ``run``."""
    parser = subparsers.add_parser(
        "detect", help="run the detectors on each TEXT, or on each line of standard input",
        description="Run the detectors on each TEXT, or on each line of standard input.")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="messages to check (default: stdin lines)")
    parser.add_argument("--json", action="store_true", help="one JSON object per input line")
    parser.add_argument("--lang", choices=("ja", "en"), help="force the language instead of guessing it")
    parser.add_argument("--eval", metavar="FILE", type=Path,
                        help="score the detectors on a labelled JSONL file ({text, lang, kinds})")
    parser.add_argument("--content-dir", type=Path, help="content folder (default: CONTENT_DIR)")
    parser.set_defaults(func=run)
    return parser


def _result(detector: Detector, text: str, lang: str | None) -> dict:
    lang = lang or guess_language(text)
    signals = detector.detect(text, lang)
    return {"text": text, "lang": lang, "signals": [s.as_dict() for s in signals]}


def _readable(result: dict) -> list[str]:
    lines = [f"{result['text']}  [{result['lang']}]"]
    if not result["signals"]:
        lines.append("  (no signal)")
    for s in result["signals"]:
        lines.append(f"  {s['kind']:<16} 「{s['evidence']}」 at {s['start']}-{s['end']}  score {s['score']}")
    return lines


def _inputs(args: argparse.Namespace) -> Iterable[str]:
    if args.texts:
        yield from args.texts
        return
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


async def run(args: argparse.Namespace) -> int:
    """Run the sub-command; return the process exit status."""
    content_dir = args.content_dir or load_settings().content_dir
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
        return 0
    for text in _inputs(args):
        result = _result(detector, text, args.lang)
        if args.json:
            print(json.dumps(result, ensure_ascii=False), flush=False)
        else:
            print("\n".join(_readable(result)))
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bot.detect.cli`` until the main CLI wires the sub-command."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    parser = argparse.ArgumentParser(prog="bansou")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(["detect", *(sys.argv[1:] if argv is None else argv)])
    return asyncio.run(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
