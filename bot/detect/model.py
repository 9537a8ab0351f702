"""The learned detector model on disk: arrays and JSON, nothing that runs code when loaded.

    content/detect/model.json   header: format version, feature version, corpus and lexicon
                                hashes, kinds, per-kind thresholds, crisis bands, the feature
                                vocabulary, training figures
    content/detect/model.npy    float32 weights, one row per vocabulary feature plus a last row
                                of biases, one column per kind (Platt calibration folded in, so
                                sigmoid(x·W + b) is the calibrated probability)

Loading checks the format and feature versions and that the corpus and lexicons under the same
content folder hash to what the model was trained on; any mismatch is a ContentError naming
``bansou detect train`` as the fix.
"""
from __future__ import annotations

import hashlib
import json
import math
from itertools import repeat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.detect.features import FEATURE_VERSION, gram_key
from bot.detect.lexicon import LEXICON_DIR
from bot.errors import ContentError
from bot.types import SIGNAL_KINDS

MODEL_FORMAT = 1
DETECT_DIR = "detect"
CORPUS_DIR = "corpus"
MODEL_JSON = "model.json"
MODEL_WEIGHTS = "model.npy"


def _hash_files(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def corpus_files(content_dir: Path) -> list[Path]:
    folder = Path(content_dir) / DETECT_DIR / CORPUS_DIR
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def corpus_hash(content_dir: Path) -> str:
    """sha256 over the training corpus files (names and bytes), in name order."""
    return _hash_files(corpus_files(content_dir), Path(content_dir))


def lexicon_hash(content_dir: Path) -> str:
    """sha256 over the lexicon files: the model's features depend on them."""
    folder = Path(content_dir) / LEXICON_DIR
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else []
    return _hash_files(files, Path(content_dir))


_FEATURE_PREFIX = "\x1f"  # every feature that is not a character n-gram starts with it (features.py)


class GramTable:
    """Vocabulary rows of the character n-gram features, looked up by 64-bit key (features.gram_key).

    A plain dict: for the hundred-odd n-grams of a message, dict lookups over ``keys.tolist()``
    beat a numpy search, whose per-call cost dominates at that size."""

    __slots__ = ("rows",)

    def __init__(self, rows: dict[int, int]):
        self.rows = rows

    @classmethod
    def build(cls, vocabulary: dict[str, int]) -> GramTable:
        rows: dict[int, int] = {}
        for name, row in vocabulary.items():
            if not name.startswith(_FEATURE_PREFIX) and 1 <= len(name) <= 4:
                key = gram_key(name)
                if key in rows:
                    raise ValueError("two vocabulary n-grams share a key")
                rows[key] = row
        return cls(rows)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Vocabulary rows of ``keys`` that are known, in order, repeats kept."""
        return self.lookup_with_mask(keys)[0]

    def lookup_with_mask(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the known keys, in order, repeats kept; which of ``keys`` are known)."""
        found = np.array(list(map(self.rows.get, keys.tolist(), repeat(-1, len(keys)))), dtype=np.intp)
        known = found >= 0
        return found[known], known


@dataclass(frozen=True)
class LinearModel:
    """Calibrated per-kind logistic scores over named binary features."""

    kinds: tuple[str, ...]
    vocabulary: dict[str, int]
    weights: np.ndarray  # (len(vocabulary), len(kinds)) float32
    bias: np.ndarray  # (len(kinds),) float64
    thresholds: dict[str, float]
    crisis_bands: dict[str, float]
    header: dict
    norm_floor: int = 1  # a message's vector is divided by sqrt(max(distinct features, norm_floor))
    grams: GramTable | None = None  # built from the vocabulary when not given

    def __post_init__(self) -> None:
        if self.grams is None:
            object.__setattr__(self, "grams", GramTable.build(self.vocabulary))
        object.__setattr__(self, "_bias_list", self.bias.tolist())

    def rows(self, features: list[str]) -> np.ndarray:
        """Distinct vocabulary rows of ``features`` (unknown names are ignored)."""
        known = set(map(self.vocabulary.get, features))
        known.discard(None)
        return np.fromiter(known, dtype=np.intp, count=len(known))

    def reading_rows(self, gram_keys: np.ndarray, named: list[str]) -> np.ndarray:
        """Distinct vocabulary rows of a message given as n-gram keys plus named features."""
        rows = set(map(self.grams.rows.get, gram_keys.tolist()))
        rows.update(map(self.vocabulary.get, named))
        rows.discard(None)
        return np.fromiter(rows, dtype=np.intp, count=len(rows))

    def probabilities(self, features: list[str]) -> list[float]:
        """Calibrated probability per kind (in ``kinds`` order) for one message's features."""
        return self.probabilities_of_rows(self.rows(features))

    def probabilities_of_rows(self, rows: np.ndarray) -> list[float]:
        """Calibrated probability per kind for a message given as distinct vocabulary rows."""
        if len(rows):
            scale = 1.0 / math.sqrt(max(len(rows), self.norm_floor))
            sums = self.weights.take(rows, axis=0).sum(axis=0, dtype=np.float64).tolist()
            z = [b + s * scale for b, s in zip(self._bias_list, sums)]
        else:
            z = self._bias_list
        return [1.0 / (1.0 + math.exp(-v)) if v > -700 else 0.0 for v in z]

    def weight_of(self, features: list[str], kind_index: int) -> float:
        """Sum of one kind's weights over ``features`` (unnormalised): how much a clause says it."""
        rows = self.rows(features)
        return float(self.weights[rows, kind_index].sum(dtype=np.float64)) if len(rows) else 0.0


def save_model(folder: Path, header: dict, vocabulary: list[str], weights: np.ndarray, bias: np.ndarray) -> None:
    """Write model.json and model.npy; same inputs give byte-identical files."""
    folder.mkdir(parents=True, exist_ok=True)
    matrix = np.vstack([weights.astype(np.float32), bias.astype(np.float32)[None, :]])
    with open(folder / MODEL_WEIGHTS, "wb") as fh:
        np.save(fh, np.ascontiguousarray(matrix), allow_pickle=False)
    doc = {**header, "vocabulary": vocabulary}
    (folder / MODEL_JSON).write_text(json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=0) + "\n",
                                     encoding="utf-8")


