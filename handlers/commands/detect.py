"""``bansou detect``: run the detectors on texts or standard input, score them on a labelled file,
or retrain the shipped model (``bansou detect train``).

Standard input is read as bytes, one message a line, and every line gets an answer in input
order: an empty line gets no signals; a line that is not valid UTF-8 is read with U+FFFD in place
of the bad bytes and a warning naming the line goes to standard error; a line longer than
``bot.detect.report.MAX_LINE_BYTES`` is cut there, with a warning. What is shown for a message
comes from ``bot.detect.report``; this module is the command's arguments and printing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Iterable

from bot.detect.detector import load_detector
from bot.detect.evaluate import LabelledFileError, evaluate, load_labelled
from bot.detect.report import clean_argument, detect_result, readable_lines, stream_lines
from bot.errors import ContentInvalid
from bot.settings import load_settings


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


def _inputs(args: argparse.Namespace) -> Iterable[str]:
    if args.texts:
        yield from (clean_argument(t) for t in args.texts)
        return
    yield from stream_lines(sys.stdin.buffer, lambda m: print(f"bansou detect: {m}", file=sys.stderr))


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
        result = detect_result(detector, text, args.lang)
        if args.json:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
        else:
            out.write("\n".join(readable_lines(result)) + "\n")
    out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m handlers.commands.detect`` (the same as ``bansou detect``)."""
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
