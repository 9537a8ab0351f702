"""A conversation that listens: free text read by meaning, intents anywhere, replies that fit.

Transcripts against the pure engine in both languages, with the real detectors and the real
reminders interpreter, typed only (no button is ever tapped here).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from bot.reminders.service import Reminders, days_per_week
from bot import understand as U
from tests.transcript import EngineChat, shipped_content

BUTTONS_WORDS = re.compile(r"ボタン|button", re.I)


def chat(lang: str, **kw) -> EngineChat:
    content = shipped_content()
    return EngineChat(content, lang=lang, interpreters=[Reminders(content, default_timezone="Asia/Tokyo").interpret], **kw)


def never_told_to_use_buttons(c: EngineChat) -> None:
    for t in c.texts:
        assert not BUTTONS_WORDS.search(t), t


def effect(c: EngineChat, name: str):
    got = [e for e in c.effects if e.name == name]
    assert got, f"no {name} effect in {c.effect_names()}"
    return got[-1]


# ---------------------------------------------------------------------- 1. understanding

@pytest.mark.parametrize("lang,text,kind", [
    ("ja", "はい", "yes"), ("ja", "うん、お願い", "yes"), ("ja", "ぜひ！", "yes"), ("ja", "いいえ", "no"),
    ("ja", "ううん", "no"), ("ja", "今はいい", "no"), ("en", "sure", "yes"), ("en", "yeah", "yes"),
    ("en", "nope", "no"), ("en", "not now", "no"), ("ja", "わからない", "dont_know"), ("en", "skip", "skip"),
    ("ja", "さっき言った", "already_said"), ("en", "I don't know", "dont_know"), ("ja", "うんざり", None),
])
def test_answer_words_by_meaning(lang, text, kind):
    assert U.read_answer(shipped_content().understanding, text, lang) == kind


@pytest.mark.parametrize("text,score,said", [
    ("3くらい", 3, 3), ("うーん、1かな…いや2", 2, 2), ("３", 3, 3), ("about three", 3, 3), ("三", 3, 3),
    ("3 out of 5", 3, 3), ("6", 5, 6), ("0点", 1, 0), ("たくさん", None, None),
])
def test_scores_in_words_last_number_wins_and_out_of_range_is_brought_in(text, score, said):
    got = U.read_score(shipped_content().understanding, text, "ja")
    assert (got.value if got else None) == score
    if got:
        assert got.said == said and got.out_of_range == (said != score)


@pytest.mark.parametrize("text,when", [
    ("来週の月曜まで通知止めて", datetime(2026, 1, 12, tzinfo=timezone(timedelta(hours=9)))),
    ("pause reminders until next monday", datetime(2026, 1, 12, tzinfo=timezone(timedelta(hours=9)))),
    ("リマインドを3日間お休みして", datetime(2026, 1, 8, 9, 0, tzinfo=timezone.utc)),
    ("pause reminders for two weeks", datetime(2026, 1, 19, 9, 0, tzinfo=timezone.utc)),
])
def test_pause_dates_and_durations(text, when):
    now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # a Monday
    u = shipped_content().understanding
    assert U.read_intent(u, text, "ja") == "pause_reminders"
    assert U.read_until(u, text, "ja", now=now, tz="Asia/Tokyo") == when


JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize("lang,text,when", [
    # durations: n × days, weeks, months, in either language, from now
    ("ja", "2週間", datetime(2026, 1, 19, 9, 0, tzinfo=timezone.utc)),
    ("ja", "一週間くらい休みたい", datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)),
    ("ja", "十日間", datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)),
    ("ja", "2ヶ月は止めて", datetime(2026, 3, 6, 9, 0, tzinfo=timezone.utc)),
    ("ja", "１か月の間", datetime(2026, 2, 4, 9, 0, tzinfo=timezone.utc)),
    ("en", "3 days", datetime(2026, 1, 8, 9, 0, tzinfo=timezone.utc)),
    ("en", "a month", datetime(2026, 2, 4, 9, 0, tzinfo=timezone.utc)),
    ("en", "for a couple of weeks", datetime(2026, 1, 19, 9, 0, tzinfo=timezone.utc)),
    ("en", "pause for a few days", datetime(2026, 1, 8, 9, 0, tzinfo=timezone.utc)),
    ("en", "1 Week", datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)),
    ("ja", "2 weeks くらい", datetime(2026, 1, 19, 9, 0, tzinfo=timezone.utc)),  # mixed languages
    # dates that only look like durations, and named days: the start of that day in their time zone
    ("ja", "3月5日まで", datetime(2026, 3, 5, tzinfo=JST)),
    ("ja", "20日まで", datetime(2026, 1, 20, tzinfo=JST)),
    ("ja", "金曜日まで", datetime(2026, 1, 9, tzinfo=JST)),
    ("ja", "来週まで", datetime(2026, 1, 12, tzinfo=JST)),
    ("en", "until next week", datetime(2026, 1, 12, tzinfo=JST)),
    # no date and no duration, or one longer than a year
    ("ja", "400日", None), ("en", "500 days", None), ("en", "today", None), ("ja", "月曜日", None),
])
def test_pause_durations_in_both_languages(lang, text, when):
    now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # a Monday
    assert U.read_until(shipped_content().understanding, text, lang, now=now, tz="Asia/Tokyo") == when


@pytest.mark.parametrize("text,days", [
    ("2週間", 14), ("3日", 3), ("3か月", 90), ("二週", 14), ("3 days", 3), ("two weeks", 14), ("an month", 30),
    ("ten days", 10), ("3月5日", None), ("0 days", None), ("366日", None), ("nothing", None),
])
def test_one_duration_reader_for_every_language(text, days):
    assert U.read_duration_days(text) == days


def test_frequency_keeps_days_among_the_chosen_ones():
    assert days_per_week(["mon", "tue", "wed", "thu", "fri"], 1) == ["mon"]
    assert days_per_week(["mon", "tue", "wed", "thu", "fri"], -1) == ["mon", "wed"]
    assert days_per_week(["mon"], 3) == ["mon", "wed", "fri"]


@pytest.mark.parametrize("lang,answers", [
    ("ja", ["断る練習", "追加の資料作成", "断る"]),
    ("en", ["practise saying no", "an extra report", "decline"]),
])
def test_part_of_a_label_picks_that_option(lang, answers):
    c = chat(lang)
    for a in answers:
        c.send(a)
    assert c.state == "boundary:followup_offer"
    assert "boundary.draft_no" in c.ids


@pytest.mark.parametrize("lang,said,state", [
    ("ja", "条件つきで", "boundary:conditions"), ("en", "with conditions i guess", "boundary:conditions"),
    ("ja", "後者かな", "boundary:weigh"), ("en", "the first one", "boundary:draft_no"),
])
def test_paraphrases_and_positions(lang, said, state):
    c = chat(lang)
    c.press("go:boundary")
    c.send("夜中の対応" if lang == "ja" else "late-night support")
    c.send(said)
    if state == "boundary:draft_no":
        assert "boundary.draft_no" in c.ids
    else:
        assert c.state == state


@pytest.mark.parametrize("lang,yes,no", [("ja", "うん、お願い", "今はいい"), ("en", "sure", "not now")])
def test_yes_and_no_words_answer_a_yes_no_question(lang, yes, no):
    for word, expect in ((yes, "closing_followup"), (no, "closing")):
        c = chat(lang)
        c.press("go:boundary")
        c.send("追加の資料" if lang == "ja" else "an extra report")
        c.send("断りたい" if lang == "ja" else "I want to decline")
        assert c.state == "boundary:followup_offer"
        c.send(word)
        assert f"boundary.{expect}" in c.ids and c.state == "idle"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_what_cannot_be_read_gets_a_short_question_naming_the_options(lang):
    c = chat(lang)
    c.press("go:privacy")
    c.send("青い傘" if lang == "ja" else "blue umbrella")
    assert c.ids == ["common.clarify"]
    for label in ("privacy.export", "privacy.delete", "common.back"):
        assert c.content.text(label, lang) in c.texts[0]
    never_told_to_use_buttons(c)


@pytest.mark.parametrize("lang,said", [("ja", "わからない"), ("en", "skip")])
def test_skip_or_dont_know_at_a_score_moves_on_without_a_score(lang, said):
    c = chat(lang)
    c.press("go:checkin")
    c.send(said)
    assert c.state == "checkin:boundaries" and c.ids[0] == "common.skip_ok"


# ---------------------------------------------------- 2-3. intents anywhere, interrupt and resume

@pytest.mark.parametrize("lang,stop,pause,freq,resume", [
    ("ja", "もうリマインドいらない", "来週の月曜まで通知止めて", "リマインドは週1くらいでいいかも", "リマインド再開して"),
    ("en", "no more reminders please", "pause reminders until next monday", "reminders once a week is enough",
     "turn reminders back on"),
])
def test_reminder_intents_mid_check_in_are_carried_out_and_the_question_comes_back(lang, stop, pause, freq, resume):
    c = chat(lang)
    c.press("go:checkin")
    c.send("3くらい" if lang == "ja" else "about 3")
    assert c.state == "checkin:boundaries"
    question = c.ids[-1]
    c.send("毎日19時半にリマインドして" if lang == "ja" else "remind me every day at 7:30pm")
    assert effect(c, "reminders").args["time"] == "19:30" and c.ids[-1] == question
    c.send(pause)
    until = effect(c, "reminders").args
    assert until["op"] == "pause" and until["until"].date().isoformat() == "2026-01-12"
    assert c.ids == ["common.reminders_paused_until", question]
    c.send(freq)
    assert effect(c, "reminders").args == {"op": "frequency", "per_week": 1} and c.ids[-1] == question
    c.send(stop)
    assert effect(c, "reminders").args == {"op": "off"} and c.ids[-1] == question
    c.send(resume)
    assert c.effect_names() == ["resume"] and c.ids[-1] == question
    assert c.state == "checkin:boundaries"  # none of it was taken as the answer
    c.send("うーん、1かな…いや2" if lang == "ja" else "hmm, 1... no, 2")
    assert c.state == "checkin:client_respect"
    never_told_to_use_buttons(c)


@pytest.mark.parametrize("lang,ask,no", [("ja", "データを全部消して", "いいえ"), ("en", "delete my data", "no")])
def test_a_flow_started_mid_flow_returns_to_the_interrupted_question(lang, ask, no):
    c = chat(lang)
    c.press("go:checkin")
    c.send("4")
    c.send(ask)
    assert c.state == "privacy:confirm_delete"
    c.send(no)
    assert c.ids == ["privacy.kept", "common.back_to", "checkin.boundaries"]
    assert c.state == "checkin:boundaries"


@pytest.mark.parametrize("lang,entry,no", [("ja", "断る練習", "先に終える"), ("en", "practise saying no", "finish this first")])
def test_another_flows_entry_phrase_mid_flow_asks_switch_or_finish_first(lang, entry, no):
    c = chat(lang)
    c.press("go:checkin")
    c.send(entry)
    assert c.ids == ["common.switch_ask"] and c.state == "checkin:energy"
    c.send("いいえ" if lang == "ja" else "no")
    assert c.ids == ["checkin.energy"]
    for s in ("3", "3", "3", "skip" if lang == "en" else "スキップ", "ok"):
        c.send(s)
    assert "common.then_start" in c.ids and c.state == "boundary:request"  # then the one they asked for


@pytest.mark.parametrize("lang,say,reply", [
    ("ja", "ありがとう", "common.thanks_reply"), ("en", "thanks!", "common.thanks_reply"),
    ("ja", "何ができるの？", "common.help"), ("en", "what can you do?", "common.help"),
    ("ja", "明日の天気はどう？", "common.cannot_answer"), ("en", "what's the capital of Peru?", "common.cannot_answer"),
])
def test_small_talk_help_and_questions_in_idle(lang, say, reply):
    c = chat(lang)
    c.send(say)
    assert c.ids[0] == reply and c.state == "idle"
    assert "menu.prompt" not in c.ids


# ---------------------------------------------------------------------------- 4. onboarding

@pytest.mark.parametrize("lang,first,language,yes,time", [
    ("ja", "メニュー", "にほんご", "うん", "夜9時"),
    ("en", "menu", "eigo", "sure", "weekdays at 8am"),
])
def test_onboarding_typed_only_never_loops(lang, first, language, yes, time):
    c = chat(lang, is_new=True)
    c.send(first)
    assert c.ids[0] == "common.first_ack" and c.state == "onboarding:language"  # still asked, nothing kept
    c.send(language)
    assert c.state == "onboarding:consent"
    assert c.lang == ("ja" if language == "にほんご" else "en")
    c.send(yes)
    assert effect(c, "set_consent").args == {"store_text": True}
    c.send(time)
    assert effect(c, "reminders").args["op"] == "set"
    assert c.state == "menu:choose"  # moved on: the question is not asked again
    never_told_to_use_buttons(c)


@pytest.mark.parametrize("start_lang,first,lang", [("en", "日本語", "ja"), ("ja", "English", "en"),
                                                   ("ja", "にほんごでお願いします", "ja"), ("en", "eigo", "en")])
def test_a_language_as_the_very_first_message_answers_the_language_question(start_lang, first, lang):
    c = chat(start_lang, is_new=True)
    c.send(first)
    # greeted, the language taken, and on to the next question: the language is never asked after it was said
    assert c.ids[0] == "onboarding.welcome" and "onboarding.language" not in c.ids
    assert c.lang == lang and c.state == "onboarding:consent"
    assert "common.first_ack" not in c.ids


def test_japanese_typed_at_the_language_question_means_japanese():
    c = chat("en", is_new=True)
    c.send("こんにちは")
    c.send("よろしくお願いします")
    assert c.lang == "ja" and c.state == "onboarding:consent"


def test_two_unreadable_consent_answers_keep_no_words_and_move_on():
    c = chat("en", is_new=True)
    c.send("hello")
    c.send("English")
    c.send("blue umbrella")
    assert c.ids == ["common.clarify"]
    c.send("purple")
    assert c.ids[0] == "common.fallback_taken"
    assert effect(c, "set_consent").args == {"store_text": False}
    assert c.state == "onboarding:reminders"


def test_no_reminders_in_words_at_onboarding_says_so_truthfully():
    c = chat("ja", is_new=True)
    for s in ("こんにちは", "日本語", "点数だけ", "リマインドはいらない"):
        c.send(s)
    assert "onboarding.no_reminders" in c.ids and "common.reminders_stopped" not in c.ids
    assert c.state == "menu:choose"


# ---------------------------------------------------------------------------- 5. replies that fit

def test_a_long_private_note_never_reaches_the_client_draft():
    c = chat("ja")
    c.press("go:boundary")
    note = "毎週のように資料を頼まれていて、正直うんざり。契約外。"
    c.send(note)
    assert note not in " ".join(c.texts)
    c.send("断る")
    draft = c.texts[c.ids.index("boundary.draft_no")]
    assert "契約外。" not in draft and "このたびのご依頼" in draft and "存じます" in draft


@pytest.mark.parametrize("lang,scores,words,ack,closing", [
    ("ja", ["1", "1", "1"], "最悪の週。全部だめだった", "checkin.ack.hard", "checkin.saved.hard"),
    ("en", ["5", "4", "five"], "Good week, proud of how it went", "checkin.ack.good", "checkin.saved.good"),
    ("en", ["3", "3", "3"], "skip", None, "checkin.saved"),
])
def test_check_in_closings_vary_with_scores_and_words(lang, scores, words, ack, closing):
    c = chat(lang)
    c.press("go:checkin")
    for s in scores:
        c.send(s)
    c.send(words)
    if ack:
        assert c.ids[0] == ack
    c.send("ok")
    assert c.ids[0] == closing


def test_the_same_notice_is_not_said_twice_in_one_flow():
    c = chat("ja", detect=True)
    c.press("go:boundary")
    c.send("夜中のLINE対応")
    c.send("また頼まれて断れなかった")
    c.press("go:client_review")
    c.send("断れなかった、いつも断れない")
    c.send("断れない。また断れなかった")
    noticed = [i for i in c.ids if i.startswith("noticed.")]
    assert len(noticed) <= 1


# ------------------------------------------- declared in the flow data, checked and drawn

def _copy(tmp_path):
    import shutil

    from tests.transcript import CONTENT_DIR
    dst = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, dst)
    return dst


def _edit(path, change):
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_content_check_names_bad_interrupts_understands_and_means(tmp_path):
    from bot.content import validate_content

    root = _copy(tmp_path)

    def break_it(d):
        d["states"]["consent"]["interrupts"] = ["help", "dance"]
        d["states"]["consent"]["choices"][0]["means"] = ["perhaps"]
        d["states"]["reminders"]["understands"]["telepathy"] = "done"
        d["states"]["reminders"]["understands"]["reminder_time"] = "nowhere"
    _edit(root / "flows/onboarding.yaml", break_it)
    _edit(root / "understanding/en.yaml", lambda d: d["intents"].update(teleport={"exact": ["beam me up"]}))
    (root / "understanding/ja.yaml").unlink()
    errs = [str(e) for e in validate_content(root)]
    for expected in (
        "flows/onboarding.yaml: states.consent.interrupts: unknown interruption 'dance'",
        "flows/onboarding.yaml: states.consent.choices.keep.means: unknown answer kind 'perhaps'",
        "flows/onboarding.yaml: states.reminders.understands.telepathy: unknown",
        "flows/onboarding.yaml: states.reminders.understands.reminder_time: unknown target 'nowhere'",
        "understanding/en.yaml: intents.teleport: unknown intent",
        "understanding/ja.yaml: (file): missing",
    ):
        assert any(e.startswith(expected) for e in errs), (expected, errs)


def test_content_graph_draws_what_a_state_understands_and_what_may_interrupt_it():
    from bot.diagram import mermaid

    graph = mermaid(shipped_content().flows["onboarding"])
    assert "reminders --> done: understands reminder_time" in graph
    assert "consent --> reminders: keep (yes)" in graph
    assert "note right of consent: interrupts: help, language, cancel, chat" in graph
    assert "note right of confirm_delete: interrupts: help, cancel" in mermaid(shipped_content().flows["privacy"])


def test_reminder_buttons_fit_the_nudge():
    from bot.reminders.dispatch import answer_choices

    content = shipped_content()
    question = answer_choices(content, "ja", "r1", "boundary", question=True)
    statement = answer_choices(content, "en", "r2", None)
    assert [c.label for c in question] == ["考えてみた", "今はいい", "話したい"]
    assert [c.label for c in statement] == ["Done", "Not now"]
    assert question[0].value == "nudge:r1:done"


def test_no_message_tells_people_to_use_the_buttons():
    content = shipped_content()
    for mid, msg in content.messages.items():
        if mid.startswith(("slack.", "web.", "nudge.button")):
            continue  # the channels' own chrome, and button labels themselves
        for lang, text in msg.text.items():
            assert not re.search(r"ボタン|button|\btap\b", text, re.I), (mid, lang, text)


@pytest.mark.parametrize("lang,same", [("ja", "同じ"), ("en", "same")])
def test_a_question_answered_minutes_ago_is_recalled_and_same_takes_it(lang, same):
    c = chat(lang)
    c.press("go:rest")
    c.send("今日とれる" if lang == "ja" else "today")
    assert c.state == "rest:drop"
    c.send("キャンセル" if lang == "ja" else "cancel")
    assert c.state == "idle" and c.last.saved is not None and c.last.saved.label == "idle"
    assert c.last.saved.vars == {"_memory": {"rest:next_break": {"choice": "today", "at": c.now.isoformat()}}}
    assert c.last.saved.expires_at == c.now  # lapsed at once: it holds no reminder back
    c.wait(minutes=10)
    c.press("go:rest")
    assert c.ids[-1] == "common.recalled"
    assert c.content.text("rest.break_today", lang) in c.texts[-1]
    c.send(same)
    assert c.ids[0] == "common.already_said_used" and c.state == "rest:drop"
    c.wait(days=2)
    c.press("go:rest")
    assert "common.recalled" not in c.ids  # only recent answers are recalled


def test_the_same_pattern_is_not_pointed_out_twice_in_a_row_from_idle():
    c = chat("ja")
    c.send("また断れなくて引き受けてしまった")
    first = [i for i in c.ids if i.startswith("noticed.")]
    assert first
    c.send("今日も断れなくて引き受けてしまった")
    assert not [i for i in c.ids if i.startswith("noticed.")]
    assert c.ids[-1] == "common.idle_open"
    c.wait(hours=1)
    c.send("また断れなくて引き受けてしまった")
    assert [i for i in c.ids if i.startswith("noticed.")] == first


@pytest.mark.parametrize("text,days,time", [
    ("平日の朝8時にお願いできますか", ("mon", "tue", "wed", "thu", "fri"), "08:00"),
    ("毎朝8時にリマインドしてもらえますか", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "08:00"),
    ("毎日21時ごろ", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "21:00"),
    ("月曜と木曜の夜9時がいいです", ("mon", "thu"), "21:00"),
    ("平日の朝８時がいいな", ("mon", "tue", "wed", "thu", "fri"), "08:00"),
    ("9pm on mondays and thursdays", ("mon", "thu"), "21:00"),
    ("could you remind me every morning at 7", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "07:00"),
])
def test_reminder_times_in_casual_and_polite_phrasings(text, days, time):
    from bot.reminders.parse import parse_reminder_command

    got = parse_reminder_command(text)
    assert got is not None and (got.days, got.time) == (days, time)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_same_clarification_or_idle_reply_is_not_said_twice_in_a_row(lang):
    c = chat(lang)
    c.press("go:privacy")
    c.send("青い傘" if lang == "ja" else "blue umbrella")
    first = c.texts[0]
    c.send("赤い靴" if lang == "ja" else "red shoes")
    assert c.ids == ["common.clarify_again"] and c.texts[0] != first
    c.send("2")  # a number is enough
    assert c.state == "privacy:confirm_delete"
    c.send("キャンセル" if lang == "ja" else "cancel")
    c.send("青い傘を買った" if lang == "ja" else "I bought an umbrella")
    assert c.ids == ["common.idle", "common.idle_open"]
    c.send("赤い靴も買った" if lang == "ja" else "and red shoes")
    assert c.ids == ["common.idle_again"] and not c.choices


def test_weekly_closings_do_not_read_the_same_every_week():
    c = chat("en")
    closings = []
    for week in range(3):
        c.press("go:checkin")
        for s in ("3", "3", "3", "skip"):
            c.send(s)
        question = c.ids[-1]
        c.send("ok")
        closings.append((question, c.ids[0]))
        c.wait(days=7)
    assert len({q for q, _ in closings}) == 3 and len({s for _, s in closings}) == 2


def test_talk_about_it_on_a_follow_up_offers_to_continue_where_it_left_off():
    from bot.reminders.dispatch import answer_choices

    talk = answer_choices(shipped_content(), "ja", "r9", "boundary:after_followup", question=True)[-1]
    assert talk.value == "nudge:r9:talk:boundary:after_followup"
    c = chat("ja")
    c.press(talk.value)
    assert c.state == "boundary:after_followup"
    c.send("まだ")
    assert c.ids == ["boundary.closing_not_sent"]


@pytest.mark.parametrize("last,trend", [
    ({"energy": 5, "boundaries": 4, "client_respect": 4}, "checkin.trend.down"),
    ({"energy": 1, "boundaries": 1, "client_respect": 2}, "checkin.trend.up"),
    ({"energy": 3, "boundaries": 3, "client_respect": 3}, None),
    (None, None),
])
def test_the_acknowledgement_compares_with_the_previous_check_in(last, trend):
    c = chat("en", last_checkin=last)
    c.press("go:checkin")
    for s in ("3", "3", "3", "skip"):
        c.send(s)
    trends = [i for i in c.ids if i.startswith("checkin.trend.")]
    assert trends == ([trend] if trend else [])


async def test_the_coach_gives_the_engine_the_previous_check_in_scores(runtime, clock):
    from bot.types import Inbound, UserKey

    key = UserKey("cli", "trend")

    async def say(text):
        return await runtime.coach.handle(Inbound(user=key, kind="text", text=text, received_at=clock()))

    for text in ("cancel", "cancel", "check-in", "5", "5", "5", "skip", "ok"):
        await say(text)
    clock.advance(days=7)
    for text in ("check-in", "1", "2", "1"):
        await say(text)
    out = await say("skip")
    assert "checkin.trend.down" in [r.message_id for r in out.replies]


@pytest.mark.parametrize("lang,reflection,command", [
    ("ja", "Slackの通知を止めたい", "リマインドとめて"),
    ("en", "I want to stop client messages at night", "stop reminders"),
])
def test_a_reflection_about_notifications_is_an_answer_but_our_own_words_are_a_command(lang, reflection, command):
    c = chat(lang)
    c.press("go:checkin")
    for s in ("3", "3", "3"):
        c.send(s)
    assert c.state == "checkin:reflection"
    c.send(command)
    assert effect(c, "reminders").args == {"op": "off"} and c.state == "checkin:reflection"
    c.send(reflection)
    assert c.effects == [] and c.state == "checkin:question"  # taken as the reflection


@pytest.mark.parametrize("said,lang", [("英語で話して", "en"), ("can we speak english", "en"), ("日本語にして", "ja"),
                                       ("speak japanese", "ja")])
def test_language_in_everyday_words_mid_flow_and_the_question_comes_back(said, lang):
    c = chat("ja" if lang == "en" else "en")
    c.press("go:checkin")
    c.send(said)
    assert c.lang == lang and c.ids == ["common.language_set", "checkin.energy"]
    assert c.state == "checkin:energy"


@pytest.mark.parametrize("lang,said,yes,no", [
    ("ja", "最近ずっと夜中までクライアントの資料直してて、もう疲れた", "うん、お願い", "ううん、今はいい"),
    ("en", "I've been answering client emails until 2am every night this week", "sure", "nope"),
])
def test_yes_or_no_in_words_answers_the_offer_made_after_a_noticed_pattern(lang, said, yes, no):
    c = chat(lang)
    c.send(said)
    assert c.replies[-1].choices and c.state == "idle"  # noticed, and a flow offered as buttons
    c.send(yes)
    assert c.state not in ("idle", "menu:choose") and c.state.split(":")[0] != "menu"  # the offered flow began
    c.send("cancel" if lang == "en" else "キャンセル")
    c2 = chat(lang)
    c2.send(said)
    c2.send(no)
    assert c2.ids == ["common.offer_declined"] and c2.state == "idle"
    c2.send(yes)  # the offer was answered: a later "yes" is not taken for it again
    assert c2.state == "idle"



@pytest.mark.parametrize("evidence,expect", [
    ("断れなくて", "断れなくて"),
    ("今週、クライアントの資料をまた全部作り直してあげた…自分でやってもらうべきなのに", "クライアントの資料をまた全部作り直してあげた"),
    ("until 1am", "until 1am"),
    ("I said yes to another rush job for a client even though", "I said yes to another rush job for a client"),
    ("I redo their slides, and", "I redo their slides"),
    ("疲れてるけど", "疲れてるけど"),
])
def test_a_noticed_pattern_is_quoted_briefly_never_as_a_long_echo(evidence, expect):
    from bot.engine import quoted

    assert quoted(evidence) == expect
    long_en = "I have been answering client slack messages until 1am every single night this month and more"
    q = quoted(long_en)
    assert len(q) <= 61 and q.endswith("…") and long_en.startswith(q[:-1])


def test_yes_keep_them_at_the_reminder_question_is_an_answer_with_the_real_detectors():
    c = EngineChat(lang="en", is_new=True)
    for words in ("hi", "English", "yes"):
        c.send(words)
    assert c.state == "onboarding:reminders"
    c.send("yes keep them")
    assert "noticed" not in [r.style for r in c.replies] and c.state == "onboarding:reminders"
    assert c.ids == ["common.clarify"] and len(c.choices) == 4


@pytest.mark.parametrize("text,label", [
    ("毎週の投稿文の作成", True), ("夜中のLINE対応", True), ("ｻﾑﾈｲﾙ作り", True), ("writing their weekly posts", True),
    ("late-night chat support", True), ("invoices", True),
    ("ぜんぶ私がやってる", False), ("ぜんぶやってる", False), ("自分で全部やります", False), ("返信が遅いから", False),
    ("I do all of it", False), ("my invoices", False), ("they never reply", False), ("it's everything", False),
    ("請求書の作成とSNSの予約投稿と毎週の報告", False), ("投稿文。あと請求", False), ("", False),
])
def test_a_short_answer_names_a_thing_or_says_a_sentence(text, label):
    assert U.is_label(shipped_content().understanding, text) is label


# -------------------------------------------------------------- hesitation and questions to the bot


@pytest.mark.parametrize("text, lang, kind", [
    ("うーん", "ja", "dont_know"), ("ｳｰｰﾝ…", "ja", "dont_know"), ("んー", "ja", "dont_know"),
    ("うん", "ja", "yes"), ("うーん、やってみる", "ja", "yes"), ("ううん", "ja", "no"),
    ("hmm", "en", "dont_know"), ("hmmmm...", "en", "dont_know"), ("hmm yes", "en", "yes"), ("um no", "en", "no"),
])
def test_a_sound_of_thinking_is_not_yes_though_folding_makes_uun_un(text, lang, kind):
    assert U.read_answer(shipped_content().understanding, text, lang) == kind


@pytest.mark.parametrize("text, lang, asks", [
    ("どうしたらいいと思う？", "ja", True), ("どう思いますか", "ja", True), ("あなたならどうする？", "ja", True),
    ("相手は楽だと思ってるのかな？", "ja", False), ("毎日つらい", "ja", False),
    ("what do you think?", "en", True), ("what should I do?", "en", True),
    ("maybe they feel safe?", "en", False), ("I think they feel safe", "en", False),
])
def test_a_question_that_asks_for_our_answer_is_told_apart_from_musing(text, lang, asks):
    assert U.asks_the_bot(shipped_content().understanding, text, lang) is asks


@pytest.mark.parametrize("lang, ask", [("ja", "どうしたらいいと思う？"), ("en", "what would you do in my place?")])
def test_asked_for_our_answer_in_a_reflection_we_say_why_and_ask_again(lang, ask):
    chat = EngineChat(lang=lang)
    chat.press("go:long_term")
    assert chat.state == "long_term:other_side"
    chat.send(ask)
    assert chat.ids[0] == "common.ask_back" and "long_term.other_side" in chat.ids
    assert chat.state == "long_term:other_side"  # not taken as an option, not saved as the answer
