"""The ``detect`` sub-command: JSON contract, stdin mode and bad input, readable output, --eval, train."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from handlers.commands.detect import register

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "detect_dev.jsonl"


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "handlers.commands.detect", *args], input=stdin, capture_output=True,
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


def test_missing_model_stops_the_command_naming_the_fix(tmp_path):
    import shutil

    shutil.copytree(ROOT / "content" / "lexicons", tmp_path / "lexicons")
    proc = run_cli("--content-dir", str(tmp_path), "hello")
    assert proc.returncode != 0 and "bansou detect train" in proc.stderr


def test_eval_prints_crisis_recall_explicit_recall_and_neutral_false_alarms(tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    rows = [
        {"text": "死にたい", "lang": "ja", "kinds": ["crisis"], "explicit": True},
        {"text": "I want to die", "lang": "en", "kinds": ["crisis"], "explicit": True},
        {"text": "請求書を送付しました。", "lang": "ja", "kinds": []},
        {"text": "Invoice attached.", "lang": "en", "kinds": []},
    ]
    labelled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    proc = run_cli("--eval", str(labelled))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "crisis recall: 2/2 = 1.000" in out
    assert "crisis recall on explicit statements: 2/2 = 1.000" in out
    assert "false alarms on no-signal messages: 0/2 = 0.000" in out
    assert "micro-F1: 1.000" in out


def _run_bytes(stdin: bytes, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "handlers.commands.detect", *args], input=stdin, capture_output=True,
                          cwd=ROOT, env=env, timeout=120)


def test_bad_stdin_gets_an_answer_per_line_and_never_a_crash():
    long_line = ("仕事の話です。" * 15_000).encode("utf-8")  # over 100 kB
    stdin = b"\n".join([
        "死にたい".encode("utf-8"),
        b"",
        b"   ",
        b"\xff\xfe broken \xc3 bytes " + "断れない".encode("utf-8"),
        b"control \x00\x01\x1b[31m characters",
        long_line,
        b"I can't say no\r",
    ]) + b"\n"
    proc = _run_bytes(stdin, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert len(rows) == 7  # one answer per input line, in order
    assert rows[0]["signals"][0]["kind"] == "crisis"
    assert rows[1] == {"text": "", "lang": "en", "signals": []}
    assert rows[2]["signals"] == []
    assert "\ufffd" in rows[3]["text"] and rows[3]["text"].endswith("断れない")
    assert "line 4: not valid UTF-8" in proc.stderr.decode("utf-8")
    assert rows[4]["text"] == "control \x00\x01\x1b[31m characters"
    assert len(rows[5]["text"]) == len(long_line.decode("utf-8"))
    assert rows[6]["text"] == "I can't say no"
    for row in rows:
        for s in row["signals"]:
            assert row["text"][s["start"]:s["end"]] == s["evidence"]


def test_readable_output_escapes_control_characters():
    proc = _run_bytes(b"\x1b[31m\xe6\x96\xad\xe3\x82\x8c\xe3\x81\xaa\xe3\x81\x84\x07\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8")
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[31m" in out


def test_a_line_over_the_limit_is_cut_with_a_warning():
    import io

    from bot.detect.report import stream_lines

    warnings = []
    lines = list(stream_lines(io.BytesIO(b"0123456789abcdef\nshort\n"), warnings.append, max_bytes=10))
    assert lines == ["0123456789", "short"]
    assert warnings == ["line 1: longer than 10 bytes; read up to there"]


def test_train_rebuilds_the_model_in_a_content_folder(tmp_path):
    from tests.test_detect_model import _content_with_small_corpus

    content = _content_with_small_corpus(tmp_path, rows=200)
    proc = run_cli("--content-dir", str(content), "train")
    assert proc.returncode == 0, proc.stderr
    assert "written to" in proc.stdout
    assert (content / "detect" / "model.json").is_file() and (content / "detect" / "model.npy").is_file()
    proc = run_cli("--content-dir", str(content), "--json", "死にたい")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["signals"][0]["kind"] == "crisis"
