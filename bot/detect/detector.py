"""The detector: a learned linear model over a message's features, with the crisis lexicon as a
safety net and evidence quoted from the user's own words.

For each kind the model gives a calibrated probability; a kind is signalled when it reaches the
kind's threshold (chosen on development folds of the training corpus, see train.py). Crisis has
bands (``Detector.crisis_band``): ``clear`` (score at or above the clear threshold: a signal),
``ambiguous`` (at or above the ambiguous threshold, which is crisis's signal threshold: a
signal), ``negated`` (crisis words are there but every one is negated, hypothetical, reported,
a topic or someone else's, and the score is below clear: no signal) and ``none``.

Safety net: a crisis lexicon phrase in scope ``ok`` (not negated, not someone else's, not
excluded) in a clause with no reported speech, topic mention, question, hypothetical or other
person always signals crisis at least at the ``clear`` band. Everything else (past, negated,
reported, hypothetical) is the model's to judge: it learned those from labelled near-misses.

Evidence: the highest-scoring lexicon phrase of the kind whose scope is ``ok``; otherwise the
clause whose character n-grams carry the most weight for the kind.

``Detector.detect`` does no I/O and shares no mutable state; one instance serves every thread.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.detect.features import MODEL_CHARS, Featuriser, Reading, segment_gram_keys
from bot.detect.lexicon import load_lexicons
from bot.detect.matching import OK, quote_end
from bot.detect.model import LinearModel, load_model
from bot.detect.normalise import guess_language
from bot.errors import ContentInvalid
from bot.types import Signal

# A crisis phrase in a clause with one of these cues may be about something else (a training on
# suicide prevention, what a client said, "what if..."): the model alone decides those.
_CUES_THAT_DEFER = frozenset({"reported", "topic", "question", "hypothetical", "third_party"})
_TRIM = " \t\r\n　、。，．,.!?！？・…:;「」『』()（）\"'"


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything the detector worked out about one message."""

    lang: str
    probabilities: dict[str, float]
    signals: list[Signal]
    crisis_band: str  # "clear", "ambiguous", "negated" or "none"


_SCOPES_THAT_NEGATE = frozenset({"negated", "other_person", "excluded"})


def crisis_phrases(reading: Reading) -> str:
    """What the crisis lexicon found: ``"ok"`` (a phrase in scope ``ok`` in a clause with none of
    _CUES_THAT_DEFER: the safety net), ``"negated"`` (phrases, but every one negated, someone
    else's, excluded, or in a hypothetical, reported, topic or question clause), else ``"none"``
    (no phrase, or one told in the past: the model judges those)."""
    found = "none"
    for h in reading.hits:
        if h.kind != "crisis":
            continue
        deferred = any(h.clause in reading.cue_clauses.get(cue, ()) for cue in _CUES_THAT_DEFER)
        if h.scope == OK and not deferred:
            return "ok"
        if h.scope in _SCOPES_THAT_NEGATE or deferred:
            found = "negated"
        else:
            return "none"
    return found


def crisis_safety_net(reading: Reading) -> bool:
    """A crisis lexicon phrase in scope ``ok`` whose clause has none of _CUES_THAT_DEFER."""
    return crisis_phrases(reading) == "ok"


