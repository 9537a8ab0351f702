"""JSON from the wire, as RFC 8259 defines it.

Python's json module also reads ``NaN``, ``Infinity`` and ``-Infinity``. No platform sends them,
PostgreSQL's json type refuses them (so a stored payload with one would fail to store, and the
webhook would answer 503 for good), and they would come back out as invalid JSON."""
from __future__ import annotations

import json
import math
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A number too large for a double (``1e400``) would read as infinity: refuse it here."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def loads(data: str | bytes) -> Any:
    """``json.loads`` that refuses NaN and the infinities, written or overflowing (``1e400``);
    raises ValueError (or RecursionError)."""
    return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
