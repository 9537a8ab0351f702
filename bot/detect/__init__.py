"""Detectors: notice overwork, people-pleasing, controlling, over-helping, resentment and crisis
in what a user writes, with the span of text that shows it.

Analysis choice — regular expressions over NFKC-folded text, not a morphological analyser.
See ``bot/detect/ANALYSIS.md`` for the measurements behind it.
"""
from bot.detect.detector import Detector, load_detector
from bot.detect.lexicon import validate_lexicons
from bot.detect.normalise import guess_language

__all__ = ["Detector", "load_detector", "guess_language", "validate_lexicons"]
