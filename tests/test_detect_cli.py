"""The ``detect`` sub-command: JSON contract, stdin mode, readable output, --eval."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bot.detect.cli import register

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "detect_dev.jsonl"


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "bot.detect.cli", *args], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", cwd=ROOT, env=env, timeout=60)


def test_json_one_object_per_text_in_order():
    texts = ["頼まれると断れなくて、毎晩2時まで作業してます", "I want to die", "Invoice attached."]
    proc = run_cli("--json", *texts)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [r["lang"] for r in rows] == ["ja", "en", "en"]
    assert "断れなく" in proc.stdout  # ensure_ascii=False
    first = rows[0]["signals"]
    assert [s["kind"] for s in first] == ["people_pleasing", "overwork"]
    for row in rows:
        for s in row["signals"]:
            assert set(s) == {"kind", "evidence", "start", "end", "score"}
            assert row["text"][s["start"]:s["end"]] == s["evidence"]
    assert rows[1]["signals"][0]["kind"] == "crisis"
    assert rows[2]["signals"] == []


def test_stdin_lines_when_no_text():
    proc = run_cli("--json", stdin="死にたい\nI can't say no\n死ぬほど笑った\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["死にたい", "I can't say no", "死ぬほど笑った"]
    assert [[s["kind"] for s in r["signals"]] for r in rows] == [["crisis"], ["people_pleasing"], []]


def test_readable_output_names_kind_and_evidence():
    proc = run_cli("断れずに引き受けた")
    assert proc.returncode == 0, proc.stderr
    assert "people_pleasing" in proc.stdout and "「断れず」" in proc.stdout


def test_eval_prints_per_kind_micro_and_false_alarms():
    proc = run_cli("--eval", str(DEV))
    assert proc.returncode == 0, proc.stderr
    for word in ("overwork", "people_pleasing", "controlling", "over_helping", "resentment", "crisis",
                 "micro", "false alarms"):
        assert word in proc.stdout
    micro = next(line for line in proc.stdout.splitlines() if line.startswith("micro")).split()
    assert float(micro[3]) >= 0.9  # P R F1 columns


def test_eval_rejects_a_malformed_file_naming_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "lang": "en", "kinds": []}\n{"text": "x", "lang": "en", "kinds": ["grumpy"]}\n',
                   encoding="utf-8")
    proc = run_cli("--eval", str(bad))
    assert proc.returncode != 0
    assert "bad.jsonl:2" in proc.stderr and "grumpy" in proc.stderr

    bad.write_text('{"text": "ok", "lang": "en", "kinds": []}\nnot json\n', encoding="utf-8")
    proc = run_cli("--eval", str(bad))
    assert proc.returncode != 0 and "bad.jsonl:2" in proc.stderr


def test_register_on_a_fresh_parser(capsys):
    import asyncio

    parser = argparse.ArgumentParser(prog="bansou")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["detect", "--json", "I can't say no"])
    assert asyncio.iscoroutinefunction(args.func)
    assert asyncio.run(args.func(args)) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["signals"][0]["evidence"] == "can't say no"


def test_broken_lexicon_stops_the_command(tmp_path):
    (tmp_path / "lexicons").mkdir()
    proc = run_cli("--content-dir", str(tmp_path), "hello")
    assert proc.returncode != 0 and "lexicon" in proc.stderr
