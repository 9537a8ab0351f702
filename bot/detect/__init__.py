"""Detectors: notice overwork, people-pleasing, controlling, over-helping, resentment and crisis
in what a user writes, with the span of the user's own text that shows it.

    detector = load_detector(settings.content_dir)     # raises ContentInvalid on a bad lexicon or model
    detector.detect("頼まれると断れなくて、毎晩2時まで作業してます")
    # [Signal(people_pleasing, 「断れなくて」 5-10, score 0.9…), Signal(overwork, 「毎晩2時まで作業してます」 11-23, …)]

How a message is read (each step in its own module):

- normalise.py  one folding of the text (width, case, kana, long vowels, repeated characters)
                with offsets back to the original; ``fold`` is shared with the conversation engine;
- lexicon.py    the hand-written lexicons (content/lexicons/), compiled;
- matching.py   lexicon matches, each with its scope (ok, negated, past, recovered, other person);
- features.py   character n-grams, SudachiPy dictionary forms, negation scope, scope cues and the
                lexicon matches, as named binary features;
- model.py      the learned model (content/detect/model.json + model.npy), a calibrated linear
                score per kind computed with numpy;
- detector.py   thresholds, the crisis bands and safety net, and evidence;
- train.py      ``bansou detect train``: the model rebuilt from content/detect/corpus/;
- evaluate.py   ``bansou detect --eval``: figures on a labelled file.

For crisis care: every signal's ``score`` is a calibrated probability; ``detector.crisis_band(text)``
gives "clear", "ambiguous", "negated" or "none" with the crisis score, and
``detector.model_header["crisis_bands"]`` holds the two cut-offs (see detector.py).

Figures (quality, speed, memory) are in benchmarks/RESULTS.md, not here.
"""
from bot.detect.detector import Assessment, Detector, load_detector, validate_detector
from bot.detect.lexicon import validate_lexicons
from bot.detect.normalise import fold, guess_language, normalise

__all__ = ["Assessment", "Detector", "load_detector", "validate_detector", "validate_lexicons",
           "fold", "normalise", "guess_language"]
