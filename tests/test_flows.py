"""Every shipped flow, walked like a conversation, in Japanese and English.

Each test is a transcript: what the person sends or taps, where the conversation is afterwards,
which messages the bot said (by message id) and what it asked the service to do (effects).
Buttons are tapped by the message id of their label, so one script serves both languages.
Signals are injected by hand where a test needs them, so these transcripts do not depend on
how the detectors happen to read a sentence.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.content import GENERAL_THEME, THEMES, _collect
from bot.types import Signal
from tests.transcript import CONTENT_DIR, T0, EngineChat, shipped_content

LANGS = ["ja", "en"]
UNFILLED = re.compile(r"\{[a-z_]+\}")

# What a person might write, per language.
SAY = {
    "ja": {
        "request": "夜中のLINE対応",
        "condition": "返信は平日の10時から18時まで",
        "free": "正直、よくわからないです",
        "task": "毎週の投稿文の作成",
        "note": "来週、本人に下書きを頼んでみる",
        "reflection": "返信に追われて疲れた一週間でした",
        "hello": "こんにちは",
        "offtopic": "青い傘を買いました",
    },
    "en": {
        "request": "late-night chat support",
        "condition": "replies only on weekdays, 10 to 6",
        "free": "honestly I can't tell",
        "task": "writing their weekly posts",
        "note": "ask them to draft the next one",
        "reflection": "A tiring week of chasing replies",
        "hello": "hello there",
        "offtopic": "I bought a blue umbrella",
    },
}


class Chat(EngineChat):
    """An EngineChat that taps buttons by label message id and takes hand-made signals."""

    def __init__(self, lang: str, **kw):
        super().__init__(lang=lang, detect=False, **kw)
        self.next_signals: list[Signal] = []

    def _signals(self, text):
        signals, self.next_signals = self.next_signals, []
        return signals

    def _step(self, inbound):
        replies = super()._step(inbound)
        for r in replies:  # every placeholder a message uses must have been filled
            assert not UNFILLED.search(r.text), f"{r.message_id} left a placeholder: {r.text!r}"
        return replies

    def label(self, message_id: str) -> str:
        return self.content.text(message_id, self.lang)

    def pick(self, message_id: str):
        want = self.label(message_id)
        for c in self.choices:
            if c.label == want:
                return self.press(c.value)
        raise AssertionError(f"no button {message_id!r} ({want!r}); buttons are {[c.label for c in self.choices]}")

    def button_ids(self) -> list[str]:
        """The label message ids of the flow buttons on screen (from their choice values)."""
        ids = []
        for c in self.choices:
            kind, fid, state, cid = c.value.split(":")
            assert kind == "c", c.value
            ids.append(next(ch.label for ch in self.content.flows[fid].states[state].choices if ch.id == cid))
        return ids

    def with_signal(self, kind: str, evidence: str = "…") -> "Chat":
        self.next_signals = [Signal(kind=kind, evidence=evidence, start=0, end=len(evidence), score=0.9)]
        return self

    def say(self, key: str):
        return self.send(SAY[self.lang][key])

    def effect(self, name: str):
        found = [e for e in self.effects if e.name == name]
        assert len(found) == 1, f"expected one {name!r} effect, got {self.effects}"
        return found[0]


@pytest.fixture(params=LANGS)
def chat(request) -> Chat:
    return Chat(request.param)


# ------------------------------------------------------------------------------------- onboarding


def test_onboarding_from_follow_to_menu(chat: Chat):
    chat.follow()
    assert chat.state == "onboarding:language"
    assert chat.ids == ["onboarding.welcome", "onboarding.language"]
    assert chat.button_ids() == ["onboarding.lang_ja", "onboarding.lang_en"]

    chat.pick(f"onboarding.lang_{chat.lang}")
    assert chat.effect("set_language").args == {"language": chat.lang}
    assert chat.state == "onboarding:consent"

    chat.pick("onboarding.consent_yes")
    assert chat.effect("set_consent").args == {"store_text": True}
    assert chat.state == "onboarding:reminders"

    chat.pick("reminders.preset.weekday_morning")
    assert chat.effect("reminders").args == {"op": "set", "days": ["mon", "tue", "wed", "thu", "fri"],
                                             "time": "08:00", "preset": "weekday_morning"}
    assert chat.ids == ["onboarding.done", "menu.prompt"]
    assert chat.state == "menu:choose"


@pytest.mark.parametrize("answer", [{"ja": "はい、送ってほしい", "en": "yes keep them"},
                                    {"ja": "うん、お願い", "en": "sure, please"},
                                    {"ja": "いらないかな", "en": "no thanks"}])
def test_a_short_answer_to_a_button_question_is_an_answer_not_a_pattern(chat: Chat, answer):
    chat.follow()
    chat.pick(f"onboarding.lang_{chat.lang}")
    chat.pick("onboarding.consent_yes")
    assert chat.state == "onboarding:reminders"
    words = answer[chat.lang]
    chat.with_signal("people_pleasing", words).send(words)
    assert "noticed" not in [r.style for r in chat.replies]
    assert not [i for i in chat.ids if i.startswith(("noticed.", "offer."))]
    assert chat.state in ("onboarding:reminders", "menu:choose")  # asked which, or "no" taken; never dropped
    if chat.state == "onboarding:reminders":
        assert chat.button_ids()[:3] == ["reminders.preset.weekday_morning", "reminders.preset.monday_morning",
                                         "reminders.preset.friday_evening"]


def test_a_pattern_written_at_a_button_question_is_still_noticed(chat: Chat):
    chat.follow()
    chat.pick(f"onboarding.lang_{chat.lang}")
    chat.pick("onboarding.consent_yes")
    words = ("はい。でも本当は、頼まれると断れなくて毎晩遅くまで引き受けてしまうんです" if chat.lang == "ja"
             else "yes, though honestly I say yes to every client even when I'm already exhausted")
    chat.with_signal("people_pleasing", words).send(words)
    assert "noticed" in [r.style for r in chat.replies]


def test_yes_to_a_practice_offered_at_a_button_question_starts_it(chat: Chat):
    """The offer made when a pattern interrupts a question is remembered like one made in idle."""
    chat.follow()
    chat.pick(f"onboarding.lang_{chat.lang}")
    chat.pick("onboarding.consent_yes")
    words = "毎晩0時すぎまでクライアントのLINEに返信してる" if chat.lang == "ja" else "I keep answering client messages at midnight"
    chat.with_signal("overwork", words).send(words)
    assert "offer.overwork" in chat.ids and chat.state == "idle"
    chat.send("うん" if chat.lang == "ja" else "yes")
    assert chat.state.startswith("rest:")


@pytest.mark.parametrize("lang", LANGS)
def test_onboarding_switches_language_and_can_skip_reminders(lang):
    other = "en" if lang == "ja" else "ja"
    chat = Chat(lang, is_new=True)
    chat.send(SAY[lang]["hello"])  # a new user who writes first is welcomed too
    assert chat.state == "onboarding:language"

    chat.pick(f"onboarding.lang_{other}")
    assert chat.lang == other
    assert chat.texts[0] == chat.content.text("onboarding.consent", other)

    chat.pick("onboarding.consent_no")
    assert chat.effect("set_consent").args == {"store_text": False}
    chat.pick("onboarding.reminders_none")
    assert chat.effect("reminders").args == {"op": "off"}
    assert chat.state == "menu:choose"


@pytest.mark.parametrize("lang", LANGS)
def test_onboarding_follow_with_a_language_hint(lang):
    chat = Chat("ja" if lang == "en" else "en")
    chat.follow(lang_hint=lang)
    assert chat.lang == lang
    assert chat.effect("set_language").args == {"language": lang}
    assert chat.texts[0] == chat.content.text("onboarding.welcome", lang)


# ------------------------------------------------------------------------------------------- menu

MENU = {
    "menu.checkin": "checkin:energy",
    "menu.boundary": "boundary:request",
    "menu.client_review": "client_review:who",
    "menu.independence": "independence:task",
    "menu.passion_reset": "passion_reset:which",
    "menu.long_term": "long_term:other_side",
    "menu.settings": "settings:choose",
    "menu.privacy": "privacy:choose",
}


@pytest.mark.parametrize("item", sorted(MENU))
def test_menu_opens_each_practice(chat: Chat, item):
    chat.send("メニュー" if chat.lang == "ja" else "menu")
    assert chat.state == "menu:choose"
    assert chat.ids == ["menu.prompt"]
    assert chat.button_ids() == list(MENU)
    chat.pick(item)
    assert chat.state == MENU[item]


def test_idle_text_gets_a_short_answer_and_a_few_suggestions(chat: Chat):
    chat.say("offtopic")
    assert chat.ids == ["common.idle", "common.idle_open"]
    assert chat.state == "idle"
    assert [c.value for c in chat.choices] == ["go:checkin", "go:boundary", "go:rest", "cmd:menu"]


# ---------------------------------------------------------------------------------------- privacy


def test_privacy_export(chat: Chat):
    chat.press("go:privacy")
    assert chat.state == "privacy:choose"
    chat.pick("privacy.export")
    assert chat.effect_names() == ["export_data"]
    assert chat.ids == ["privacy.export_intro"]
    assert chat.state == "idle"


def test_privacy_delete_only_after_confirmation(chat: Chat):
    chat.press("go:privacy")
    chat.pick("privacy.delete")
    assert chat.state == "privacy:confirm_delete"
    assert chat.effects == []

    chat.pick("privacy.confirm_no")
    assert chat.ids == ["privacy.kept"]
    assert chat.state == "idle"
    assert "delete_data" not in [e.name for e in chat.all_effects]

    chat.send("データ削除" if chat.lang == "ja" else "delete my data")
    assert chat.state == "privacy:confirm_delete"
    assert chat.ids == ["privacy.confirm_delete"]
    assert chat.effects == []

    chat.pick("privacy.confirm_yes")
    assert chat.effect_names() == ["delete_data"]
    assert chat.state == "idle"


def test_privacy_back_to_menu(chat: Chat):
    chat.press("go:privacy")
    chat.pick("common.back")
    assert chat.state == "menu:choose"


def test_delete_confirmation_ignores_free_text(chat: Chat):
    chat.send("delete my data")
    chat.say("offtopic")
    assert chat.ids == ["common.clarify"]  # names both options; never "use the buttons"
    assert chat.label("privacy.confirm_yes") in chat.texts[0] and chat.label("privacy.confirm_no") in chat.texts[0]
    assert chat.state == "privacy:confirm_delete"
    assert chat.effects == []


# ---------------------------------------------------------------------------------------- checkin


def test_checkin_with_buttons_and_typed_scores(chat: Chat):
    chat.send("チェックイン" if chat.lang == "ja" else "check-in")
    assert chat.state == "checkin:energy"
    assert chat.ids == ["checkin.intro", "checkin.energy"]

    chat.pick("score.3")
    assert chat.state == "checkin:boundaries"
    chat.send("４")  # full-width digit
    assert chat.state == "checkin:client_respect"
    chat.send("5点" if chat.lang == "ja" else "five")
    assert chat.state == "checkin:reflection"

    chat.say("reflection")
    assert chat.state == "checkin:question"
    # the week is acknowledged in our words (a tiring week chasing replies), then one question
    assert chat.ids[:2] == ["checkin.ack.hard", "checkin.gist.replies"]
    assert chat.ids[2].startswith("checkin.question.default")  # its wording changes from week to week
    assert SAY[chat.lang]["reflection"] not in " ".join(chat.texts)

    chat.pick("checkin.thought_about_it")
    assert chat.ids == ["checkin.saved.hard"]
    assert chat.state == "idle"
    save = chat.effects[0]
    assert save.name == "save_checkin"
    assert save.args == {"energy": 3, "boundaries": 4, "client_respect": 5,
                         "reflection": SAY[chat.lang]["reflection"]}


def test_checkin_rejects_a_score_it_cannot_read(chat: Chat):
    chat.press("go:checkin")
    chat.send("たくさん" if chat.lang == "ja" else "lots")
    assert chat.ids == ["common.score_invalid"]  # asked again without the intro, the scale named
    assert chat.state == "checkin:energy"


def test_checkin_question_follows_what_was_noticed_and_offers_rest_at_the_end(chat: Chat):
    chat.press("go:checkin")
    chat.pick("score.2")
    chat.pick("score.2")
    chat.pick("score.2")
    chat.with_signal("overwork", "毎晩2時まで" if chat.lang == "ja" else "till 2am every night").say("reflection")
    assert chat.ids[-1] == "checkin.question.overwork"

    chat.pick("checkin.thought_about_it")
    assert chat.ids == ["checkin.saved.hard", "offer.overwork"]
    assert chat.effect("save_checkin").args["energy"] == 2

    chat.pick("offer.accept")
    assert chat.state == "rest:next_break"


def test_checkin_skip_reflection(chat: Chat):
    chat.press("go:checkin")
    for _ in range(3):
        chat.pick("score.4")
    chat.pick("common.skip")
    chat.say("note")  # the last question takes words too
    assert chat.effect("save_checkin").args["reflection"] is None
    assert chat.state == "idle"


# --------------------------------------------------------------------------------------- boundary


def test_boundary_decline_draft_and_followup(chat: Chat):
    chat.send("断る練習" if chat.lang == "ja" else "practise saying no")
    assert chat.state == "boundary:request"
    assert chat.ids == ["boundary.intro", "boundary.request"]

    chat.say("request")
    assert chat.state == "boundary:decide"
    assert chat.button_ids() == ["boundary.choice_decline", "boundary.choice_conditions", "boundary.choice_unsure"]

    chat.pick("boundary.choice_decline")
    assert chat.ids == ["boundary.draft_intro", "boundary.draft_no", "boundary.draft_note", "boundary.followup_offer"]
    draft = chat.texts[1]
    assert SAY[chat.lang]["request"] in draft
    if chat.lang == "ja":
        assert "いただき" in draft and "存じます" in draft  # 敬語
    assert chat.state == "boundary:followup_offer"

    chat.consent = True  # the user agreed to us keeping their words, so the follow-up may quote them
    chat.pick("boundary.followup_yes")
    followup = chat.effect("schedule_followup")
    assert followup.args == {"due_at": T0 + timedelta(days=2), "message_id": "boundary.followup",
                             "flow": "boundary:after_followup", "values": {"topic": SAY[chat.lang]["request"]}}
    assert chat.ids == ["boundary.closing_followup"]
    assert chat.state == "idle"

    # Two days later the reminder reads back the request; "talk about it" continues from there.
    text = chat.content.text("boundary.followup", chat.lang, followup.args["values"])
    assert SAY[chat.lang]["request"] in text
    chat.wait(days=2)
    chat.press("nudge:17:talk:boundary:after_followup")
    assert chat.effect("nudge_response").args == {"outbox_id": "17", "answer": "talk"}
    assert chat.ids == ["boundary.after_followup"] and chat.state == "boundary:after_followup"
    chat.send("送れた！" if chat.lang == "ja" else "yes, I sent it")
    assert chat.ids == ["boundary.closing_sent"] and chat.state == "idle"
    # A reminder that names only its flow opens it from the start.
    chat.press("nudge:18:talk:boundary")
    assert chat.ids == ["nudge.answer_talk", "boundary.intro", "boundary.request"]


def test_boundary_conditions_in_own_words_without_followup(chat: Chat):
    chat.press("go:boundary")
    chat.say("request")
    chat.pick("boundary.choice_conditions")
    assert chat.state == "boundary:conditions"
    chat.say("condition")
    assert chat.ids == ["boundary.draft_intro", "boundary.draft_condition", "boundary.followup_offer"]
    assert SAY[chat.lang]["condition"] in chat.texts[1]
    assert SAY[chat.lang]["request"] in chat.texts[1]

    chat.pick("boundary.followup_no")
    assert chat.effects == []
    assert chat.ids == ["boundary.closing"]
    assert chat.state == "idle"


@pytest.mark.parametrize("cond", ["deadline", "scope", "fee"])
def test_boundary_condition_buttons(chat: Chat, cond):
    chat.press("go:boundary")
    chat.say("request")
    chat.pick("boundary.choice_conditions")
    chat.pick(f"boundary.cond_{cond}")
    assert chat.ids == ["boundary.draft_intro", f"boundary.draft_{cond}", "boundary.followup_offer"]
    assert chat.state == "boundary:followup_offer"


def test_boundary_not_sure_weighs_it_like_advice_to_a_colleague(chat: Chat):
    chat.press("go:boundary")
    chat.say("request")
    chat.pick("boundary.choice_unsure")
    assert chat.state == "boundary:weigh"
    assert chat.ids == ["boundary.weigh_colleague"]
    assert SAY[chat.lang]["request"] not in chat.texts[0]  # no verbatim echo

    chat.say("free")  # in their own words
    assert chat.state == "boundary:weigh_body"
    chat.pick("boundary.body_heavier")
    assert chat.state == "boundary:decide_again"

    chat.pick("boundary.choice_still_unsure")
    assert chat.ids == ["boundary.not_yet", "boundary.draft_holding", "boundary.followup_offer"]
    assert SAY[chat.lang]["request"] in chat.texts[1]

    chat.pick("boundary.followup_yes")
    assert chat.effect("schedule_followup").args["due_at"] == T0 + timedelta(days=2)


def test_boundary_free_text_decision_leads_to_weighing_and_a_free_yes_is_respected(chat: Chat):
    chat.press("go:boundary")
    chat.say("request")
    chat.say("free")
    assert chat.state == "boundary:weigh"
    chat.pick("boundary.colleague_decline")
    chat.pick("boundary.body_lighter")
    chat.pick("boundary.choice_accept")
    assert chat.ids == ["boundary.accept_freely"]
    assert chat.effects == []
    assert chat.state == "idle"


def test_boundary_typed_button_label_counts_as_the_choice(chat: Chat):
    chat.press("go:boundary")
    chat.say("request")
    chat.send(chat.label("boundary.choice_decline"))
    assert chat.state == "boundary:followup_offer"


def test_boundary_notices_overwork_and_offers_rest_when_it_ends(chat: Chat):
    chat.press("go:boundary")
    chat.with_signal("overwork", "毎晩" if chat.lang == "ja" else "every night").say("request")
    assert chat.ids == ["noticed.overwork", "boundary.decide"]
    chat.pick("boundary.choice_decline")
    chat.pick("boundary.followup_no")
    assert chat.ids == ["boundary.closing", "offer.overwork"]
    chat.pick("offer.decline")
    assert chat.ids == ["common.offer_declined"]


def test_crisis_mid_flow_stops_coaching(chat: Chat):
    chat.press("go:boundary")
    chat.with_signal("crisis", "消えたい" if chat.lang == "ja" else "want to disappear").say("free")
    # an ambiguous phrase: asked directly, support lines one tap away, coaching paused
    assert "crisis.ask.question" in chat.ids and "crisis.reach" in chat.ids
    assert "crisis_pause" in chat.effect_names()
    assert chat.state == "crisis_care:asked"
    assert not any(c.value.startswith(("go:", "c:boundary")) for c in chat.choices)


# ---------------------------------------------------------------------------------- client_review


def test_client_review_respected(chat: Chat):
    chat.send("クライアントを見直す" if chat.lang == "ja" else "review a client")
    assert chat.state == "client_review:who"
    assert chat.ids == ["client_review.intro", "client_review.who"]
    chat.pick("client_review.ready")
    assert chat.ids == ["client_review.process"]
    chat.pick("client_review.mostly")
    assert chat.ids == ["client_review.extras"]
    chat.say("free")
    assert chat.ids == ["client_review.advice"]
    chat.pick("client_review.advice_considered")
    assert chat.ids == ["client_review.messages"]
    chat.pick("client_review.msg_glad")
    assert chat.state == "client_review:notice"
    chat.pick("client_review.notice_respected")
    assert chat.ids == ["client_review.reflect_good"]
    chat.say("note")
    assert chat.ids == ["client_review.choose_from_start"]
    assert chat.state == "idle"


def test_client_review_something_off_leads_to_practising_no(chat: Chat):
    chat.press("go:client_review")
    chat.send("Aさん" if chat.lang == "ja" else "Client A")  # a nickname, in words
    assert chat.state == "client_review:process"
    chat.pick("client_review.rarely")
    chat.pick("client_review.often")
    chat.pick("client_review.advice_told")
    chat.pick("client_review.msg_sinking")
    chat.pick("client_review.notice_off")
    assert chat.ids == ["client_review.reflect_off"]
    assert chat.button_ids() == ["client_review.to_boundary", "client_review.think_later"]
    chat.pick("client_review.to_boundary")
    assert chat.state == "boundary:request"


def test_client_review_unsure_in_own_words(chat: Chat):
    chat.press("go:client_review")
    chat.pick("client_review.ready")
    chat.pick("client_review.sometimes")
    chat.pick("client_review.sometimes")
    chat.pick("client_review.advice_overruled")
    chat.pick("client_review.msg_neutral")
    chat.say("free")
    # read from their own words among several options: which one was taken may be said first
    assert chat.ids[-1] == "client_review.reflect_unsure" and set(chat.ids[:-1]) <= {"common.understood_choice"}
    chat.pick("common.skip")
    assert chat.ids == ["client_review.choose_from_start"]
    assert chat.state == "idle"


# ----------------------------------------------------------------------------------- independence


def test_independence_full_path(chat: Chat):
    chat.send("自立のチェック" if chat.lang == "ja" else "independence check")
    assert chat.state == "independence:task"
    chat.say("task")
    assert chat.state == "independence:why"
    assert SAY[chat.lang]["task"] in chat.texts[0]
    chat.pick("independence.why_faster")
    assert chat.ids == ["independence.both_sides", "independence.how_start"]
    assert SAY[chat.lang]["task"] in chat.texts[1]
    chat.say("note")
    assert chat.state == "independence:support"
    chat.pick("independence.support_written")
    assert chat.state == "independence:first_step"
    chat.say("note")
    assert chat.ids == ["independence.close"]
    assert chat.state == "idle"


@pytest.mark.parametrize("answer", [{"ja": "ぜんぶ私がやってる", "en": "I do all of it"},
                                    {"ja": "ぜんぶやってる", "en": "they never do anything"},
                                    {"ja": "請求書の作成とSNSの予約投稿と毎週の報告", "en": "basically all of it, they never lift a finger"}])
def test_independence_refers_to_a_sentence_in_our_words_instead_of_echoing_it(chat: Chat, answer):
    words = answer[chat.lang]
    generic = chat.label("independence.task_generic")
    chat.press("go:independence")
    chat.send(words)
    assert chat.state == "independence:why"
    assert words not in chat.texts[0] and generic in chat.texts[0]
    assert not re.search(r"[「“]", chat.texts[0])  # nothing quoted
    chat.pick("independence.why_faster")
    assert words not in chat.texts[1] and generic in chat.texts[1]


def test_independence_quotes_a_task_named_in_a_few_words(chat: Chat):
    chat.press("go:independence")
    chat.say("task")
    quote = "「{}」" if chat.lang == "ja" else "“{}”"
    assert quote.format(SAY[chat.lang]["task"]) in chat.texts[0]
    chat.pick("independence.why_asked")
    assert quote.format(SAY[chat.lang]["task"]) in chat.texts[1]


def test_independence_when_nothing_comes_to_mind(chat: Chat):
    chat.press("go:independence")
    chat.pick("independence.nothing_comes")
    assert chat.ids == ["independence.nothing_comes_reply"]
    chat.say("task")  # the hint helped
    assert chat.state == "independence:why"

    chat = Chat(chat.lang)
    chat.press("go:independence")
    chat.pick("independence.nothing_comes")
    chat.pick("independence.really_nothing")
    assert chat.ids == ["independence.already_fine"]
    assert chat.state == "idle"


# ---------------------------------------------------------------------------------- passion_reset


def test_passion_reset_strengths_then_frayed_then_rest(chat: Chat):
    chat.send("情熱のリセット" if chat.lang == "ja" else "passion reset")
    assert chat.state == "passion_reset:which"
    assert chat.ids == ["passion_reset.intro", "passion_reset.which"]
    chat.pick("passion_reset.which_strengths")
    assert chat.ids == ["passion_reset.strengths"]
    chat.say("note")
    assert chat.ids == ["passion_reset.delegate"]
    chat.pick("passion_reset.delegate_nothing")
    assert chat.ids == ["passion_reset.mental_intro", "passion_reset.mental_check"]
    chat.pick("passion_reset.mental_frayed")
    assert chat.ids == ["passion_reset.close_frayed"]
    chat.pick("passion_reset.to_rest")
    assert chat.state == "rest:next_break"


def test_passion_reset_gap_then_steady(chat: Chat):
    chat.press("go:passion_reset")
    chat.pick("passion_reset.which_gap")
    assert chat.ids == ["passion_reset.gap"]
    chat.say("note")
    assert chat.ids == ["passion_reset.gap_step"]
    chat.pick("common.skip")
    assert chat.state == "passion_reset:mental_check"
    chat.pick("passion_reset.mental_steady")
    assert chat.ids == ["passion_reset.close_steady"]
    assert chat.state == "idle"


def test_passion_reset_unsure_sorts_it_out(chat: Chat):
    chat.press("go:passion_reset")
    chat.say("free")
    assert chat.ids == ["passion_reset.sort_out"]
    chat.say("note")
    assert chat.ids == ["passion_reset.sort_out_which"]
    chat.pick("passion_reset.sort_gap")
    assert chat.state == "passion_reset:gap"


def test_passion_reset_worn_down_and_words_of_their_own(chat: Chat):
    chat.press("go:passion_reset")
    chat.pick("passion_reset.which_unsure")
    chat.pick("common.skip")
    chat.pick("passion_reset.sort_neither")
    assert chat.state == "passion_reset:mental_check"
    chat.pick("passion_reset.mental_worn")
    assert chat.ids == ["passion_reset.close_worn"]
    chat.pick("passion_reset.enough")
    assert chat.ids == ["passion_reset.close_enough"]
    assert chat.state == "idle"

    chat.press("go:passion_reset")
    chat.pick("passion_reset.which_strengths")
    chat.pick("common.skip")
    chat.pick("passion_reset.delegate_nothing")
    chat.say("free")
    assert chat.ids == ["passion_reset.close_open"]
    chat.pick("passion_reset.to_boundary")
    assert chat.state == "boundary:request"


# -------------------------------------------------------------------------------------- long_term


def test_long_term_not_really(chat: Chat):
    chat.send("長い関係の視点" if chat.lang == "ja" else "long-term view")
    assert chat.state == "long_term:other_side"
    assert chat.ids == ["long_term.intro", "long_term.other_side"]
    chat.pick("long_term.side_no")
    assert chat.ids == ["long_term.where_endure"]
    chat.pick("long_term.endure_deadlines")
    assert chat.ids == ["long_term.endurance"]
    chat.say("note")
    assert chat.ids == ["long_term.lifetime_value", "long_term.respect_step"]
    chat.say("note")
    assert chat.ids == ["long_term.close"]
    assert chat.state == "idle"


def test_long_term_gladly_and_in_own_words(chat: Chat):
    chat.press("go:long_term")
    chat.pick("long_term.side_yes")
    assert chat.ids == ["long_term.what_works"]
    chat.pick("common.skip")
    assert chat.state == "long_term:respect_step"
    chat.pick("common.skip")
    assert chat.ids == ["long_term.close"]

    chat.press("go:long_term")
    chat.say("free")
    assert chat.state == "long_term:where_endure"
    chat.say("free")
    assert chat.state == "long_term:endurance"


# ------------------------------------------------------------------------------------------- rest


def test_rest_offered_after_overwork_and_followup_tomorrow(chat: Chat):
    chat.with_signal("overwork", "寝てない" if chat.lang == "ja" else "no sleep").say("free")
    assert chat.ids == ["noticed.overwork", "offer.overwork"]
    chat.pick("offer.accept")
    assert chat.state == "rest:next_break"
    assert chat.ids == ["rest.intro", "rest.next_break"]

    chat.pick("rest.break_dont_know")
    assert chat.ids == ["rest.dont_know", "rest.drop"]
    chat.pick("rest.nothing_can_wait")
    assert chat.ids == ["rest.eighty_percent"]
    chat.say("note")
    assert chat.ids == ["rest.followup_offer"]

    chat.pick("rest.followup_yes")
    f = chat.effect("schedule_followup")
    assert f.args["due_at"] == T0 + timedelta(days=1)
    assert f.args["message_id"] == "rest.followup"
    assert f.args["flow"] == "rest"
    assert chat.ids == ["rest.close_followup"]
    assert chat.state == "idle"


def test_rest_in_own_words_without_followup(chat: Chat):
    chat.send("休憩" if chat.lang == "ja" else "take a break")
    assert chat.state == "rest:next_break"
    chat.say("free")
    assert chat.state == "rest:drop"
    chat.say("note")
    assert chat.state == "rest:followup_offer"
    chat.pick("rest.followup_no")
    assert chat.effects == []
    assert chat.ids == ["rest.close"]


# --------------------------------------------------------------------------------------- settings


def test_settings_reminders(chat: Chat):
    chat.send("設定" if chat.lang == "ja" else "settings")
    assert chat.state == "settings:choose"
    assert chat.button_ids() == ["settings.reminders", "settings.language", "settings.consent",
                                 "menu.privacy", "settings.done"]

    chat.pick("settings.reminders")
    assert chat.state == "settings:reminders"
    chat.pick("reminders.preset.monday_morning")
    assert chat.effect("reminders").args == {"op": "set", "days": ["mon"], "time": "09:00",
                                             "preset": "monday_morning"}
    assert chat.ids == ["settings.saved", "settings.prompt"]
    assert chat.state == "settings:choose"

    chat.pick("settings.reminders")
    chat.pick("settings.pause_week")
    assert chat.effect("reminders").args == {"op": "pause", "until": T0 + timedelta(days=7)}
    assert chat.ids == ["settings.paused", "settings.prompt"]

    chat.pick("settings.reminders")
    chat.pick("settings.reminders_off")
    assert chat.effect("reminders").args == {"op": "off"}
    assert chat.ids == ["settings.reminders_stopped", "settings.prompt"]

    chat.pick("settings.reminders")
    chat.pick("settings.reminders_on")
    assert chat.effect("reminders").args == {"op": "on"}

    chat.pick("settings.reminders")
    chat.pick("common.back")
    assert chat.effects == []
    assert chat.state == "settings:choose"

    chat.pick("settings.done")
    assert chat.ids == ["settings.closed"]
    assert chat.state == "idle"


def test_settings_language_and_consent(chat: Chat):
    other = "en" if chat.lang == "ja" else "ja"
    chat.press("go:settings")
    chat.pick("settings.consent")
    chat.pick("onboarding.consent_no")
    assert chat.effect("set_consent").args == {"store_text": False}
    chat.pick("settings.consent")
    chat.pick("onboarding.consent_yes")
    assert chat.effect("set_consent").args == {"store_text": True}

    chat.pick("settings.language")
    chat.pick(f"onboarding.lang_{other}")
    assert chat.effect("set_language").args == {"language": other}
    assert chat.lang == other
    assert chat.texts == [chat.content.text("settings.saved", other), chat.content.text("settings.prompt", other)]

    chat.pick("menu.privacy")
    assert chat.state == "privacy:choose"


# --------------------------------------------------------------------------------- engine behaviour


def test_stale_button_from_an_earlier_state(chat: Chat):
    chat.press("go:boundary")
    chat.say("request")
    old = next(c.value for c in chat.choices if c.label == chat.label("boundary.choice_unsure"))
    chat.pick("boundary.choice_decline")
    assert chat.state == "boundary:followup_offer"

    chat.press(old)
    assert chat.ids == ["common.stale_choice", "boundary.followup_offer"]
    assert chat.state == "boundary:followup_offer"
    assert chat.effects == []


def test_stale_button_when_nothing_is_running(chat: Chat):
    chat.press("c:settings:choose:done")
    assert chat.ids == ["common.stale_choice", "common.idle_open"]
    assert chat.state == "idle"


@pytest.mark.parametrize("where", ["settings", "boundary_followup", "decide_again"])
def test_free_text_where_only_buttons_make_sense(chat: Chat, where):
    if where == "settings":
        chat.press("go:settings")
    else:
        chat.press("go:boundary")
        chat.say("request")
        if where == "decide_again":
            chat.pick("boundary.choice_unsure")
            chat.pick("boundary.colleague_conditions")
            chat.pick("boundary.body_same")
        else:
            chat.pick("boundary.choice_decline")
    before = chat.state
    chat.say("offtopic")
    assert chat.ids == ["common.clarify"]  # the options named, in words
    for label in chat.button_ids():
        assert chat.label(label) in chat.texts[0]
    assert chat.state == before
    assert chat.effects == []


def _flow_ids():
    return sorted(shipped_content().flows)


@pytest.mark.parametrize("flow_id", _flow_ids())
def test_every_flow_expires_after_its_timeout(chat: Chat, flow_id):
    flow = chat.content.flows[flow_id]
    if not any(st.waits for st in flow.states.values()):
        pytest.skip(f"{flow_id} says its piece and ends; it never waits, so it cannot lapse")
    chat.press(f"go:{flow_id}")
    assert chat.state.startswith(f"{flow_id}:")
    chat.wait(seconds=flow.timeout.total_seconds() - 60)
    chat.send("ヘルプ" if chat.lang == "ja" else "help")  # help keeps every flow where it is
    assert "common.expired" not in chat.ids
    assert chat.state.startswith(f"{flow_id}:")

    chat.wait(seconds=flow.timeout.total_seconds() + 60)
    chat.say("hello")
    assert chat.ids[0] == (flow.on_timeout or "common.expired")
    assert chat.state == "idle"


def test_left_for_25_hours_the_conversation_expires(chat: Chat):
    chat.press("go:boundary")
    chat.say("request")
    chat.wait(hours=25)
    chat.pick("boundary.choice_decline")  # the old button, a day later
    assert chat.ids[0] == "common.expired"
    assert chat.effects == []


HELP = ["ヘルプ", "へるぷ", "ＨＥＬＰ", "help", "Help please", "使い方"]


@pytest.mark.parametrize("phrase", HELP)
def test_help_mid_flow_then_back_to_the_question(chat: Chat, phrase):
    chat.press("go:boundary")
    chat.say("request")
    chat.send(phrase)
    assert chat.ids == ["common.help", "boundary.decide"]
    assert chat.state == "boundary:decide"


@pytest.mark.parametrize("phrase", ["メニューをお願いします", "メニュー", "menu please", "MENU"])
def test_menu_mid_flow(chat: Chat, phrase):
    chat.press("go:long_term")
    chat.send(phrase)
    assert chat.ids == ["menu.prompt"]
    assert chat.state == "menu:choose"


@pytest.mark.parametrize("phrase", ["キャンセルして", "キャンセル", "cancel", "never mind"])
def test_cancel_mid_flow(chat: Chat, phrase):
    chat.press("go:rest")
    chat.send(phrase)
    assert chat.ids == ["common.cancelled"]
    assert chat.state == "idle"
    chat.send(phrase)
    assert chat.ids == ["common.nothing_to_cancel"]


@pytest.mark.parametrize("phrase,lang", [("English", "en"), ("英語で", "en"), ("日本語", "ja"),
                                         ("in japanese", "ja")])
def test_language_switch_mid_flow(chat: Chat, phrase, lang):
    chat.press("go:independence")
    chat.send(phrase)
    assert chat.lang == lang
    assert chat.effect("set_language").args == {"language": lang}
    assert chat.ids == ["common.language_set", "independence.task"]
    assert chat.texts == [chat.content.text("common.language_set", lang), chat.content.text("independence.task", lang)]
    assert chat.state == "independence:task"


def test_stop_reminders_and_resume_mid_flow(chat: Chat):
    chat.press("go:client_review")
    chat.send("リマインド停止" if chat.lang == "ja" else "stop reminders")
    assert chat.effect("reminders").args == {"op": "off"}
    assert chat.ids == ["common.reminders_stopped", "client_review.who"]
    chat.send("再開" if chat.lang == "ja" else "resume")
    assert chat.effect_names() == ["resume"]
    assert chat.state == "client_review:who"


@pytest.mark.parametrize("flow_id", _flow_ids())
def test_entry_phrases_start_their_flow(flow_id):
    content = shipped_content()
    flow = content.flows[flow_id]
    for lang, phrases in flow.entry.items():
        for phrase in phrases:
            chat = Chat(lang)
            chat.send(phrase)
            assert chat.state == f"{flow_id}:{flow.start}", (lang, phrase, chat.state)


# ---------------------------------------------------------------------------------- content checks


def test_shipped_content_has_no_errors():
    _, collector = _collect(CONTENT_DIR)
    assert [str(e) for e in collector.errors] == []


def test_nudges_per_theme():
    content = shipped_content()
    counts = {theme: len(content.nudges_for_theme(theme)) for theme in THEMES}
    assert all(n >= 9 for n in counts.values()), counts
    assert sum(counts.values()) >= 45


def test_nudges_are_short_invitations():
    content = shipped_content()
    for n in content.nudges.values():
        assert n.flow in content.flows
        assert len(n.text["ja"]) <= 90, n.id
        assert len(n.text["en"]) <= 160, n.id
        assert n.text["ja"].count("。") + n.text["ja"].count("？") <= 3, n.id
        for bossy in ("you must", "you should", "don't forget", "hurry"):
            assert bossy not in n.text["en"].lower(), n.id
        for bossy in ("しなさい", "すべきです", "しなければ", "忘れずに"):
            assert bossy not in n.text["ja"], n.id


def test_themed_flows_tag_their_messages():
    content = shipped_content()
    for flow in content.flows.values():
        if flow.theme == GENERAL_THEME:
            continue
        assert flow.seed == THEMES[flow.theme]
        own = [m for m in content.messages.values() if m.id.startswith(flow.id + ".")]
        assert own, flow.id
        for m in own:
            assert m.theme in THEMES and m.seed == THEMES[m.theme], m.id


def test_japanese_text_has_no_stray_spaces_between_sentences():
    """Folded YAML blocks (>-) join lines with a space, which reads oddly in Japanese."""
    content = shipped_content()
    jp = r"[\u3040-\u30ff\u4e00-\u9fff。、「」？！]"
    for m in content.messages.values():
        assert not re.search(f"{jp} {jp}", m.text["ja"]), m.id
    for n in content.nudges.values():
        assert not re.search(f"{jp} {jp}", n.text["ja"]), n.id


# ------------------------------------------------------------------- with the shipped detectors

PLEASING = {"ja": "頼まれると断れなくて、全部引き受けてしまう", "en": "I can't say no to my clients, I say yes to everything"}


@pytest.mark.parametrize("lang", LANGS)
def test_real_detector_offers_the_no_practice_and_it_runs_to_the_draft(lang):
    pytest.importorskip("bot.detect")
    chat = EngineChat(lang=lang, detect=True)
    chat.send(PLEASING[lang])
    assert chat.ids == ["noticed.people_pleasing", "offer.people_pleasing"]
    chat.tap(chat.content.text("offer.accept", lang))
    assert chat.state == "boundary:request"
    chat.send(PLEASING[lang])  # the same words as the request: no second notice inside the practice itself
    assert chat.ids == ["boundary.decide"]
    chat.tap(chat.content.text("boundary.choice_decline", lang))
    assert chat.ids[1] == "boundary.draft_no"
    chat.tap(chat.content.text("boundary.followup_no", lang))
    assert chat.ids == ["boundary.closing"]  # nothing else was noticed, so nothing else is offered
    assert chat.state == "idle"


def test_a_boundary_follow_up_never_carries_words_the_user_did_not_agree_to_keep():
    chat = Chat("en", consent=False)
    chat.send("practise saying no")
    chat.send("Rewrite their whole website for free")
    chat.pick("boundary.choice_decline")
    chat.pick("boundary.followup_yes")
    followup = chat.effect("schedule_followup")
    assert followup.args["message_id"] == "boundary.followup.plain"
    assert followup.args["values"] == {}
    assert "website" not in chat.content.text("boundary.followup.plain", "en")


def test_humming_at_an_offer_does_not_start_the_practice(chat: Chat):
    """「うーん」 folds to 「うん」 (yes); a sound of thinking must not be taken as agreeing."""
    chat.follow()
    chat.pick(f"onboarding.lang_{chat.lang}")
    chat.pick("onboarding.consent_yes")
    words = "毎晩0時すぎまでクライアントのLINEに返信してる" if chat.lang == "ja" else "I keep answering client messages at midnight"
    chat.with_signal("overwork", words).send(words)
    assert "offer.overwork" in chat.ids
    chat.send("うーん" if chat.lang == "ja" else "hmm")
    assert not chat.state.startswith("rest:")
    assert chat.ids == ["common.offer_wait"]  # no pressure, and the offer stays open
    assert [c.value for c in chat.choices] == ["go:rest", "offer:overwork:no"]
    chat.send("やってみる" if chat.lang == "ja" else "ok let's try")
    assert chat.state.startswith("rest:")


def test_an_option_read_from_own_words_among_several_is_named(chat: Chat):
    """「月曜がいいな」 / "Mondays please" picks one of four presets: the reply says which one it took."""
    chat.follow()
    chat.pick(f"onboarding.lang_{chat.lang}")
    chat.pick("onboarding.consent_yes")
    chat.send("月曜の朝がいいな" if chat.lang == "ja" else "Mondays please")
    assert chat.ids[0] == "common.understood_choice"
    assert chat.content.text("reminders.preset.monday_morning", chat.lang) in chat.texts[0]
    assert chat.effect("reminders").args["preset"] == "monday_morning"