class Detector:
    """Finds signals in a message; build it with ``load_detector``."""

    def __init__(self, featuriser: Featuriser, model: LinearModel):
        self._featuriser = featuriser
        self._model = model
        self._kinds = model.kinds
        self._crisis = model.kinds.index("crisis")
        self._clear = model.crisis_bands["clear"]
        self._ambiguous = model.crisis_bands["ambiguous"]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._featuriser.lexicons)

    @property
    def model_header(self) -> dict:
        """The model's metadata: thresholds, crisis bands, corpus hash, training figures."""
        return dict(self._model.header)

    def detect(self, text: str, lang: str | None = None) -> list[Signal]:
        """Signals in ``text``: at most one per kind, ordered by where their evidence starts."""
        return self.assess(text, lang).signals

    def crisis_band(self, text: str, lang: str | None = None) -> tuple[str, float]:
        """("clear" | "ambiguous" | "negated" | "none", calibrated crisis score) for ``text``."""
        a = self.assess(text, lang)
        return a.crisis_band, a.probabilities["crisis"]

    def assess(self, text: str, lang: str | None = None) -> Assessment:
        """Probabilities for every kind, the signals that pass their thresholds, the crisis band."""
        lang = lang if lang in self._featuriser.lexicons else guess_language(text or "")
        if not text or not text.strip():
            return Assessment(lang, {k: 0.0 for k in self._kinds}, [], "none")
        reading = self._featuriser.read(text, lang)
        rows = self._model.reading_rows(reading.grams, reading.named)
        scores = dict(zip(self._kinds, self._model.probabilities_of_rows(rows)))
        phrases = crisis_phrases(reading)
        if phrases == "ok":
            scores["crisis"] = max(scores["crisis"], self._clear)
        # Every crisis phrase negated, hypothetical or reported, and the model not sure: the
        # "negated" band, with no signal (死にたいとは思わないけど、しんどい).
        negated = phrases == "negated" and scores["crisis"] < self._clear
        signals = []
        clause_weights: dict = {}
        for index, kind in enumerate(self._kinds):
            threshold = self._model.thresholds[kind]
            if kind == "crisis":
                # A crisis signal needs the clear band (the model sure, or a crisis phrase in scope). The
                # ambiguous band stays visible through crisis_band() but raises nothing: in conversation,
                # short answers such as 「後者かな」 or 「わからない」 land there, and crisis care must not
                # answer them.
                threshold = max(threshold, self._clear)
            if scores[kind] >= threshold and not (negated and kind == "crisis"):
                start, end = self._evidence(reading, kind, index, clause_weights)
                signals.append(Signal(kind=kind, evidence=text[start:end], start=start, end=end,
                                      score=scores[kind]))
        signals.sort(key=lambda s: (s.start, s.end))
        c = scores["crisis"]
        band = ("clear" if c >= self._clear else "negated" if negated
                else "ambiguous" if c >= self._ambiguous else "none")
        return Assessment(lang, scores, signals, band)

    def _evidence(self, reading: Reading, kind: str, index: int, clause_weights: dict) -> tuple[int, int]:
        best = None
        for hit in reading.hits:
            if hit.kind == kind and hit.scope == OK and (best is None or hit.score > best.score):
                best = hit
        folded = reading.folded
        if best is not None:
            start, end = folded.original_span(best.start, best.end)
            return start, quote_end(reading.text, end, reading.lang)
        if "spans" not in clause_weights:
            clause_weights["spans"] = self._clause_spans(reading)
        spans = clause_weights["spans"]
        if not spans:
            return 0, len(reading.text)
        if len(spans) > 1:
            if "rows" not in clause_weights:
                clause_weights["rows"], clause_weights["segments"] = self._clause_rows(reading, spans)
            rows, segments = clause_weights["rows"], clause_weights["segments"]
            weights = np.bincount(segments, weights=self._model.weights[rows, index], minlength=len(spans))
            span = spans[int(np.argmax(weights))]
        else:
            span = spans[0]
        return folded.original_span(*span)

    @staticmethod
    def _clause_spans(reading: Reading) -> list[tuple[int, int]]:
        """Clauses of the analysed part of the folded text, without edge spaces and punctuation."""
        text = reading.folded.text
        limit = min(len(text), MODEL_CHARS)
        spans = []
        for i in range(len(reading.clauses.starts)):
            start, end = reading.clauses.span(i)
            if start >= limit:
                break
            piece = text[start:end]
            stripped = piece.strip(_TRIM)
            if stripped:
                start += len(piece) - len(piece.lstrip(_TRIM))
                spans.append((start, start + len(stripped)))
        return spans

    def _clause_rows(self, reading: Reading, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary rows of each clause's character n-grams, and the clause each belongs to."""
        text = reading.folded.text
        keys, owners = segment_gram_keys([text[start:end] for start, end in spans], reading.lang)
        rows, known = self._model.grams.lookup_with_mask(keys)
        return rows, owners[known]


_CACHE: dict[tuple, Detector] = {}


def _fingerprint(content_dir: Path) -> tuple:
    """Identity of the content a detector was built from: paths, sizes and modification times."""
    parts = []
    for sub in ("lexicons", "detect", "detect/corpus"):
        folder = content_dir / sub
        if folder.is_dir():
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.is_file():
                    st = entry.stat()
                    parts.append((sub, entry.name, st.st_size, st.st_mtime_ns))
    return (str(content_dir.resolve()), tuple(parts))


def load_detector(content_dir: Path) -> Detector:
    """Compile the lexicons and load the model under ``content_dir``; raise ContentInvalid listing
    every problem. Detectors are shared: loading unchanged content again returns the same one."""
    content_dir = Path(content_dir)
    key = _fingerprint(content_dir)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    lexicons, errors = load_lexicons(content_dir)
    if errors:
        raise ContentInvalid(errors)
    model, errors = load_model(content_dir)
    if errors:
        raise ContentInvalid(errors)
    detector = Detector(Featuriser(lexicons), model)
    _CACHE[key] = detector
    return detector


def validate_detector(content_dir: Path) -> list:
    """Every problem with the lexicons and the model under ``content_dir`` (empty when all is well)."""
    lexicons, errors = load_lexicons(content_dir)
    if errors:
        return errors
    return load_model(content_dir)[1]
