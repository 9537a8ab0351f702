"""`bansou chat --json`: a whole conversation scripted from standard input, kept across restarts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.transcript import shipped_content


def chat(lines: list[str], *, env: dict, user: str = "me", lang: str | None = None) -> list[dict]:
    args = [sys.executable, "-m", "handlers.cli", "chat", "--json", "--user", user] + (["--lang", lang] if lang else [])
    proc = subprocess.run(args, input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["input"] for o in out] == [line for line in lines if line.strip()]
    return out


@pytest.fixture
def env(database_url):
    return dict(os.environ, DATABASE_URL=database_url, LOG_LEVEL="WARNING")


def label(message_id: str, lang: str) -> str:
    return shipped_content().text(message_id, lang)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_onboarding_checkin_and_boundary_practice_then_a_restart(env, lang):
    L = lambda mid: label(mid, lang)  # noqa: E731
    first = chat([
        "こんにちは" if lang == "ja" else "hello",
        L(f"onboarding.lang_{lang}"),
        L("onboarding.consent_yes"),
        L("reminders.preset.weekday_morning"),
        L("menu.checkin"),
        "3", "2", "4",
        "断れなくて、毎晩遅くまで作業してます" if lang == "ja" else "I couldn't say no and worked late every night",
    ], env=env)
    assert [o["state"] for o in first] == [
        "onboarding:language", "onboarding:consent", "onboarding:reminders", "menu:choose",
        "checkin:energy", "checkin:boundaries", "checkin:client_respect", "checkin:reflection", "checkin:question"]
    assert {s["kind"] for s in first[-1]["signals"]} >= {"people_pleasing"}
    assert first[4]["replies"][-1]["choices"][0] == L("score.1")

    # a new process: the conversation picks up where it was
    second = chat([L("checkin.thought_about_it"), L("offer.accept")], env=env)
    assert second[0]["state"] == "idle"
    assert second[0]["replies"][0]["text"] in (L("checkin.saved"), L("checkin.saved.2"))  # worded by the week
    assert second[1]["state"].startswith("boundary:")

    export = chat([ "データ出力" if lang == "ja" else "export my data"], env=env)
    data = json.loads(next(r["text"] for r in export[0]["replies"] if r["text"].startswith("{")))
    assert [(c["energy"], c["boundaries"], c["client_respect"]) for c in data["checkins"]] == [(3, 2, 4)]
    assert data["user"]["language"] == lang


def test_crisis_in_chat_gets_the_safety_reply(env):
    out = chat(["死にたい"], env=env, lang="ja")
    assert out[0]["signals"][0]["kind"] == "crisis"
    assert "0120-279-338" in out[0]["replies"][0]["text"]
    assert out[0]["state"] == "crisis_care:listening"


@pytest.mark.parametrize("lang,lines,states", [
    ("ja", ["メニュー", "にほんご", "点数だけ", "平日の朝8時でお願いします", "チェックイン", "3くらい",
            "リマインドとめて", "2かな", "わからない", "スキップ"],
     ["onboarding:language", "onboarding:consent", "onboarding:reminders", "menu:choose", "checkin:energy",
      "checkin:boundaries", "checkin:boundaries", "checkin:client_respect", "checkin:reflection", "checkin:question"]),
    ("en", ["hi", "eigo", "scores only please", "no reminders", "check in", "about four",
            "what can you do?", "2", "3", "skip"],
     ["onboarding:language", "onboarding:consent", "onboarding:reminders", "menu:choose", "checkin:energy",
      "checkin:boundaries", "checkin:boundaries", "checkin:client_respect", "checkin:reflection", "checkin:question"]),
])
def test_typed_only_conversation_keeps_the_json_contract(env, lang, lines, states):
    out = chat(lines, env=env, user=f"typist-{lang}")
    assert [o["state"] for o in out] == states
    for o in out:
        assert set(o) == {"input", "state", "signals", "replies"}
        for r in o["replies"]:
            assert "ボタン" not in r["text"] and "button" not in r["text"].lower()
