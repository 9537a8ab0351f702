"""Errors the core raises with enough context for an operator to act on."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ContentError:
    """One problem in a content file: which file, which key, what is wrong."""

    file: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"


class ContentInvalid(Exception):
    """Raised when content fails validation; carries every problem found."""

    def __init__(self, errors: list[ContentError]):
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"content is invalid ({len(errors)} problem(s)):\n{lines}")


class ConfigError(Exception):
    """Raised when the environment is half-configured; the message is one line for the operator."""
