"""``bansou detect train``: rebuild the shipped model from the training corpus, deterministically.

1. Read ``content/detect/corpus/*.jsonl`` ({lang, text, kinds, style, how, ...}).
2. Turn every row into features (features.py); the vocabulary is every feature seen in at least
   two rows, in sorted order.
3. Split the corpus into five development folds by a hash of each text (so a row's fold does not
   depend on file order). For each kind and each C, train a logistic regression
   (scikit-learn, liblinear, balanced classes) on four folds and score the fifth; the out-of-fold
   scores choose C, fit the Platt calibration and choose the threshold.
4. Thresholds: the best F1 on the out-of-fold calibrated scores, then tuned together (micro-F1
   less FALSE_ALARM_WEIGHT x the neutral false-alarm rate) under the detector's rule that a crisis
   signal needs the clear band; the dev-fold figures in the header are under that rule too. Crisis has two: ``ambiguous``
   (the signal threshold: the highest that keeps out-of-fold recall, with the crisis safety net
   of detector.py, at RECALL_TARGET, but never below AMBIGUOUS_MIN) and
   ``clear`` (the lowest at or above it whose out-of-fold precision reaches CLEAR_PRECISION).
5. Train each kind on the whole corpus with its C, fold the calibration into the weights and
   write model.json + model.npy (model.py). Same corpus and lexicons → byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.detect.detector import crisis_phrases
from bot.detect.features import FEATURE_VERSION, Featuriser
from bot.detect.lexicon import load_lexicons
from bot.detect.model import (DETECT_DIR, MODEL_FORMAT, corpus_files, corpus_hash, lexicon_hash,
                              save_model)
from bot.errors import ContentError, ContentInvalid
from bot.types import LANGUAGES, SIGNAL_KINDS

FOLDS = 5
C_GRID = (8.0, 32.0, 128.0)
MIN_ROWS_PER_FEATURE = 2
RECALL_TARGET = 0.95
# A crisis signal means at least this calibrated chance: below it, a recall target met on the
# corpus would flag "OK" and "3" (answers to the bot's own questions) as crisis.
AMBIGUOUS_MIN = 0.2
# Weight of the neutral false-alarm rate against micro-F1 when thresholds are tuned together.
FALSE_ALARM_WEIGHT = 0.5
CLEAR_PRECISION = 0.9
SEED = 0
# Vectors are divided by sqrt(max(distinct features, NORM_FLOOR)) rather than L2-normalised
# outright: a three-word message would otherwise give each of its few n-grams a large weight.
NORM_FLOOR = 64


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    lang: str
    kinds: frozenset[str]
    fold: int


def read_corpus(content_dir: Path) -> list[Row]:
    """Every row of the training corpus; raise ContentInvalid naming file and line of bad rows."""
    rows: list[Row] = []
    errors: list[ContentError] = []
    files = corpus_files(content_dir)
    if not files:
        raise ContentInvalid([ContentError(str(Path(content_dir) / DETECT_DIR / "corpus"), "(folder)",
                                           "no training corpus (*.jsonl)")])
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            key = f"line {number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(ContentError(str(path), key, f"not valid JSON ({exc.msg})"))
                continue
            text, lang, kinds = (raw.get("text"), raw.get("lang"), raw.get("kinds")) if isinstance(
                raw, dict) else (None, None, None)
            if not isinstance(text, str) or not text.strip():
                errors.append(ContentError(str(path), key, "'text' must be a non-empty string"))
            elif lang not in LANGUAGES:
                errors.append(ContentError(str(path), key, f"'lang' must be one of {LANGUAGES}"))
            elif not isinstance(kinds, list) or not set(kinds) <= set(SIGNAL_KINDS):
                errors.append(ContentError(str(path), key, f"'kinds' must be a list of {SIGNAL_KINDS}"))
            else:
                fold = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") % FOLDS
                rows.append(Row(text, lang, frozenset(kinds), fold))
    if errors:
        raise ContentInvalid(errors)
    return rows


def _best_f1_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of ``p >= threshold``."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    predicted = np.arange(1, len(ys) + 1)
    f1 = 2 * tp / (predicted + ys.sum())
    # only cut between distinct scores
    valid = np.r_[ps[1:] < ps[:-1], True]
    i = int(np.argmax(np.where(valid, f1, -1)))
    return float(ps[i]), float(f1[i])


def _precision_threshold(p: np.ndarray, y: np.ndarray, floor: float, precision: float) -> float | None:
    for t in np.unique(p[p >= floor]):
        chosen = p >= t
        if chosen.sum() and y[chosen].mean() >= precision:
            return float(t)
    return None


def _objective(pred: np.ndarray, y: np.ndarray, neutral: np.ndarray) -> float:
    tp = int((pred & (y == 1)).sum())
    wrong = int((pred != (y == 1)).sum())
    micro = 2 * tp / (2 * tp + wrong) if tp else 0.0
    false_alarms = float(pred[neutral].any(axis=1).mean()) if neutral.any() else 0.0
    return micro - FALSE_ALARM_WEIGHT * false_alarms


def _tune_jointly(p: np.ndarray, y: np.ndarray, neutral: np.ndarray, thresholds: np.ndarray,
                  fixed: set[int]) -> np.ndarray:
    """Coordinate ascent on the thresholds of the kinds not in ``fixed``: micro-F1 minus
    FALSE_ALARM_WEIGHT x the neutral false-alarm rate, on out-of-fold scores."""
    thresholds = thresholds.copy()
    candidates = np.round(np.linspace(0.05, 0.95, 91), 4)
    for _ in range(3):
        for j in range(p.shape[1]):
            if j in fixed:
                continue
            best_t, best = thresholds[j], _objective(p >= thresholds, y, neutral)
            for t in candidates:
                trial = thresholds.copy()
                trial[j] = t
                score = _objective(p >= trial, y, neutral)
                if score > best + 1e-12:
                    best_t, best = t, score
            thresholds[j] = best_t
    return thresholds


def _figures(pred: np.ndarray, y: np.ndarray, neutral: np.ndarray) -> dict:
    out = {}
    for j, kind in enumerate(SIGNAL_KINDS):
        tp = int((pred[:, j] & (y[:, j] == 1)).sum())
        fp = int((pred[:, j] & (y[:, j] == 0)).sum())
        fn = int((~pred[:, j] & (y[:, j] == 1)).sum())
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        out[kind] = {"precision": round(p, 4), "recall": round(r, 4),
                     "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4)}
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    out["micro_f1"] = round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0
    out["neutral_false_alarm_rate"] = round(float(pred[neutral].any(axis=1).mean()), 4) if neutral.any() else 0.0
    return out


def train(content_dir: Path, *, log=print) -> dict:
    """Train on ``content_dir``'s corpus and write the model into ``content_dir/detect``; return its header."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    content_dir = Path(content_dir)
    lexicons, errors = load_lexicons(content_dir)
    if errors:
        raise ContentInvalid(errors)
    rows = read_corpus(content_dir)
    featuriser = Featuriser(lexicons)
    readings = [featuriser.read(r.text, r.lang) for r in rows]
    phrases = [crisis_phrases(reading) for reading in readings]
    safety_net = np.array([found == "ok" for found in phrases])
    negated_only = np.array([found == "negated" for found in phrases])
    per_row = [reading.features for reading in readings]
    del readings
    log(f"{len(rows)} rows featurised in {time.perf_counter() - started:.1f}s")

    per_row = [set(feats) for feats in per_row]
    counts: dict[str, int] = {}
    for feats in per_row:
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
    vocabulary = sorted(f for f, c in counts.items() if c >= MIN_ROWS_PER_FEATURE)
    index = {f: i for i, f in enumerate(vocabulary)}
    indptr, indices, data = [0], [], []
    for feats in per_row:
        cols = sorted(index[f] for f in feats if f in index)
        indices.extend(cols)
        data.extend([1.0 / np.sqrt(max(len(cols), NORM_FLOOR))] * len(cols))
        indptr.append(len(indices))
    X = csr_matrix((np.array(data), np.array(indices, dtype=np.int64), np.array(indptr)),
                   shape=(len(rows), len(vocabulary)))
    Y = np.array([[int(k in r.kinds) for k in SIGNAL_KINDS] for r in rows], dtype=np.int64)
    folds = np.array([r.fold for r in rows])
    neutral = Y.sum(axis=1) == 0
    log(f"{len(vocabulary)} features; rows per kind: "
        + ", ".join(f"{k} {int(Y[:, j].sum())}" for j, k in enumerate(SIGNAL_KINDS)))

    def model(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, solver="liblinear", dual=True, class_weight="balanced",
                                  random_state=SEED, max_iter=5000, tol=1e-4)

    weights = np.zeros((len(vocabulary), len(SIGNAL_KINDS)))
    bias = np.zeros(len(SIGNAL_KINDS))
    thresholds: dict[str, float] = {}
    chosen_c: dict[str, float] = {}
    oof_probs = np.zeros(Y.shape)
    bands: dict[str, float] = {}
    for j, kind in enumerate(SIGNAL_KINDS):
        y = Y[:, j]
        best = None
        for c in C_GRID:
            z = np.zeros(len(rows))
            for f in range(FOLDS):
                train_rows, dev_rows = folds != f, folds == f
                z[dev_rows] = model(c).fit(X[train_rows], y[train_rows]).decision_function(X[dev_rows])
            platt = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000).fit(z[:, None], y)
            a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
            p = 1 / (1 + np.exp(-(a * z + b)))
            t, f1 = _best_f1_threshold(p, y)
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, c, a, b, p, t)
        f1, c, a, b, p, t = best
        chosen_c[kind] = c
        oof_probs[:, j] = p
        if kind == "crisis":
            # The safety net's messages are caught whatever the model says: the recall target
            # is for model and net together, so the model's threshold covers only the rest.
            caught = safety_net & (y == 1)
            missing = int(np.ceil(RECALL_TARGET * y.sum())) - int(caught.sum())
            rest = np.sort(p[(y == 1) & ~safety_net])[::-1]
            ambiguous = float(rest[missing - 1]) if 0 < missing <= len(rest) else t
            ambiguous = max(min(t, ambiguous), AMBIGUOUS_MIN)
            p = np.where(safety_net, np.maximum(p, 0.999), p)
            clear = _precision_threshold(p, y, ambiguous, CLEAR_PRECISION) or max(t, ambiguous)
            clear = max(clear, ambiguous)
            bands = {"ambiguous": round(ambiguous, 6), "clear": round(clear, 6)}
            p = np.where(negated_only & (p < clear), 0.0, p)  # the "negated" band signals nothing
            oof_probs[:, j] = p
            t = ambiguous
            for cut in (0.1, 0.2, 0.3, 0.4, 0.5):
                chosen = p >= cut
                log(f"    crisis at {cut:.1f}: dev-fold recall {chosen[y == 1].mean():.3f}, precision "
                    f"{y[chosen].mean() if chosen.any() else 1:.3f}, neutral messages flagged {chosen[neutral].mean():.3f}")
        thresholds[kind] = round(min(max(t, 0.01), 0.99), 6)
        final = model(c).fit(X, y)
        weights[:, j] = a * final.coef_[0]
        bias[j] = a * final.intercept_[0] + b
        log(f"  {kind:<16} C={c:<4} dev-fold F1 {f1:.3f}  threshold {thresholds[kind]:.3f}")
    crisis = SIGNAL_KINDS.index("crisis")
    # Tune and report under the rule the detector applies: a crisis signal needs the clear band
    # (detector.py), so the crisis column is 1 where the out-of-fold score reaches it, else 0.
    deployed = oof_probs.copy()
    deployed[:, crisis] = (oof_probs[:, crisis] >= bands["clear"]).astype(float)
    tuned = _tune_jointly(deployed, Y, neutral, np.array([thresholds[k] for k in SIGNAL_KINDS]), {crisis})
    thresholds = {k: round(float(t), 6) for k, t in zip(SIGNAL_KINDS, tuned)}
    log("  thresholds tuned together: " + ", ".join(f"{k} {t:.2f}" for k, t in thresholds.items()))
    pred = deployed >= tuned
    figures = _figures(pred, Y, neutral)
    header = {
        "format": MODEL_FORMAT,
        "feature_version": FEATURE_VERSION,
        "kinds": list(SIGNAL_KINDS),
        "corpus_sha256": corpus_hash(content_dir),
        "lexicon_sha256": lexicon_hash(content_dir),
        "corpus_rows": len(rows),
        "rows_per_language": {lang: sum(r.lang == lang for r in rows) for lang in LANGUAGES},
        "thresholds": thresholds,
        "crisis_bands": bands,
        "c": chosen_c,
        "folds": FOLDS,
        "norm_floor": NORM_FLOOR,
        "dev_fold_figures": figures,
        "trainer": "scikit-learn LogisticRegression(liblinear, balanced) + Platt, per kind",
    }
    save_model(content_dir / DETECT_DIR, header, vocabulary, weights, bias)
    log(f"dev-fold micro-F1 {figures['micro_f1']:.3f}, neutral false alarms "
        f"{figures['neutral_false_alarm_rate']:.3f}; written to {content_dir / DETECT_DIR} "
        f"in {time.perf_counter() - started:.1f}s")
    return header
