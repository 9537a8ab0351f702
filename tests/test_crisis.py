"""Crisis care (issue 16): grading, the support lines as data, and care that stays with the person.

Grading is tested with constructed Signals (the detector's calibrated scores will change; the
grading must follow the score and the thresholds in content/crisis/care.yaml). The transcripts at
the end run the real detector, in Japanese and English, for a Japanese user, an English speaker in
Japan and a user in London.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.content import load_content
from bot.crisis.care import checkin_time
from bot.crisis.grade import Grade, grade
from bot.crisis.resources import resources_for
from bot.errors import ContentInvalid
from bot.types import Inbound, Signal
from tests.transcript import CONTENT_DIR, T0, EngineChat, shipped_content

TOKYO = ZoneInfo("Asia/Tokyo")
POLICY = shipped_content().crisis.policy
BOOK = shipped_content().crisis.book


def crisis(text: str, words: str, score: float) -> Signal:
    start = text.index(words)
    return Signal("crisis", words, start, start + len(words), score)


class SignalChat(EngineChat):
    """An EngineChat whose next message carries the signals a test constructs."""

    def __init__(self, *a, **kw):
        super().__init__(*a, detect=False, **kw)
        self.next: list[Signal] = []

    def _signals(self, text):
        out, self.next = self.next, []
        return out

    def send_with(self, text: str, words: str, score: float):
        self.next = [crisis(text, words, score)]
        return self.send(text)


# ---------------------------------------------------------------------------------------- grading


@pytest.mark.parametrize("text, words, score, expected", [
    ("もう死にたい", "死にたい", 0.95, Grade.CLEAR),
    ("もう死にたい", "死にたい", 0.6, Grade.ASK),          # a middle score: ask directly
    ("もう死にたい", "死にたい", 0.2, Grade.ACKNOWLEDGE),  # a low score: no panel
    ("全部消えたい", "消えたい", 1.0, Grade.ASK),          # an ambiguous phrase, even at 1.0
    ("死にたいとは思わないけど、しんどい", "死にたい", 1.0, Grade.ACKNOWLEDGE),
    ("死にたいってわけじゃないけど疲れた", "死にたい", 1.0, Grade.ACKNOWLEDGE),
    ("死にたいと思ってた。今は少し楽になったけど", "死にたい", 1.0, Grade.CLEAR),  # past, not denied
    ("I don't want to die, I'm just so tired", "want to die", 1.0, Grade.ACKNOWLEDGE),
    ("I'm not suicidal, just exhausted", "suicidal", 1.0, Grade.ACKNOWLEDGE),
    ("I want to die", "want to die", 0.9, Grade.CLEAR),
    ("I can't go on like this", "can't go on", 1.0, Grade.ASK),
])
def test_the_grade_follows_the_score_the_words_and_negation(text, words, score, expected):
    assert grade([crisis(text, words, score)], text, POLICY) is expected


def test_no_crisis_signal_no_grade_and_the_most_urgent_signal_wins():
    assert grade([Signal("overwork", "毎晩", 0, 2, 0.9)], "毎晩", POLICY) is None
    text = "死にたいとは思わないけど、やっぱり死にたい"
    first, second = crisis(text, "死にたい", 1.0), Signal("crisis", "死にたい", 17, 21, 1.0)
    assert text[17:21] == "死にたい"
    assert grade([first, second], text, POLICY) is Grade.CLEAR


def test_thresholds_come_from_content_and_an_operator_can_move_them(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, root)
    path = root / "crisis" / "care.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["thresholds"] = {"clear": 0.5, "ask": 0.3}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    policy = load_content(root).crisis.policy
    text = "もう死にたい"
    assert grade([crisis(text, "死にたい", 0.6)], text, POLICY) is Grade.ASK
    assert grade([crisis(text, "死にたい", 0.6)], text, policy) is Grade.CLEAR
    assert grade([crisis(text, "死にたい", 0.35)], text, policy) is Grade.ASK


# ---------------------------------------------------------------------------------------- resources


def at_tokyo(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=TOKYO)


def open_ids(tz: str, lang: str, now: datetime) -> dict[str, bool | None]:
    return {x.resource.id: x.open_now for x in resources_for(BOOK, timezone=tz, lang=lang, now=now)}


def test_an_english_speaker_in_japan_gets_the_japanese_set_with_tell_first_and_never_988():
    listed = resources_for(BOOK, timezone="Asia/Tokyo", lang="en", now=at_tokyo(5, 12))
    ids = [x.resource.id for x in listed]
    assert ids[0] == "tell_lifeline"
    assert {"yorisoi", "yorisoi_tohoku", "inochi_free", "inochi_navi", "kokoro_dial", "anata_no_ibasho",
            "mamorouyo_kokoro", "jp_ambulance", "jp_police"} <= set(ids)
    assert ids[-2:] == ["jp_ambulance", "jp_police"]  # emergency numbers last
    assert not any(x.resource.number == "988" for x in listed)
    ja = [x.resource.id for x in resources_for(BOOK, timezone="Asia/Tokyo", lang="ja", now=at_tokyo(5, 12))]
    assert ja[0] == "yorisoi" and ja.index("tell_lifeline") > ja.index("kokoro_dial")


def test_elsewhere_gets_the_international_directories_only():
    listed = resources_for(BOOK, timezone="Europe/London", lang="en", now=T0)
    assert [x.resource.id for x in listed] == ["find_a_helpline", "iasp_directory"]
    assert all(x.resource.kind == "web" and x.resource.url.startswith("https://") for x in listed)
    assert BOOK.country_for(None) == "INTL" and BOOK.country_for("America/Chicago") == "US"


def test_which_lines_are_open_now_in_their_own_time_zone():
    evening = open_ids("Asia/Tokyo", "ja", at_tokyo(5, 17))
    assert evening["inochi_free"] is True and evening["inochi_navi"] is True and evening["yorisoi"] is True
    late = open_ids("Asia/Tokyo", "ja", at_tokyo(5, 22, 30))
    assert late["inochi_free"] is False and late["inochi_navi"] is False and late["tell_lifeline"] is True
    assert open_ids("Asia/Tokyo", "ja", at_tokyo(5, 23, 30))["tell_lifeline"] is False
    # いのちの電話's free line is open around the clock from 08:00 on the 10th to 08:00 on the 11th
    assert open_ids("Asia/Tokyo", "ja", at_tokyo(10, 7, 59))["inochi_free"] is False
    assert open_ids("Asia/Tokyo", "ja", at_tokyo(11, 3))["inochi_free"] is True
    assert open_ids("Asia/Tokyo", "ja", at_tokyo(11, 8))["inochi_free"] is False
    assert evening["kokoro_dial"] is None  # hours vary by prefecture: no open-now mark
    # the same instant seen from UTC: 08:00 UTC is 17:00 in Tokyo
    assert open_ids("Asia/Tokyo", "ja", datetime(2026, 1, 5, 8, tzinfo=timezone.utc))["inochi_free"] is True


def test_every_resource_says_when_and_where_it_was_checked():
    for country in BOOK.countries.values():
        for r in country.resources:
            assert r.checked.source and r.checked.date
    assert "us_crisis_text_line" in BOOK.unverified()  # keyword not confirmed by a source yet: flagged, not hidden
    assert "yorisoi" not in BOOK.unverified()


@pytest.mark.parametrize("edit, key, problem", [
    (lambda r: r["countries"]["JP"]["resources"][1].pop("number"), "countries.JP.resources[yorisoi]",
     "needs a number"),
    (lambda r: r["countries"]["JP"]["resources"][3]["hours"].update(timezone="Asia/Nowhere"),
     "countries.JP.resources[inochi_free].hours.timezone", "unknown time zone"),
    (lambda r: r["countries"]["JP"]["resources"][3]["hours"]["windows"][0].update({"from": "25:00"}),
     "countries.JP.resources[inochi_free].hours.windows[0].from", "not a time"),
    (lambda r: r["countries"]["JP"]["resources"][0]["name"].pop("en"), "countries.JP.resources[tell_lifeline].name",
     "needs text in en"),
    (lambda r: r.update(fallback="XX"), "(file)", "fallback 'XX' is not one of the countries"),
])
def test_a_broken_resources_file_stops_start_up_naming_file_key_and_problem(tmp_path, edit, key, problem):
    root = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, root)
    path = root / "crisis" / "resources.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentInvalid) as err:
        load_content(root)
    found = [(e.file, e.key, e.problem) for e in err.value.errors]
    assert any(f == "crisis/resources.yaml" and k == key and problem in p for f, k, p in found), found


def test_an_operator_copy_of_the_resources_is_what_people_see(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, root)
    path = root / "crisis" / "resources.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("0120-279-338", "0120-000-111"), encoding="utf-8")
    chat = EngineChat(load_content(root), lang="ja")
    chat.send("もう死にたい")
    assert "0120-000-111" in chat.texts[0] and "0120-279-338" not in chat.texts[0]
    assert "tel:0120000111" in [c.value for c in chat.choices]


def test_the_check_in_goes_tomorrow_at_a_gentle_hour():
    assert checkin_time(datetime(2026, 1, 5, 2, tzinfo=TOKYO), TOKYO) == datetime(2026, 1, 6, 10, tzinfo=TOKYO)
    assert checkin_time(datetime(2026, 1, 5, 15, 20, tzinfo=TOKYO), TOKYO) == datetime(2026, 1, 6, 15, 20, tzinfo=TOKYO)
    assert checkin_time(datetime(2026, 1, 5, 23, 30, tzinfo=TOKYO), TOKYO) == datetime(2026, 1, 6, 20, tzinfo=TOKYO)


# ---------------------------------------------------------------------------------------- engine, graded


def test_a_clear_statement_gets_the_support_lines_at_once_and_care_begins():
    chat = SignalChat(lang="ja")
    chat.send("チェックイン")
    chat.send_with("もう死にたい", "死にたい", 0.95)
    assert chat.replies[0].style == "crisis" and chat.ids[0] == "crisis.panel.intro"
    assert chat.replies[0].evidence[0].evidence == "死にたい"
    assert "0120-279-338" in chat.texts[0] and "あなたのいばしょ" in chat.texts[0]
    assert chat.state == "crisis_care:listening"
    assert "crisis_pause" in chat.effect_names()
    assert "tel:0120279338" in [c.value for c in chat.choices]


def test_a_middle_score_asks_directly_with_the_lines_one_tap_away():
    chat = SignalChat(lang="en")
    chat.send_with("I sort of want to die", "want to die", 0.6)
    assert "crisis" not in [r.style for r in chat.replies]  # no panel yet
    assert "crisis.ask.question" in chat.ids and chat.state == "crisis_care:asked"
    values = [c.value for c in chat.choices]
    assert "c:crisis_care:asked:yes" in values and "c:crisis_care:asked:no" in values
    assert "tel:0357740992" in values  # a support line in their language (TELL), one tap away
    chat.tap("Yes, I am")
    assert chat.replies[0].style == "crisis" and chat.ids[0] == "crisis.panel.asked_yes"
    assert chat.state == "crisis_care:listening"


def test_answering_no_to_the_direct_question_keeps_care_and_the_lines_in_reach():
    chat = SignalChat(lang="ja")
    chat.send_with("全部消えたい", "消えたい", 1.0)
    chat.send("いいえ、そこまでじゃない")
    assert chat.ids[0] == "crisis.ask.thanks_no" and "crisis.reach" in chat.ids
    assert chat.state == "crisis_care:listening"


def test_a_low_score_gets_no_panel_but_the_hardness_is_acknowledged_and_rest_offered():
    chat = SignalChat(lang="ja")
    chat.send_with("死にたいくらい忙しい", "死にたい", 0.2)
    assert chat.ids == ["crisis.acknowledge"] and chat.replies[0].style == "normal"
    assert "crisis_pause" not in chat.effect_names() and chat.state == "idle"
    assert [c.value for c in chat.choices] == ["go:rest", "crisis:resources", "offer:crisis:no"]
    chat.tap("相談先を見る")
    assert chat.replies[0].style == "crisis" and "crisis_pause" not in chat.effect_names()


def test_renewed_distress_in_care_puts_the_lines_first_again():
    chat = SignalChat(lang="en")
    chat.send_with("I want to die", "want to die", 0.95)
    chat.send("work has been awful and my family is far away")
    assert chat.ids[0] == "crisis.reflect.1" and "work has been awful" in chat.texts[0]
    assert "crisis" not in [r.style for r in chat.replies]
    chat.send_with("I really want to die tonight", "want to die", 0.95)
    assert chat.ids[0] == "crisis.panel.renewed" and chat.replies[0].style == "crisis"
    assert chat.state == "crisis_care:listening"


FORBIDDEN = ("common.fallback", "common.idle", "common.stale_choice", "common.expired", "common.help", "menu.",
             "offer.", "noticed.", "nudge.", "common.resumed", "onboarding.")


def assert_care(chat: EngineChat) -> None:
    """Crisis care's answer: never a menu, an offer, a stock line or "use the buttons"."""
    bad = [i for i in chat.ids if i.startswith(FORBIDDEN)]
    assert not bad, bad
    assert chat.replies, "every message in care gets an answer"
    assert not any(c.value.startswith(("go:", "offer:", "nudge:")) for c in chat.choices), chat.choices
    assert chat.state.startswith("crisis_care:") or chat.state == "idle"