def load_model(content_dir: Path) -> tuple[LinearModel | None, list[ContentError]]:
    """Read and check the model under ``content_dir/detect``; every problem is returned."""
    folder = Path(content_dir) / DETECT_DIR
    json_path, npy_path = folder / MODEL_JSON, folder / MODEL_WEIGHTS
    errors: list[ContentError] = []

    def problem(path: Path, key: str, text: str) -> tuple[None, list[ContentError]]:
        errors.append(ContentError(str(path), key, text))
        return None, errors

    if not json_path.is_file() or not npy_path.is_file():
        return problem(folder, "(model)", f"missing {MODEL_JSON} or {MODEL_WEIGHTS}; run `bansou detect train`")
    try:
        header = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return problem(json_path, "(file)", f"not readable JSON: {exc}")
    if not isinstance(header, dict):
        return problem(json_path, "(file)", "must be a JSON object")
    if header.get("format") != MODEL_FORMAT:
        return problem(json_path, "format", f"model format {header.get('format')!r}, this code reads "
                       f"{MODEL_FORMAT}; run `bansou detect train`")
    if header.get("feature_version") != FEATURE_VERSION:
        return problem(json_path, "feature_version", f"trained on features v{header.get('feature_version')}, "
                       f"this code makes v{FEATURE_VERSION}; run `bansou detect train`")
    kinds = header.get("kinds")
    if kinds != list(SIGNAL_KINDS):
        return problem(json_path, "kinds", f"must be {list(SIGNAL_KINDS)}, got {kinds!r}")
    files = corpus_files(content_dir)
    if not files:
        problem(folder / CORPUS_DIR, "(folder)", "no training corpus (*.jsonl); the model cannot be checked")
    elif header.get("corpus_sha256") != corpus_hash(content_dir):
        problem(json_path, "corpus_sha256", "the training corpus changed since the model was trained; "
                "run `bansou detect train`")
    if header.get("lexicon_sha256") != lexicon_hash(content_dir):
        problem(json_path, "lexicon_sha256", "the lexicons changed since the model was trained "
                "(they are features); run `bansou detect train`")
    vocabulary = header.get("vocabulary")
    thresholds = header.get("thresholds")
    bands = header.get("crisis_bands")
    if not isinstance(vocabulary, list) or not all(isinstance(v, str) for v in vocabulary):
        problem(json_path, "vocabulary", "must be a list of feature names")
    if not isinstance(thresholds, dict) or set(thresholds) != set(SIGNAL_KINDS) or not all(
            isinstance(v, (int, float)) and 0 < v < 1 for v in thresholds.values()):
        problem(json_path, "thresholds", "must give each kind a number in (0, 1)")
    if not isinstance(bands, dict) or set(bands) != {"ambiguous", "clear"} or not all(
            isinstance(v, (int, float)) and 0 < v < 1 for v in bands.values()):
        problem(json_path, "crisis_bands", "must give 'ambiguous' and 'clear' as numbers in (0, 1)")
    if errors:
        return None, errors
    try:
        matrix = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        return problem(npy_path, "(file)", f"not a readable .npy array: {exc}")
    if matrix.dtype != np.float32 or matrix.shape != (len(vocabulary) + 1, len(SIGNAL_KINDS)):
        return problem(npy_path, "(shape)", f"expected float32 ({len(vocabulary) + 1}, {len(SIGNAL_KINDS)}), "
                       f"got {matrix.dtype} {matrix.shape}")
    if not np.isfinite(matrix).all():
        return problem(npy_path, "(values)", "weights must be finite")
    header = {k: v for k, v in header.items() if k != "vocabulary"}
    rows = {name: i for i, name in enumerate(vocabulary)}
    try:
        grams = GramTable.build(rows)
    except ValueError as exc:
        return problem(json_path, "vocabulary", f"{exc}; run `bansou detect train`")
    model = LinearModel(
        kinds=tuple(kinds), vocabulary=rows, grams=grams,
        weights=matrix[:-1], bias=matrix[-1].astype(np.float64),
        thresholds={k: float(v) for k, v in thresholds.items()},
        crisis_bands={k: float(v) for k, v in bands.items()}, header=header,
        norm_floor=int(header.get("norm_floor", 1)))
    return model, []
