"""Broken content is refused with the file, the key and the problem named."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.content import load_content, validate_content
from bot.errors import ContentInvalid
from tests.transcript import CONTENT_DIR


@pytest.fixture
def content_copy(tmp_path) -> Path:
    dst = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, dst)
    return dst


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def problems(root: Path) -> list[str]:
    return [str(e) for e in validate_content(root)]


def test_shipped_content_is_valid():
    assert validate_content(CONTENT_DIR) == []
    content = load_content(CONTENT_DIR)
    assert {"onboarding", "menu", "checkin", "privacy"} <= set(content.flows)


def test_unknown_target_names_file_key_and_target(content_copy):
    edit_yaml(content_copy / "flows/checkin.yaml",
              lambda d: d["states"]["energy"]["choices"][0].update(next="nowhere"))
    errs = problems(content_copy)
    assert any(e.startswith("flows/checkin.yaml: states.energy.choices.1.next: unknown target 'nowhere'")
               for e in errs), errs


def test_unreachable_state_is_reported(content_copy):
    edit_yaml(content_copy / "flows/checkin.yaml",
              lambda d: d["states"].update(orphan={"say": ["checkin.saved"], "next": "end"}))
    assert "flows/checkin.yaml: states.orphan: unreachable from the start state 'energy'" in problems(content_copy)


def test_message_missing_in_one_language(content_copy):
    edit_yaml(content_copy / "messages/en/checkin.yaml", lambda d: d.pop("checkin.saved"))
    errs = problems(content_copy)
    assert any("messages/ja/checkin.yaml: checkin.saved: missing in language(s): en" == e for e in errs), errs


def test_unknown_signal_kind(content_copy):
    edit_yaml(content_copy / "flows/checkin.yaml",
              lambda d: d["states"]["reflection"].update(on_signal={"grumpiness": "question"}))
    assert any("states.reflection.on_signal.grumpiness: unknown signal kind" in e for e in problems(content_copy))


def test_malformed_schedule(content_copy):
    edit_yaml(content_copy / "reminders.yaml", lambda d: d["presets"][0].update(time="25:00", days=["someday"]))
    errs = problems(content_copy)
    assert "reminders.yaml: presets.weekday_morning.time: time must be HH:MM (24-hour), not '25:00'" in errs
    assert any(e.startswith("reminders.yaml: presets.weekday_morning.days:") for e in errs)


def test_yaml_syntax_error_names_the_line(content_copy):
    (content_copy / "flows/menu.yaml").write_text("id: menu\nstates: [unclosed\n", encoding="utf-8")
    errs = problems(content_copy)
    assert any(e.startswith("flows/menu.yaml: line ") and "not valid YAML" in e for e in errs), errs


def test_yes_as_choice_id_explains_the_yaml_trap(content_copy):
    path = content_copy / "flows/privacy.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{id: confirm,", "{id: yes,"), encoding="utf-8")
    assert any("is not text: quote it" in e for e in problems(content_copy))


def test_unknown_action_and_bad_argument(content_copy):
    edit_yaml(content_copy / "flows/onboarding.yaml",
              lambda d: d["states"]["language"]["choices"][0].update(actions=["fly", {"set_language": "fr"}]))
    errs = problems(content_copy)
    assert any("unknown action 'fly'" in e for e in errs)
    assert any("set_language needs one of ('ja', 'en'), not 'fr'" in e for e in errs)


def test_theme_must_match_its_seed(content_copy):
    edit_yaml(content_copy / "messages/en/checkin.yaml", lambda d: d.update(_seed="004_06449b417b716eba.txt"))
    assert any("theme 'results_emerge' comes from seed '000_f39c0e8aba4ab1c7.txt'" in e for e in problems(content_copy))


def test_placeholders_must_agree_between_languages(content_copy):
    edit_yaml(content_copy / "messages/en/signals.yaml",
              lambda d: d["noticed.people_pleasing"].update(text="You wrote something."))
    assert any("noticed.people_pleasing: placeholders differ" in e for e in problems(content_copy))


def test_load_content_raises_with_every_problem(content_copy):
    edit_yaml(content_copy / "flows/checkin.yaml", lambda d: d.update(start="nope"))
    edit_yaml(content_copy / "messages/ja/common.yaml", lambda d: d.pop("common.help"))
    with pytest.raises(ContentInvalid) as info:
        load_content(content_copy)
    text = str(info.value)
    assert "flows/checkin.yaml: start: start state 'nope' is not declared" in text
    assert "common.help" in text


def test_content_check_command_and_refused_start_up(content_copy, tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/x.db", CONTENT_DIR=str(content_copy))
    ok = subprocess.run([sys.executable, "-m", "handlers.cli", "content", "check", str(content_copy)],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "OK:" in ok.stdout
    edit_yaml(content_copy / "flows/checkin.yaml", lambda d: d["states"]["energy"].update(next="nowhere"))
    bad = subprocess.run([sys.executable, "-m", "handlers.cli", "content", "check", str(content_copy)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1
    assert "flows/checkin.yaml: states.energy.next: unknown target 'nowhere'" in bad.stderr
    serve = subprocess.run([sys.executable, "-m", "handlers.cli", "serve", "--port", "0"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert serve.returncode == 1
    assert "flows/checkin.yaml: states.energy.next" in serve.stderr
    assert "Traceback" not in serve.stderr


def test_graph_prints_mermaid():
    out = subprocess.run([sys.executable, "-m", "handlers.cli", "content", "graph", "checkin"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> energy" in lines
    assert "    energy --> boundaries: 3" in lines
    assert "    reflection --> question: text" in lines
    unknown = subprocess.run([sys.executable, "-m", "handlers.cli", "content", "graph", "nope"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown flow 'nope'" in unknown.stderr