@pytest.mark.parametrize("lang, words", [("ja", ["メニュー", "ヘルプ", "キャンセル", "チェックイン"]),
                                         ("en", ["menu", "help", "cancel", "check-in"])])
def test_menus_commands_and_flow_names_in_care_ask_how_they_are_first(lang, words):
    chat = SignalChat(lang=lang)
    chat.send_with("もう死にたい" if lang == "ja" else "I want to die",
                   "死にたい" if lang == "ja" else "want to die", 0.95)
    for w in words:
        chat.send(w)
        assert_care(chat)
        assert chat.ids[-1] == "crisis.leave.how" and chat.state == "crisis_care:leaving"
    for value in ("go:checkin", "nudge:abc:done", "cmd:menu", "c:menu:choose:checkin"):
        chat.press(value)
        assert_care(chat)
        assert chat.ids[-1] == "crisis.leave.how"


def test_care_survives_a_sticker_a_link_tap_and_a_language_switch_and_lets_deletion_through():
    chat = SignalChat(lang="ja")
    chat.send_with("もう死にたい", "死にたい", 0.95)
    chat._step(Inbound(user=chat.user, kind="unsupported", received_at=chat.now))
    assert chat.ids[0] == "crisis.care.unsupported" and chat.state == "crisis_care:listening"
    chat.press("tel:0120279338")
    assert chat.replies == [] and chat.state == "crisis_care:listening"
    chat.send("英語で")
    assert chat.lang == "en" and chat.state == "crisis_care:listening"
    assert "crisis.care.listening" in chat.ids
    chat.send("delete my data")
    assert chat.state == "privacy:confirm_delete"


