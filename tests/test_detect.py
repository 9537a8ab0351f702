"""Detectors: behaviour on hard cases, spans, quality on the dev and holdout sets, lexicon validation.

The dev set (tests/data/detect_dev.jsonl) is also part of the training corpus
(content/detect/corpus/legacy_dev.jsonl), so its gates check that the model fits what it was
shown; the holdout set and the test split (tests/test_detect_model.py) are never trained on.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.detect import Detector, guess_language, load_detector, validate_lexicons
from bot.detect.evaluate import evaluate, load_labelled
from bot.errors import ContentInvalid
from bot.settings import DEFAULT_CONTENT_DIR
from bot.types import SIGNAL_KINDS

DATA = Path(__file__).parent / "data"
DEV = DATA / "detect_dev.jsonl"
HOLDOUT = DATA / "detect_holdout.jsonl"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_detector(DEFAULT_CONTENT_DIR)


def kinds(detector: Detector, text: str) -> set[str]:
    return {s.kind for s in detector.detect(text)}


def evidence(detector: Detector, text: str, kind: str) -> str | None:
    return next((s.evidence for s in detector.detect(text) if s.kind == kind), None)


# ---- the dev set itself -------------------------------------------------------------------

def test_dev_set_is_big_balanced_and_has_hard_negatives():
    examples = load_labelled(DEV)
    assert len(examples) >= 300
    langs = [e.lang for e in examples]
    assert 0.4 <= langs.count("ja") / len(langs) <= 0.6
    assert sum(not e.kinds for e in examples) >= len(examples) / 3
    for kind in SIGNAL_KINDS:
        for lang in ("ja", "en"):
            assert sum(kind in e.kinds and e.lang == lang for e in examples) >= 10, (kind, lang)


def test_dev_set_gates(detector):
    report = evaluate(detector, load_labelled(DEV))
    assert report.micro.f1 >= 0.9, "\n".join(report.lines())
    assert report.per_kind["crisis"].recall == 1.0, [m[0].text for m in report.mistakes]
    assert report.false_alarm_rate <= 0.1, "\n".join(report.lines())


def test_holdout_looser_bound(detector):
    report = evaluate(detector, load_labelled(HOLDOUT))
    assert report.micro.f1 >= 0.75, "\n".join(report.lines())
    assert report.per_kind["crisis"].recall >= 0.9


def test_every_dev_signal_points_into_the_original_text(detector):
    for ex in load_labelled(DEV):
        signals = detector.detect(ex.text, ex.lang)
        assert [s.start for s in signals] == sorted(s.start for s in signals)
        assert len({s.kind for s in signals}) == len(signals)
        for s in signals:
            assert s.kind in SIGNAL_KINDS
            assert 0 <= s.start < s.end <= len(ex.text)
            assert s.evidence == ex.text[s.start:s.end]
            assert 0 < s.score <= 1


# ---- the example from the brief, with spans ---------------------------------------------------

def test_two_signals_with_exact_spans(detector):
    text = "頼まれると断れなくて、毎晩2時まで作業してます"
    signals = detector.detect(text)
    assert [s.kind for s in signals] == ["people_pleasing", "overwork"]
    pp, ow = signals
    # the quote takes in the inflection that follows, so the bot can say 「断れなくて」と書いていましたね
    assert (pp.evidence, pp.start, pp.end) == ("断れなくて", 5, 10)
    assert (ow.evidence, ow.start, ow.end) == ("毎晩2時まで作業してます", 11, 23)


def test_quotes_stop_at_the_inflection_and_never_run_into_the_next_clause(detector):
    [sig] = detector.detect("また断れなかったけど、がんばります")
    assert sig.kind == "people_pleasing"
    assert sig.evidence == "断れなかった"
    assert "けど" not in sig.evidence


def test_spans_survive_normalisation(detector):
    text = "ｺﾄﾜﾚﾅｲし、毎晩２時まで作業。Ｉ"
    signals = {s.kind: s for s in detector.detect(text)}
    assert signals["people_pleasing"].evidence == "ｺﾄﾜﾚﾅｲ"
    assert "２時まで作業" in signals["overwork"].evidence
    curly = "Honestly I can’t say no."
    s = detector.detect(curly)[0]
    assert s.evidence == "can’t say no" and curly[s.start:s.end] == s.evidence


# ---- real language -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "断れない", "断れなくて困ってる", "また断れませんでした", "断れずに引き受けた", "ことわれない",
    "コトワレナイ", "ｺﾄﾜﾚﾅｲ", "断りきれなかった", "ＮＯと言えない", "ノーと言えない",
    "I can't say no", "I cannot say no", "I can not say no", "I couldn't say no to her",
    "I couldn’t say no", "I keep saying yes to everything", "I'm a people pleaser",
])
def test_people_pleasing_conjugations_and_spellings(detector, text):
    assert "people_pleasing" in kinds(detector, text)


@pytest.mark.parametrize("text", [
    "以前は断れなかったけど、今は断れるようになった",
    "今は断れるようになった",
    "昨日はよく眠れた",
    "I used to be unable to say no, but now I can.",
    "In the past I couldn't say no. These days I say no all the time.",
    "I'm not exhausted at all.",
    "疲れていないので大丈夫です",
    "断れないわけではない",
    "昔は毎晩徹夜していたけど、今はちゃんと寝ています",
])
def test_negation_and_recovery_give_no_signal(detector, text):
    assert detector.detect(text) == []


def test_still_keeps_a_past_marker_present(detector):
    assert "people_pleasing" in kinds(detector, "以前は断れなかったし、今もいまだに断れない")


@pytest.mark.parametrize("text", [
    "死ぬほどおいしい", "死ぬほど笑った", "死ぬかと思うほど寒かった", "I'm dying to try it",
    "This joke killed me.", "I died laughing.", "That cake was to die for.",
    "I almost killed myself laughing.", "電気が消えた",
])
def test_figurative_speech_is_not_crisis(detector, text):
    assert "crisis" not in kinds(detector, text)


@pytest.mark.parametrize("text", [
    "死にたい", "しにたい", "シニタイ", "もう消えたい", "いなくなりたい", "生きているのがつらい",
    "生きてるのがしんどい", "リストカットしてしまった", "リスカした", "死にたくなる",
    "I want to die", "I don't want to be here anymore", "I dont want to be here any more",
    "I want to kill myself", "I've been hurting myself", "I want to hurt myself",
    "I'm not sure, but I want to die", "I don't want to live anymore",
])
def test_crisis_is_always_caught(detector, text):
    assert "crisis" in kinds(detector, text)


def test_crisis_is_not_cancelled_by_recovery_words(detector):
    assert "crisis" in kinds(detector, "死にたいと思ってた。今は少し楽になったけど")
    assert "crisis" in kinds(detector, "I used to want to die and sometimes I still want to die.")


@pytest.mark.parametrize("text,expected", [
    ("夜中の1時にクライアントからLINEが来ても、すぐ返信してしまう", "overwork"),
    ("I answer client messages at midnight.", "overwork"),
    ("クライアントを追い込んでしまった", "controlling"),
    ("I want them to do exactly what I say.", "controlling"),
    ("結局私が全部やってしまった", "over_helping"),
    ("My client can't make a single decision without me.", "over_helping"),
    ("クライアントへの情熱がなくなってきた", "resentment"),
    ("I dread Monday calls.", "resentment"),
])
def test_each_kind_in_both_languages(detector, text, expected):
    assert expected in kinds(detector, text)


@pytest.mark.parametrize("text", [
    "夫は毎晩遅くまで働いている", "同僚は土日も働いているらしい", "My colleague is burned out.",
    "My husband works until 2am.", "深夜の問い合わせには翌朝返信しています",
    "Clients who message at night get a reply the next morning.",
    "値引きを頼まれましたが、丁寧にお断りしました", "The client asked for a discount and I politely declined.",
    "いらっしゃいませ", "請求書を送付しました。", "Please find the invoice attached.",
])
def test_other_people_and_ordinary_business_are_quiet(detector, text):
    assert detector.detect(text) == []


def test_several_kinds_and_one_signal_per_kind(detector):
    text = "I can't say no, I said yes to everything again, and I worked until 3am. I want to die."
    signals = detector.detect(text)
    assert {s.kind for s in signals} == {"people_pleasing", "overwork", "crisis"}
    pp = next(s for s in signals if s.kind == "people_pleasing")
    assert pp.evidence == "can't say no"  # the strongest people-pleasing pattern wins


def test_lang_argument_and_guess(detector):
    assert guess_language("I can't say no") == "en"
    assert guess_language("NOと言えない") == "ja"
    assert guess_language("ｺﾄﾜﾚﾅｲ") == "ja"
    assert detector.detect("I can't say no", "en")[0].kind == "people_pleasing"
    assert detector.detect("") == []


def test_detect_is_thread_safe(detector):
    from concurrent.futures import ThreadPoolExecutor

    examples = load_labelled(DEV)
    expected = [detector.detect(e.text, e.lang) for e in examples]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda e: detector.detect(e.text, e.lang), examples))
    assert got == expected


# ---- lexicon validation ----------------------------------------------------------------------

def test_shipped_lexicons_are_valid():
    assert validate_lexicons(DEFAULT_CONTENT_DIR) == []


def _copy_content(tmp_path: Path) -> Path:
    shutil.copytree(DEFAULT_CONTENT_DIR / "lexicons", tmp_path / "lexicons")
    return tmp_path


def _append(path: Path, yaml_text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + yaml_text, encoding="utf-8")


@pytest.mark.parametrize("broken,key_part,problem_part", [
    ("  grumpiness:\n    - id: grr\n      pattern: 'grr'\n", "grumpiness", "unknown signal kind"),
    ("  crisis_extra:\n    - {id: x, pattern: 'x'}\n", "crisis_extra", "unknown signal kind"),
])
def test_unknown_kind_is_reported(tmp_path, broken, key_part, problem_part):
    content = _copy_content(tmp_path)
    _append(content / "lexicons" / "en.yaml", broken)
    errors = validate_lexicons(content)
    assert any(key_part in e.key and problem_part in e.problem and e.file.endswith("en.yaml") for e in errors)


@pytest.mark.parametrize("entry,key_part,problem_part", [
    ("{id: bad_regex, pattern: '(unclosed'}", "bad_regex.pattern", "bad regular expression"),
    ("{id: no_pattern}", "no_pattern.pattern", "missing"),
    ("{id: bad_score, pattern: 'x', score: 2}", "bad_score.score", "(0, 1]"),
    ("{id: empty_match, pattern: 'x?'}", "empty_match.pattern", "empty string"),
    ("{id: unknown_fragment, pattern: '{NOPE}x'}", "unknown_fragment.pattern", "unknown fragment"),
    ("{id: named, pattern: '(?P<x>a)'}", "named.pattern", "named groups"),
    ("{id: typo_key, pattern: 'x', scroe: 0.5}", "typo_key.scroe", "unknown key"),
    ("{id: overwork_hours, pattern: 'x'}", "overwork_hours.id", "duplicate"),
    ("{pattern: 'x'}", ".id", "snake_case"),
])
def test_malformed_entries_are_reported_with_file_and_key(tmp_path, entry, key_part, problem_part):
    content = _copy_content(tmp_path)
    path = content / "lexicons" / "en.yaml"
    text = path.read_text(encoding="utf-8")
    if key_part.startswith("overwork_hours"):
        entry = entry + "\n    - {id: overwork_hours, pattern: 'y'}"
    marker = "  crisis:\n"
    path.write_text(text.replace(marker, f"  crisis:\n    - {entry}\n", 1), encoding="utf-8")
    errors = validate_lexicons(content)
    assert errors, "a broken entry must be reported"
    assert any(key_part in e.key and problem_part in e.problem for e in errors), [str(e) for e in errors]
    assert all(e.file.endswith("en.yaml") for e in errors)
    with pytest.raises(ContentInvalid) as info:
        load_detector(content)
    assert key_part in str(info.value)


def test_missing_language_and_bad_yaml_are_reported(tmp_path):
    content = _copy_content(tmp_path)
    (content / "lexicons" / "en.yaml").unlink()
    errors = validate_lexicons(content)
    assert any(e.key == "en" and "missing language" in e.problem for e in errors)

    (content / "lexicons" / "en.yaml").write_text("language: en\nsignals: [unclosed\n", encoding="utf-8")
    errors = validate_lexicons(content)
    assert any(e.file.endswith("en.yaml") and "YAML" in e.problem for e in errors)

    (content / "lexicons" / "en.yaml").write_text(
        "signals:\n  crisis:\n    - {id: a, pattern: 'a'}\n", encoding="utf-8")
    errors = validate_lexicons(content)
    assert any(e.key == "language" and "missing" in e.problem for e in errors)


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    content = _copy_content(tmp_path)
    path = content / "lexicons" / "ja.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  crisis:\n", "  crisis:\n    - {id: one, pattern: '('}\n    - {id: two, pattern: 'x', score: 0}\n", 1),
        encoding="utf-8")
    problems = {e.key for e in validate_lexicons(content)}
    assert {"signals.crisis.one.pattern", "signals.crisis.two.score"} <= problems


def test_empty_lexicon_folder_is_reported(tmp_path):
    (tmp_path / "lexicons").mkdir()
    assert validate_lexicons(tmp_path)
    with pytest.raises(ContentInvalid):
        load_detector(tmp_path)


# ---- regressions found by the holdout set (phrased differently here, so the holdout stays unseen) ----

def test_becoming_fun_again_is_not_resentment(detector):
    assert "resentment" not in kinds(detector, "セッションが楽しくなってきた")
    assert "resentment" in kinds(detector, "セッションが楽しくない")


@pytest.mark.parametrize("text", ["I can't see any point in living.", "What's the point of living?"])
def test_no_point_in_living_is_crisis(detector, text):
    assert "crisis" in kinds(detector, text)
