"""The engine's step function, with a fixed clock and no database: transcripts of its mechanics."""
from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
import yaml

from bot.content import load_content
from bot.engine import Interpretation, Effect, ConvoState, UserView, step
from bot.types import Inbound, Signal, UserKey
from tests.transcript import CONTENT_DIR, T0, EngineChat


def test_a_new_user_who_writes_gets_onboarding_first():
    chat = EngineChat(lang="en", is_new=True)
    chat.send("hello there")
    assert chat.ids == ["onboarding.welcome", "onboarding.language"]
    assert chat.state == "onboarding:language"
    assert [c.label for c in chat.choices] == ["日本語", "English"]


def test_follow_uses_the_profile_language_and_starts_onboarding():
    chat = EngineChat(lang="ja")
    chat.follow(lang_hint="en")
    assert chat.state == "onboarding:language"
    assert chat.texts[0].startswith("Hi, I'm bansou")
    assert Effect("set_language", {"language": "en"}) in chat.effects


def test_onboarding_records_language_consent_and_reminder_choice():
    chat = EngineChat(lang="en", is_new=True)
    chat.send("hi")
    chat.tap("日本語")
    assert chat.lang == "ja" and chat.state == "onboarding:consent"
    assert chat.texts[0].startswith("あとでふり返れるように")
    chat.tap("点数だけ")
    chat.tap("月曜の朝9時")
    assert chat.state == "menu:choose"
    names = [e.name for e in chat.all_effects]
    assert names == ["set_language", "set_consent", "reminders"]
    assert chat.all_effects[1].args == {"store_text": False}
    assert chat.all_effects[2].args == {"op": "set", "days": ["mon"], "time": "09:00", "preset": "monday_morning"}


def test_check_in_saves_three_scores_and_picks_the_question_from_what_was_noticed():
    chat = EngineChat(lang="en")
    chat.send("check-in")
    assert chat.state == "checkin:energy"
    chat.tap("2")
    chat.send("４")  # full-width digits are fine as free text
    chat.send("3 out of 5")
    assert chat.state == "checkin:reflection"
    chat.send("I couldn't say no again and did all of it myself")
    assert chat.ids == ["checkin.ack.mixed", "checkin.question.people_pleasing"]
    chat.tap("I'll think about it")
    assert chat.state == "idle"
    saved = [e for e in chat.effects if e.name == "save_checkin"][0]
    assert saved.args == {"energy": 2, "boundaries": 4, "client_respect": 3,
                          "reflection": "I couldn't say no again and did all of it myself"}
    # the practice is offered once the check-in is over, with buttons
    assert chat.ids[-1] == "offer.people_pleasing"
    assert [c.value for c in chat.choices] == ["go:boundary", "offer:people_pleasing:no"]


def test_a_score_that_is_not_one_asks_again_without_moving():
    chat = EngineChat(lang="ja")
    chat.send("チェックイン")
    chat.send("たくさん")
    assert chat.ids == ["common.score_invalid"]
    assert chat.state == "checkin:energy"


def test_free_text_at_the_menu_is_answered_as_from_idle():
    chat = EngineChat(lang="en")
    chat.send("menu")
    chat.send("something else entirely")
    assert chat.ids == ["common.idle", "common.idle_open"]
    assert chat.state == "idle"


def test_a_stale_button_is_not_taken():
    chat = EngineChat(lang="en")
    chat.send("check-in")
    old = chat.choices[0].value
    chat.tap("3")
    chat.press(old)
    assert chat.ids[0] == "common.stale_choice"
    assert chat.state == "checkin:boundaries"


def test_an_abandoned_flow_expires_after_its_timeout():
    chat = EngineChat(lang="en")
    chat.send("check-in")
    chat.wait(hours=23, minutes=59)
    chat.tap("3")
    assert chat.state == "checkin:boundaries"
    chat.wait(hours=24)
    chat.send("4")
    assert chat.ids[0] == "common.expired"
    assert chat.state == "idle"  # the text was then handled from idle


def test_crisis_overrides_any_flow_and_pauses():
    chat = EngineChat(lang="ja")
    chat.send("チェックイン")
    chat.send("もう死にたい")
    assert chat.state == "crisis_care:listening"
    assert chat.replies[0].style == "crisis" and chat.ids[0] == "crisis.panel.intro"
    assert "0120-279-338" in chat.texts[0] and "0570-064-556" in chat.texts[0] and "988" not in chat.texts[0]
    assert "crisis_pause" in chat.effect_names()
    assert not any(c.value.startswith(("go:", "c:checkin")) for c in chat.choices)  # no coaching flow continues