def test_sos_shows_the_lines_from_anywhere_without_pausing_anything():
    chat = EngineChat(lang="ja")
    chat.send("チェックイン")
    chat.send("相談先")
    assert chat.replies[0].style == "crisis" and chat.ids[0] == "crisis.panel.on_request"
    assert "crisis_pause" not in chat.effect_names()
    assert chat.state == "checkin:energy"  # what they were doing is still there
    chat = EngineChat(lang="en", timezone="Europe/London")
    chat.send("help")
    assert "SOS" in chat.texts[0]  # the way to the lines is named where people look for help
    chat.send("SOS")
    assert chat.replies[0].style == "crisis" and "findahelpline.com" in chat.texts[0]


def test_care_keeps_no_words_in_the_conversation_state():
    chat = SignalChat(lang="ja")
    chat.send_with("もう死にたい、誰にも言えない", "死にたい", 0.95)
    chat.send("会社で失敗した")
    assert set(chat.convo.vars) <= {"turn", "asked"}
    assert "会社" not in repr(chat.convo.vars)


# ---------------------------------------------------------------------------------------- transcripts

JA_STEPS = ["もう死にたい", "電話は無理。誰にも話せない。ここで少し話したいだけ", "やっぱり消えてしまいたい",
            "ごめん、大丈夫。ちょっと疲れてただけ", "死にたいとは思わないけど、しんどい", "再開"]
