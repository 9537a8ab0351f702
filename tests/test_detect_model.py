"""The learned detector: normalisation, the model file, reproducible training, calibrated scores,
crisis bands and safety net, and the figures on the blind test split (the regression floor)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.detect import Detector, fold, load_detector, normalise, validate_detector
from bot.detect.evaluate import evaluate, load_labelled
from bot.detect.model import MODEL_JSON, MODEL_WEIGHTS, corpus_hash, lexicon_hash, load_model
from bot.detect.train import read_corpus, train
from bot.errors import ContentInvalid
from bot.settings import DEFAULT_CONTENT_DIR
from bot.types import SIGNAL_KINDS

DATA = Path(__file__).parent / "data"
# Two splits, each written by a helper from the definitions alone (benchmarks/RESULTS.md, "Detector model
# card"). Both have been seen since their blind evaluation and are development data now: their errors
# showed what kind of thing is missed (never their sentences, which are not in the corpus). A fresh blind
# split is measured by the lead. Figures are those of the shipped model and decision rules, less 0.002 for
# float noise: a change that scores lower fails here.
SPLITS = {
    "detect_test.jsonl": {  # split A, 813 rows
        "micro_f1": 0.773,  # measured 0.775
        "crisis_recall": 0.855,  # measured 114/133 = 0.857 (a crisis signal needs the clear band)
        "explicit_crisis_recall": 0.998,  # measured 44/44 = 1.000
        # measured 30/222 = 0.135: two more than the first pass's 28 (benchmarks/RESULTS.md, second pass)
        "neutral_false_alarm_rate_at_most": 0.137,
    },
    "detect_test_b.jsonl": {  # split B, 656 rows
        "micro_f1": 0.807,  # measured 0.809
        # measured 97/106 = 0.915: one row fewer than the second pass's 98, after short chat answers
        # ("I do all of it myself") stopped scoring as crisis (content/detect/corpus/lead_chat_answers.jsonl)
        "crisis_recall": 0.913,
        "explicit_crisis_recall": 0.998,  # measured 38/38 = 1.000
        "neutral_false_alarm_rate_at_most": 0.094,  # measured 17/185 = 0.092
    },
    "detect_test_c.jsonl": {  # split C, 770 rows, written blind and evaluated on this model once
        "micro_f1": 0.779,  # measured 0.781
        "crisis_recall": 0.838,  # measured 105/125 = 0.840
        "explicit_crisis_recall": 0.844,  # measured 44/52 = 0.846
        "neutral_false_alarm_rate_at_most": 0.102,  # measured 25/250 = 0.100
    },
}


@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_detector(DEFAULT_CONTENT_DIR)


# ---- normalisation -------------------------------------------------------------------------

@pytest.mark.parametrize("raw,folded", [
    ("ぜーんぶ私がやってる", "ぜんぶ私がやってる"),
    ("ｺﾄﾜﾚﾅｲ", "ことわれない"),
    ("コトワレナイ", "ことわれない"),
    ("つらいいいい", "つらい"),
    ("すご〜い！！！", "すごい!"),
    ("ＮＯと言えない", "noと言えない"),
    ("soooo tired", "soo tired"),
    ("I can’t", "i can't"),
    ("２０００円", "2000円"),  # digits are never shortened
    ("ﾊﾞｰﾝｱｳﾄ", "ばんあうと"),  # half-width sound mark composes, long vowel after kana dropped
])
def test_fold(raw, folded):
    assert fold(raw) == folded


@pytest.mark.parametrize("raw", ["ぜーんぶｺﾄﾜﾚﾅｲよ〜〜！！！", "soooo tired, ｗｗｗ", "plain text", "ﾊﾞｰﾝｱｳﾄ気味"])
def test_every_folded_character_maps_back_into_the_original(raw):
    n = normalise(raw)
    previous_end = 0
    for i in range(len(n.text)):
        start, end = n.original_span(i, i + 1)
        assert 0 <= start < end <= len(raw)
        assert start >= previous_end - 1
        previous_end = end
    assert n.original_span(0, len(n.text)) == (0, len(raw))
    assert fold(raw[slice(*n.original_span(0, len(n.text)))]) == n.text


def test_the_character_table_fold_agrees_with_the_general_fold():
    """normalise takes a table-driven path when it can; it must give what the general path gives."""
    import random

    from bot.detect.normalise import _normalise_slowly

    def spans(n, text):
        if n.starts is None:
            return n.text, tuple(range(len(n.text))), tuple(range(1, len(n.text) + 1))
        return n.text, n.starts, n.ends

    rng = random.Random(7)
    alphabet = "あいかがアイカガーｰ〜~ﾊﾞｶﾞａＡBc…！？!?。、 \n12０１aaいいいｗｗｗの日本語ﾞﾟ'’“”😀"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        quick = normalise(text)
        if quick.starts is not None:  # the identity shortcut (nothing changed) is checked by test_fold
            assert spans(quick, text) == spans(_normalise_slowly(text), text), text


def test_one_fold_for_the_whole_bot():
    """The lexicon patterns are folded by the same rules as text: a long vowel in a pattern matches."""
    from bot.detect.normalise import fold_pattern

    assert fold_pattern("バーンアウト") == fold("バーンアウト") == fold("ばーんあうと")


@pytest.mark.parametrize("text,lang", [
    ("頼まれると断れなくて、毎晩2時まで作業してます", "ja"), ("I can't   say NO", "en"), ("ab", "en"),
    ("", "ja"), ("😀\x00a", "ja"), ("lone \udcff surrogate", "en"), ("x", "en"),
])
def test_ngram_keys_are_the_keys_of_the_named_ngrams(text, lang):
    """The detector looks n-grams up by numeric key; the keys must be those of the n-grams training names."""
    from bot.detect.features import char_ngrams, gram_key, gram_keys, segment_gram_keys

    assert [int(k) for k in gram_keys(text, lang)] == [gram_key(g) for g in char_ngrams(text, lang)]
    pieces = [text, "", text[:3], "a b"]
    keys, owners = segment_gram_keys(pieces, lang)
    expected = [(gram_key(g), i) for i, piece in enumerate(pieces) for g in char_ngrams(piece, lang)]
    assert sorted(zip(map(int, keys), map(int, owners))) == sorted(expected)


def test_the_model_scores_a_reading_as_it_scores_its_named_features(detector):
    featuriser, model = detector._featuriser, detector._model
    for text, lang in [("頼まれると断れなくて、毎晩2時まで作業してます", "ja"), ("I don't want to die", "en")]:
        reading = featuriser.read(text, lang)
        assert sorted(model.reading_rows(reading.grams, reading.named)) == sorted(model.rows(reading.features))


# ---- the model file ------------------------------------------------------------------------

def test_shipped_model_matches_the_shipped_corpus_and_lexicons():
    header = json.loads((DEFAULT_CONTENT_DIR / "detect" / MODEL_JSON).read_text(encoding="utf-8"))
    assert header["corpus_sha256"] == corpus_hash(DEFAULT_CONTENT_DIR)
    assert header["lexicon_sha256"] == lexicon_hash(DEFAULT_CONTENT_DIR)
    assert header["corpus_rows"] == len(read_corpus(DEFAULT_CONTENT_DIR))
    assert validate_detector(DEFAULT_CONTENT_DIR) == []


def test_model_weights_load_without_pickle():
    raw = (DEFAULT_CONTENT_DIR / "detect" / MODEL_WEIGHTS).read_bytes()
    assert raw.startswith(b"\x93NUMPY")
    with open(DEFAULT_CONTENT_DIR / "detect" / MODEL_WEIGHTS, "rb") as fh:
        matrix = np.load(fh, allow_pickle=False)
    assert matrix.dtype == np.float32 and matrix.shape[1] == len(SIGNAL_KINDS)


def test_model_header_exposes_thresholds_and_crisis_bands(detector):
    header = detector.model_header
    assert set(header["thresholds"]) == set(SIGNAL_KINDS)
    bands = header["crisis_bands"]
    assert 0 < bands["ambiguous"] <= bands["clear"] < 1
    assert header["thresholds"]["crisis"] == bands["ambiguous"]


def _content_with_small_corpus(tmp_path: Path, rows: int = 400) -> Path:
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR / "lexicons", content / "lexicons")
    corpus = content / "detect" / "corpus"
    corpus.mkdir(parents=True)
    for path in sorted((DEFAULT_CONTENT_DIR / "detect" / "corpus").glob("*.jsonl")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        (corpus / path.name).write_text("\n".join(lines[::max(1, len(lines) // (rows // 4))]) + "\n",
                                        encoding="utf-8")
    return content


def test_training_is_deterministic_and_the_result_loads(tmp_path):
    content = _content_with_small_corpus(tmp_path)
    train(content, log=lambda line: None)
    first = {name: (content / "detect" / name).read_bytes() for name in (MODEL_JSON, MODEL_WEIGHTS)}
    train(content, log=lambda line: None)
    second = {name: (content / "detect" / name).read_bytes() for name in (MODEL_JSON, MODEL_WEIGHTS)}
    assert first == second
    detector = load_detector(content)
    assert {s.kind for s in detector.detect("死にたい")} >= {"crisis"}


def test_a_changed_corpus_or_lexicon_stops_start_up_naming_the_fix(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR / "lexicons", content / "lexicons")
    shutil.copytree(DEFAULT_CONTENT_DIR / "detect", content / "detect")
    assert validate_detector(content) == []
    corpus = sorted((content / "detect" / "corpus").glob("*.jsonl"))[0]
    corpus.write_text(corpus.read_text(encoding="utf-8")
                      + '{"lang": "en", "text": "a new row", "kinds": []}\n', encoding="utf-8")
    with pytest.raises(ContentInvalid) as info:
        load_detector(content)
    assert "corpus_sha256" in str(info.value) and "bansou detect train" in str(info.value)

    shutil.copy(DEFAULT_CONTENT_DIR / "detect" / "corpus" / corpus.name, corpus)
    lexicon = content / "lexicons" / "en.yaml"
    lexicon.write_text(lexicon.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    errors = validate_detector(content)
    assert any(e.key == "lexicon_sha256" and "bansou detect train" in e.problem for e in errors)


@pytest.mark.parametrize("damage,key", [
    (lambda d: (d / MODEL_WEIGHTS).write_bytes(b"not an array"), "(file)"),
    (lambda d: (d / MODEL_JSON).write_text("{", encoding="utf-8"), "(file)"),
    (lambda d: (d / MODEL_WEIGHTS).unlink(), "(model)"),
])
def test_a_broken_model_file_is_named(tmp_path, damage, key):
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR / "lexicons", content / "lexicons")
    shutil.copytree(DEFAULT_CONTENT_DIR / "detect", content / "detect")
    damage(content / "detect")
    model, errors = load_model(content)
    assert model is None and any(e.key == key for e in errors), errors
    with pytest.raises(ContentInvalid):
        load_detector(content)


def test_a_model_trained_on_other_features_is_refused(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR / "lexicons", content / "lexicons")
    shutil.copytree(DEFAULT_CONTENT_DIR / "detect", content / "detect")
    path = content / "detect" / MODEL_JSON
    header = json.loads(path.read_text(encoding="utf-8"))
    header["feature_version"] = -1
    path.write_text(json.dumps(header), encoding="utf-8")
    errors = validate_detector(content)
    assert [e.key for e in errors] == ["feature_version"]


# ---- calibrated scores, bands, safety net, evidence ---------------------------------------------

def test_scores_are_probabilities_and_signals_pass_their_thresholds(detector):
    thresholds = detector.model_header["thresholds"]
    for text in ["頼まれると断れなくて、毎晩2時まで作業してます", "I want to die", "Invoice attached.", "死ぬほど忙しい"]:
        a = detector.assess(text)
        assert all(0.0 <= p <= 1.0 for p in a.probabilities.values())
        for s in a.signals:
            assert s.score == a.probabilities[s.kind] >= thresholds[s.kind]
        assert {s.kind for s in a.signals} == {k for k, p in a.probabilities.items() if p >= thresholds[k]}


@pytest.mark.parametrize("text", [
    "死にたい", "もう死にたい", "死にたいです", "I want to die.", "I want to kill myself",
    "自殺しようと思ってる", "I'm going to end my life",
])
def test_explicit_crisis_is_always_caught_at_the_clear_band(detector, text):
    band, score = detector.crisis_band(text)
    assert band == "clear" and score >= detector.model_header["crisis_bands"]["clear"]


@pytest.mark.parametrize("text", [
    "来週、会社の屋上から飛び降りるつもり", "薬を少しずつ溜めてる", "練炭を車に積んである",
    "遺書を書き終えた", "駅のホームから飛び込もうと思ってる", "カッターで腕を切るのが止まらない",
    "I'm going to jump off the bridge near my flat", "I've been hoarding my sleeping pills",
    "The suicide note is in my desk drawer", "Picked the date to do it.", "honestly thinking about kms", "I keep cutting my arms at night",
    "Lying awake every night wanting to die.",
])
def test_method_and_preparation_are_caught_by_the_safety_net(detector, text):
    band, _ = detector.crisis_band(text)
    assert band == "clear" and "crisis" in {s.kind for s in detector.detect(text)}


@pytest.mark.parametrize("text", [
    "飛び込み営業で今日は5件まわった", "電車に飛び込み乗車して怒られた", "遺言書の作成を司法書士さんにお願いした",
    "友達が遺書を書いたらしくて心配", "死ぬ準備なんてしてないよ、眠いだけ", "屋上でビアガーデンやってた",
    "I'd jump at the chance to work with her", "Farewell message: I'm leaving the team for a new role", "ドラマの主人公が遺書を書いてて泣いた", "We should just end it with this client, they never pay",
    "Cut my arm on a branch while hiking", "I'd rather die than sit through that webinar again",
    "What should I do if a client says they are stockpiling pills?", "I'm not going to jump off a bridge, I'm just tired",
])
def test_method_words_in_other_senses_raise_no_crisis(detector, text):
    assert "crisis" not in {s.kind for s in detector.detect(text)}


@pytest.mark.parametrize("text", [
    "死にたいとは思わないけど、しんどい",
    "死にたいなんて思ってない。大丈夫",
    "本日、自殺予防のゲートキーパー研修を受講しました。",
    "What's the protocol if a client mentions self-harm in a session?",
])
def test_crisis_near_misses_are_not_crisis(detector, text):
    assert "crisis" not in {s.kind for s in detector.detect(text)}


@pytest.mark.parametrize("text", ["死にたいとは思わないけど、しんどい", "I don't want to die, I just want a holiday"])
def test_negated_crisis_words_get_the_negated_band(detector, text):
    band, score = detector.crisis_band(text)
    assert band == "negated" and score < detector.model_header["crisis_bands"]["clear"]


def test_no_crisis_words_no_crisis_band(detector):
    assert detector.crisis_band("請求書を送付しました。") == ("none", detector.assess("請求書を送付しました。").probabilities["crisis"])


@pytest.mark.parametrize("text,kind", [
    ("死ぬほど忙しい", "overwork"),
    ("昨日も深夜まで作業してた", "overwork"),
    ("結局、私がクライアントの資料を全部作り直してあげている", "over_helping"),
    ("私の言う通りにすれば絶対うまくいくのに", "controlling"),
    ("I feel like a burden to everyone.", "crisis"),
])
def test_phrasings_from_the_issue(detector, text, kind):
    kinds = {s.kind for s in detector.detect(text)}
    assert kind in kinds
    if kind != "crisis":
        assert "crisis" not in kinds


def test_evidence_is_the_lexicon_phrase_or_the_heaviest_clause(detector):
    text = "今日は朝から晩までずっとクライアント対応。それから資料づくり。"
    for s in detector.detect(text):
        assert text[s.start:s.end] == s.evidence and s.evidence.strip()
        assert "。" not in s.evidence  # one clause, not the message
    [pp] = [s for s in detector.detect("頼まれると断れなくて、毎晩2時まで作業してます") if s.kind == "people_pleasing"]
    assert pp.evidence == "断れなくて"


def test_a_very_long_message_is_read_and_crisis_anywhere_is_caught(detector):
    text = "今日は普通の一日でした。" * 5000 + "もう死にたい。" + "明日も仕事です。" * 100
    signals = detector.detect(text)
    crisis = [s for s in signals if s.kind == "crisis"]
    assert crisis and text[crisis[0].start:crisis[0].end] == crisis[0].evidence == "死にたい"


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x1b[31m", "\ufffd\ufffd", "😀" * 50, "a" * 10_000])
def test_odd_input_never_raises(detector, text):
    for s in detector.detect(text):
        assert 0 <= s.start < s.end <= len(text) and text[s.start:s.end] == s.evidence


# ---- the blind test split --------------------------------------------------------------------

@pytest.mark.parametrize("split", sorted(SPLITS))
def test_test_split_figures_stay_at_or_above_the_recorded_floor(detector, split):
    FLOOR = SPLITS[split]
    report = evaluate(detector, load_labelled(DATA / split))
    figures = "\n".join(report.lines())
    assert report.micro.f1 >= FLOOR["micro_f1"], figures
    assert report.per_kind["crisis"].recall >= FLOOR["crisis_recall"], figures
    assert report.explicit_crisis_recall >= FLOOR["explicit_crisis_recall"], figures
    assert report.false_alarm_rate <= FLOOR["neutral_false_alarm_rate_at_most"], figures