def test_figurative_dying_is_not_a_crisis():
    chat = EngineChat(lang="ja")
    chat.send("昨日のラーメン、死ぬほどおいしかった")
    assert "crisis.reply" not in chat.ids


def test_idle_text_with_a_signal_says_what_was_noticed_and_offers_practice():
    chat = EngineChat(lang="ja")
    chat.send("頼まれると断れなくて、毎晩2時まで作業してます")
    assert chat.ids[0] in ("noticed.people_pleasing", "noticed.overwork")
    noticed = chat.replies[0]
    assert noticed.style == "noticed"
    assert noticed.evidence and f"「{noticed.evidence[0].evidence}」" in noticed.text
    assert chat.choices[0].value.startswith("go:")
    chat.tap(chat.choices[0].label)
    assert chat.state.split(":")[0] in ("boundary", "rest")


def test_declining_an_offer_is_respected():
    chat = EngineChat(lang="en")
    chat.send("I always say yes to everything a client asks")
    assert chat.choices, chat.ids
    chat.tap("Not now")
    assert chat.ids == ["common.offer_declined"]
    assert chat.state == "idle"


def test_idle_greeting_gets_a_greeting_and_suggestions_not_the_menu():
    chat = EngineChat(lang="en")
    chat.send("good morning")
    assert chat.ids == ["common.greeting", "common.idle_open"]


@pytest.mark.parametrize("text,lang", [("ヘルプ", "ja"), ("へるぷ", "ja"), ("ＨＥＬＰ", "en"), ("help please", "en"),
                                       ("使い方を教えてください", "ja")])
def test_help_from_inside_a_flow_keeps_the_flow(text, lang):
    chat = EngineChat(lang=lang)
    chat.send("check-in")
    chat.send(text)
    assert chat.ids == ["common.help", "checkin.energy"]
    assert chat.state == "checkin:energy"


def test_language_switch_mid_flow_asks_the_question_again_in_the_new_language():
    chat = EngineChat(lang="ja")
    chat.send("チェックイン")
    chat.send("English")
    assert chat.lang == "en"
    assert chat.ids == ["common.language_set", "checkin.energy"]
    assert chat.texts[1].startswith("How much energy")


def test_cancel_and_nothing_to_cancel():
    chat = EngineChat(lang="ja")
    chat.send("チェックイン")
    chat.send("キャンセルして")
    assert chat.ids == ["common.cancelled"] and chat.state == "idle"
    chat.send("キャンセル")
    assert chat.ids == ["common.nothing_to_cancel"]


def test_delete_my_data_needs_confirmation():
    chat = EngineChat(lang="en")
    chat.send("delete my data")
    assert chat.state == "privacy:confirm_delete"
    assert "delete_data" not in chat.effect_names()
    chat.tap("Yes, delete all")
    assert chat.effect_names() == ["delete_data"]
    assert chat.state == "idle"


def test_stop_reminders_and_resume_are_commands_everywhere():
    chat = EngineChat(lang="ja")
    chat.send("リマインドを止めてください")
    assert chat.effects == [Effect("reminders", {"op": "off"})]
    chat.send("再開")
    assert chat.effect_names() == ["resume"]


def test_nudge_answers():
    chat = EngineChat(lang="en")
    chat.press("nudge:42:done")
    assert chat.effects == [Effect("nudge_response", {"outbox_id": "42", "answer": "done"})]
    assert chat.ids == ["nudge.answer_done"]
    chat.press("nudge:43:talk:boundary")
    assert chat.ids[0] == "nudge.answer_talk"
    assert chat.state.startswith("boundary:")


def test_unsupported_messages_keep_the_flow_where_it_is():
    chat = EngineChat(lang="en")
    chat.send("check-in")
    chat._step(Inbound(user=chat.user, kind="unsupported", received_at=chat.now))
    assert chat.ids == ["common.unsupported", "checkin.energy"]
    assert chat.state == "checkin:energy"


def test_interpreters_understand_free_text_when_idle():
    def reminder_time(text, *, lang, now):
        if "8" in text:
            return Interpretation(effects=(Effect("reminders", {"op": "set", "time": "08:00"}),),
                                  message_id="common.resumed")
        return None

    chat = EngineChat(lang="en", interpreters=[reminder_time])
    chat.send("remind me at 8")
    assert chat.effects == [Effect("reminders", {"op": "set", "time": "08:00"})]
    assert chat.ids == ["common.resumed"]