EN_STEPS = ["I want to die", "I can't phone. I just want to talk here", "honestly I still want to disappear forever",
            "sorry, I'm ok. just tired", "I don't want to die, it's just all too much", "resume"]
PEOPLE = {
    "japanese_user": ("ja", "Asia/Tokyo"),
    "english_speaker_in_japan": ("en", "Asia/Tokyo"),
    "user_in_london": ("en", "Europe/London"),
    "japanese_speaker_in_london": ("ja", "Europe/London"),
}


def resources_seen(chat: EngineChat) -> str:
    return "\n".join(chat.texts + [c.value for c in chat.choices])


@pytest.mark.parametrize("words", ["ja", "en"])
@pytest.mark.parametrize("who", list(PEOPLE))
def test_transcript_first_message_to_resume_never_gets_the_menu(words, who):
    lang, tz = PEOPLE[who]
    chat = EngineChat(lang=lang, timezone=tz, now=datetime(2026, 1, 5, 13, tzinfo=timezone.utc))  # 22:00 in Tokyo
    steps = JA_STEPS if words == "ja" else EN_STEPS
    expected_states = ["crisis_care:listening", "crisis_care:listening", "crisis_care:asked", "crisis_care:leaving",
                       "crisis_care:leaving", "crisis_care:back"]
    for text, state in zip(steps, expected_states):
        chat.send(text)
        assert_care(chat)
        assert chat.state == state, (text, chat.ids)
        seen = resources_seen(chat)
        assert "988" not in seen  # never a US number
        if tz == "Asia/Tokyo":
            assert "0120279338" in seen or "0120-279-338" in seen or "03-5774-0992" in seen \
                or "0357740992" in seen, (text, seen)
            assert "findahelpline" not in seen
        else:
            assert "findahelpline.com" in seen and "0120" not in seen and "tel:" not in seen, (text, seen)
        chat.wait(minutes=2)

    # each step, what it got:
    chat = EngineChat(lang=lang, timezone=tz, now=datetime(2026, 1, 5, 13, tzinfo=timezone.utc))
    chat.send(steps[0])
    assert chat.replies[0].style == "crisis" and "crisis_pause" in chat.effect_names()
    first_panel = chat.texts[0]
    if tz == "Asia/Tokyo" and lang == "en":
        assert first_panel.index("03-5774-0992") < first_panel.index("0120-279-338")  # TELL first
        assert "tel:0357740992" in [c.value for c in chat.choices]
    if tz == "Asia/Tokyo" and lang == "ja":
        assert first_panel.index("0120-279-338") < first_panel.index("03-5774-0992")
        # 22:00 in Tokyo: いのちの電話's free line (16-21) is closed, and says so
        line = next(x for x in first_panel.splitlines() if "0120-783-556" in x)
        assert "いまは時間外" in line and "◎" not in line
    chat.send(steps[1])  # "I can't phone": the services you can write to, first
    assert chat.replies[0].style == "crisis" and chat.ids[0] == "crisis.panel.text_intro"
    if tz == "Asia/Tokyo":
        panel = chat.texts[0]
        assert panel.index("https://talkme.jp/") < panel.index("0120-279-338")
        assert "https://www.mhlw.go.jp/mamorouyokokoro/" in panel
        assert "https://talkme.jp/" in [c.value for c in chat.choices]
    assert chat.ids[1] == "crisis.care.here_is_fine"
    chat.send(steps[2])  # renewed distress: the lines first again, then the direct question
    assert chat.replies[0].style == "crisis" and chat.ids[0] == "crisis.panel.renewed"
    assert "crisis.ask.question" in chat.ids
    chat.send(steps[3])  # an apology: no apology needed, and how are you, before anything resumes
    assert chat.ids == ["crisis.care.no_apology", "crisis.leave.how"]
    assert "resume" not in chat.effect_names() and "crisis_end" not in chat.effect_names()
    chat.send(steps[4])  # a negation: no panel
    assert "crisis" not in [r.style for r in chat.replies]
    assert "crisis_pause" not in chat.effect_names()
    chat.send(steps[5])  # "resume": what comes back is their choice
    assert chat.ids[0] == "crisis.back.question" and chat.effects == []
    labels = [c.value for c in chat.choices]
    assert {"c:crisis_care:back:reminders", "c:crisis_care:back:checkin_only", "c:crisis_care:back:quiet"} <= set(labels)


