"""Domains plug into content and the engine through bot.domain alone: a toy domain declared here gets
its flow action validated and run, its button answered, its file read and checked, its interruption
group honoured, with no change to the engine or the content loader."""
from __future__ import annotations

import shutil

import pytest
import yaml

import bot.domain
from bot.content import load_content, validate_content
from bot.content_models import Strict, commands_model
from bot.domain import ContentPart, Domain, FlowAction, Registry
from bot.errors import ContentError
from bot.reminders.domain import REMINDERS
from tests.transcript import CONTENT_DIR, EngineChat


class BreathFile(Strict):
    counts: dict[str, int]


def _check(content) -> list[ContentError]:
    return [ContentError("breath.yaml", f"counts.{k}", "must be positive")
            for k, v in content.parts["breath"].counts.items() if v <= 0]


BREATH = Domain(
    name="breath",
    actions={"breathe": FlowAction("duration", lambda turn, arg, vars: turn.effect("breathe", length=arg))},
    interrupt_groups=("breath",),
    choices={"breath": lambda turn, convo, parts: (turn.effect("breathed", count=parts[1]),
                                                   turn.reprompt(convo))[1]},
    content=ContentPart(file="breath.yaml", model=BreathFile, attach=lambda parsed: parsed,
                        empty=lambda: BreathFile(counts={}), check=_check),
)


@pytest.fixture
def with_breath(monkeypatch):
    def domains():
        return (REMINDERS, BREATH)
    for cache in (bot.domain.domains, bot.domain.registry, commands_model):
        cache.cache_clear()
    monkeypatch.setattr(bot.domain, "domains", domains)
    yield
    for cache in (bot.domain.registry, commands_model):
        cache.cache_clear()


@pytest.fixture
def content_dir(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, root)
    (root / "breath.yaml").write_text("counts: {slow: 4}\n", encoding="utf-8")
    path = root / "flows" / "rest.yaml"
    flow = yaml.safe_load(path.read_text(encoding="utf-8"))
    first = flow["states"][flow["start"]]
    first["actions"] = [*(first.get("actions") or []), {"breathe": "5m"}]
    path.write_text(yaml.safe_dump(flow, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def test_a_domains_action_file_and_button_work_through_the_interface(with_breath, content_dir):
    content = load_content(content_dir)
    assert content.parts["breath"].counts == {"slow": 4}
    assert content.counts == {"slow": 4}  # a part's fields read from Content by name
    assert "breath" in content.flows["menu"].interrupts  # a flow's default: every group, domains' included
    chat = EngineChat(content, lang="en")
    chat.press("go:rest")
    assert ("breathe", {"length": "5m"}) in [(e.name, e.args) for e in chat.last.effects]
    state = chat.state
    chat.press("breath:3")
    assert [(e.name, e.args) for e in chat.last.effects] == [("breathed", {"count": "3"})]
    assert chat.state == state  # the question comes back


def test_a_domains_content_is_validated_with_file_key_and_problem(with_breath, content_dir):
    (content_dir / "breath.yaml").write_text("counts: {slow: 0, fast: many}\n", encoding="utf-8")
    path = content_dir / "flows" / "checkin.yaml"
    flow = yaml.safe_load(path.read_text(encoding="utf-8"))
    flow["states"]["energy"]["actions"] = [{"breathe": "soon"}]
    path.write_text(yaml.safe_dump(flow, allow_unicode=True, sort_keys=False), encoding="utf-8")
    errors = [str(e) for e in validate_content(content_dir)]
    assert "flows/checkin.yaml: states.energy.actions[0]: breathe needs a duration like 7d, not 'soon'" in errors
    assert any(e.startswith("breath.yaml: counts.fast: ") for e in errors), errors
    (content_dir / "breath.yaml").write_text("counts: {slow: 0}\n", encoding="utf-8")
    assert "breath.yaml: counts.slow: must be positive" in [str(e) for e in validate_content(content_dir)]
    (content_dir / "breath.yaml").unlink()
    assert "breath.yaml: (file): missing" in [str(e) for e in validate_content(content_dir)]


def test_without_the_domain_its_action_is_unknown(content_dir):
    errors = [str(e) for e in validate_content(content_dir)]
    assert any("unknown action 'breathe'" in e for e in errors), errors


def test_two_domains_cannot_declare_the_same_action():
    twin = Domain(name="twin", actions={"reminders_off": FlowAction("none", lambda turn, arg, vars: None)})
    with pytest.raises(ValueError, match="reminders_off"):
        Registry((REMINDERS, twin))