def test_step_is_pure_and_uses_only_the_clock_it_is_given():
    content = load_content(CONTENT_DIR)
    inbound = Inbound(user=UserKey("t", "1"), kind="text", text="check-in", received_at=T0)
    a = step(content=content, convo=None, inbound=inbound, signals=[], user=UserView(language="en"), now=T0)
    b = step(content=content, convo=None, inbound=inbound, signals=[], user=UserView(language="en"), now=T0)
    assert a.convo == b.convo and a.replies == b.replies
    assert a.convo.expires_at == T0 + timedelta(hours=24)


@pytest.fixture
def test_flows(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, root)
    (root / "flows/probe.yaml").write_text(yaml.safe_dump({
        "id": "probe", "start": "ask", "timeout": "2h", "on_timeout": "common.expired",
        "states": {
            "ask": {"say": ["checkin.reflection"], "text": {"save": "answer", "next": "thanks"},
                    "on_signal": {"resentment": "heard"}},
            "heard": {"say": ["noticed.resentment"], "next": "end"},
            "thanks": {"say": ["checkin.saved"], "next": "end"},
        }}), encoding="utf-8")
    return load_content(root)


def test_on_signal_transitions_carry_the_evidence(test_flows):
    convo = ConvoState(flow="probe", state="ask", vars={}, expires_at=T0 + timedelta(hours=2))
    sig = Signal(kind="resentment", evidence="sick of this client", start=2, end=21, score=0.8)
    out = step(content=test_flows, convo=convo,
               inbound=Inbound(user=UserKey("t", "1"), kind="text", text="I'm sick of this client", received_at=T0),
               signals=[sig], user=UserView(language="en"), now=T0)
    assert [r.message_id for r in out.replies][0] == "noticed.resentment"
    assert "“sick of this client”" in out.replies[0].text
    assert out.convo is None


def test_flow_timeout_is_per_flow(test_flows):
    convo = ConvoState(flow="probe", state="ask", vars={}, expires_at=T0 + timedelta(hours=2))
    inbound = Inbound(user=UserKey("t", "1"), kind="text", text="hm", received_at=T0)
    out = step(content=test_flows, convo=convo, inbound=inbound, signals=[], user=UserView(language="en"),
               now=T0 + timedelta(hours=2))
    assert out.replies[0].message_id == "common.expired"


def test_a_pattern_written_where_buttons_were_expected_is_answered_not_brushed_off():
    chat = EngineChat(lang="en")
    chat.send("menu")
    chat.send("honestly I can't say no to anyone and I'm exhausted")
    assert chat.ids[0].startswith("noticed.")
    assert "common.fallback" not in chat.ids
    assert chat.choices and chat.choices[0].value.startswith("go:")
    assert chat.state == "idle"


def test_the_menu_is_a_hub_that_lapses_within_the_hour():
    chat = EngineChat(lang="en")
    chat.send("menu")
    assert chat.convo.expires_at == chat.now + timedelta(hours=1)


# ------------------------------------------------------------------- one folding (issue 14)


@pytest.mark.parametrize("text, command", [
    ("メニュー", "menu"), ("めにゅー", "menu"), ("ﾒﾆｭｰ", "menu"), ("メニューー", "menu"), ("めにゅ〜", "menu"),
    ("ＭＥＮＵ", "menu"), ("Menu!", "menu"), ("ﾍﾙﾌﾟ", "help"), ("ヘループ", "help"), ("ＨＥＬＰ", "help"),
    ("キャンセル！", "cancel"), ("ｷｬﾝｾﾙお願いします", "cancel"), ("ﾘﾏｲﾝﾄﾞ停止", "stop_reminders"),
    ("ストーップ", "stop_reminders"), ("ｴｲｺﾞ", "language_en"), ("ＥＮＧＬＩＳＨ", "language_en"),
])
def test_commands_match_in_katakana_half_width_full_width_and_with_long_vowels(text, command):
    from bot.engine import match_command
    from bot.text import normalize_command
    from bot.detect.normalise import fold

    assert match_command(EngineChat().content, text) == ("command", command)
    assert normalize_command(text) == normalize_command(fold(text))  # one folding, applied once or twice alike


@pytest.mark.parametrize("text", ["ﾒﾆｭｰ", "メニューー", "ＭＥＮＵ"])
def test_a_command_in_any_width_opens_the_menu(text):
    chat = EngineChat(lang="ja")
    chat.send(text)
    assert chat.state == "menu:choose"