def test_a_negation_outside_care_raises_no_panel_with_the_real_detector():
    for lang, text in (("ja", "死にたいとは思わないけど、しんどい"), ("en", "I don't want to die, but everything is a lot")):
        chat = EngineChat(lang=lang)
        chat.send(text)
        assert chat.ids == ["crisis.acknowledge"], (text, chat.ids)
        assert "crisis_pause" not in chat.effect_names()


@pytest.mark.parametrize("lang, words, aside", [("ja", "死にたい", "今日は雨です"), ("en", "want to die", "it rained all day")])
def test_a_waiting_state_asks_its_question_again_with_its_own_buttons_then_the_lines(lang, words, aside):
    chat = SignalChat(lang=lang)
    chat.send_with("もう死にたい" if lang == "ja" else "I want to die", words, 0.95)
    for state, tap, first, again in (("leaving", "c:crisis_care:listening:leave", "crisis.leave.how", "crisis.leave.again"),
                                     ("back", "c:crisis_care:leaving:calmer", "crisis.back.question", "crisis.back.again")):
        chat.press(tap)
        assert chat.ids == [first] and chat.state == f"crisis_care:{state}"
        own = [f"c:crisis_care:{state}:{ch.id}" for ch in chat.content.flows["crisis_care"].states[state].choices]
        shown = [c.value for c in chat.choices]
        assert shown[:len(own)] == own and shown[len(own):]
        assert all(v.startswith(("tel:", "https://")) for v in shown[len(own):])
        chat.send(aside)  # not an answer: their words, and the same question again with the same buttons
        assert chat.ids[-1] == again and chat.state == f"crisis_care:{state}"
        assert [c.value for c in chat.choices] == shown


# ------------------------------------------------------------------- one folding (issue 14)
# Crisis care folds with bot.detect.normalise.fold, like the detectors and the understanding layer:
# width, kana, long vowels and repeated characters read alike.


@pytest.mark.parametrize("text", ["シニタイ", "ｼﾆﾀｲ", "死にたーい", "もう死にたいいいい", "ﾓｳ死にたい"])
def test_written_variants_of_a_crisis_statement_get_the_lines_at_once(text):
    chat = EngineChat(lang="ja")
    chat.send(text)
    assert chat.ids[0] == "crisis.panel.intro" and chat.replies[0].style == "crisis"
    assert chat.state == "crisis_care:listening"


@pytest.mark.parametrize("text", ["消えたーい", "ｷｴﾀｲ", "キエタイ", "消えたいいい"])
def test_written_variants_of_an_ambiguous_phrase_are_asked_about(text):
    assert grade([crisis(text, text, 1.0)], text, POLICY) is Grade.ASK


@pytest.mark.parametrize("text", ["死にたーいとは思わないけど、疲れた", "死にたいとは思わなーい", "ＩＭ ＮＯＴ ＳＵＩＣＩＤＡＬ"])
def test_written_variants_of_a_denied_mention_are_acknowledged(text):
    assert grade([], text, POLICY) is Grade.ACKNOWLEDGE


@pytest.mark.parametrize("text, said", [
    ("ダイジョウブ", "leave"), ("ﾀﾞｲｼﾞｮｳﾌﾞ", "leave"), ("ＩＭ ＯＫ", "leave"), ("I’m fine", "leave"),
    ("大丈夫ジャナイ", "not_ok"), ("電話ハ無理", "cannot_phone"), ("電話はムリです", "cannot_phone"),
    ("はーい", "yes"), ("ｳﾝ", "yes"), ("ＹＥＳ", "yes"), ("イイエ", "no"), ("ううん、ちがーう", "no"),
    ("ゴメンナサイ", "apology"), ("ＳＯＲＲＹ", "apology"),
])
def test_care_phrases_match_whatever_the_width_kana_or_long_vowels(text, said):
    from bot.crisis.grade import read_care_text

    got = read_care_text(text, POLICY)
    assert getattr(got, said), (text, got)


@pytest.mark.parametrize("text", ["ｿｳﾀﾞﾝｻｷ", "ソウダンサキ", "ＳＯＳ", "sos!!!"])
def test_sos_in_any_width_or_kana_shows_the_lines(text):
    chat = EngineChat(lang="ja")
    chat.send(text)
    assert chat.replies[0].style == "crisis" and chat.ids[0] == "crisis.panel.on_request"


# ------------------------------------------------------- hesitation is not an answer
# Folding shortens 「うーん」 to the yes word 「うん」; in care a sound of hesitation must not be read as
# "yes, I am thinking of ending my life".


@pytest.mark.parametrize("text, yes, no", [
    ("うーん", False, False), ("うーーん…", False, False), ("ｳｰﾝ", False, False), ("んー", False, False),
    ("hmm", False, False), ("hmmmm", False, False), ("um...", False, False),
    ("うん", True, False), ("うーん、そうかも", True, False), ("うーんそうかも", True, False),
    ("hmm yes", True, False), ("um no", False, True), ("えっと、いいえ", False, True),
])
def test_a_sound_of_hesitation_is_neither_yes_nor_no_but_what_follows_it_counts(text, yes, no):
    from bot.crisis.grade import read_care_text

    got = read_care_text(text, POLICY)
    assert (got.yes, got.no) == (yes, no), text


@pytest.mark.parametrize("lang, words, hum", [("ja", "全部消えたい", "うーん"), ("en", "I sort of want to die", "hmm")])
def test_humming_at_the_direct_question_is_not_taken_as_yes(lang, words, hum):
    chat = SignalChat(lang=lang)
    chat.send_with(words, words.split()[-1] if lang == "en" else "消えたい", 1.0 if lang == "ja" else 0.6)
    assert chat.state == "crisis_care:asked"
    chat.send(hum)
    assert "crisis.panel.asked_yes" not in chat.ids and "crisis.ask.thanks_no" not in chat.ids
