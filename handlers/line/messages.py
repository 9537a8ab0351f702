"""Replies → LINE message objects (pure): text split at LINE's limit, choices as quick replies.

LINE counts text length in UTF-16 code units (an emoji outside the BMP counts as two), so every
limit here is measured that way; a payload that fits here fits on LINE.
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from collections.abc import Iterable, Sequence
from typing import Any

from bot.crisis import is_link
from bot.types import Choice, Reply

log = logging.getLogger("bansou.line")

TEXT_LIMIT = 5000          # characters in one text message
MESSAGES_PER_REQUEST = 5   # message objects in one reply or push request
QUICK_REPLY_MAX_ITEMS = 13
QUICK_REPLY_LABEL_MAX = 20
POSTBACK_DATA_MAX = 300
DISPLAY_TEXT_MAX = 300
ELLIPSIS = "…"

# A sentence ends at 。！？!? (a run of them), or at "." followed by white space or the end, then any
# closing brackets or quotes and the white space after it; a run of newlines is a boundary too.
_SENTENCE_END = re.compile(r"""(?:[。！？!?]+|\.(?=\s|$))[」』）)\]"'”’]*[ \t\u3000]*\n*|\n+""")


def line_length(text: str) -> int:
    """Length as LINE counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _sentences(text: str) -> list[str]:
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            pieces.append(text[start:m.end()])
            start = m.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _hard_cut(text: str, limit: int) -> list[str]:
    """Cut a too-long sentence into pieces of at most ``limit`` (never inside a code point)."""
    parts, cur, cur_len = [], [], 0
    for ch in text:
        n = 2 if ord(ch) > 0xFFFF else 1
        if cur_len + n > limit:
            parts.append("".join(cur))
            cur, cur_len = [], 0
        cur.append(ch)
        cur_len += n
    if cur:
        parts.append("".join(cur))
    return parts


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` on sentence boundaries (。！？.!? and
    newlines), hard-cutting only a sentence that alone is too long. Blank text gives []."""
    return list(_split_text(text, limit))


@lru_cache(maxsize=1024)  # the same prompts and nudges go to many people
def _split_text(text: str, limit: int) -> tuple[str, ...]:
    if not text or not text.strip():
        return ()
    if line_length(text) <= limit:
        return (text,)
    chunks: list[str] = []
    cur, cur_len = "", 0

    def flush() -> None:
        nonlocal cur, cur_len
        if cur.strip():
            chunks.append(cur.rstrip())
        cur, cur_len = "", 0

    for piece in _sentences(text):
        n = line_length(piece)
        if cur_len + n <= limit:
            cur, cur_len = cur + piece, cur_len + n
            continue
        flush()
        if n <= limit:
            cur, cur_len = piece, n
            continue
        *full, rest = _hard_cut(piece, limit)
        chunks.extend(full)
        cur, cur_len = rest, line_length(rest)
    flush()
    return tuple(chunks)


@lru_cache(maxsize=1024)
def cut_label(label: str, limit: int = QUICK_REPLY_LABEL_MAX) -> str:
    """A button label within LINE's limit, ending in … when it had to be cut."""
    label = " ".join(label.split())
    if line_length(label) <= limit:
        return label
    return _hard_cut(label, limit - 1)[0].rstrip() + ELLIPSIS


def quick_reply_items(choices: Sequence[Choice]) -> list[dict[str, Any]]:
    """Quick-reply buttons for ``choices``: postbacks, or URI actions for links (at most 13; ones LINE
    would refuse are left out).

    ``displayText`` makes the tapped label appear in the chat as the user's own message."""
    items: list[dict[str, Any]] = []
    for choice in choices:
        label = cut_label(choice.label)
        if not label or not choice.value or line_length(choice.value) > POSTBACK_DATA_MAX:
            log.warning("choice left out of LINE quick reply", extra={"reason": "empty label or data too long"})
            continue
        display = _hard_cut(" ".join(choice.label.split()), DISPLAY_TEXT_MAX)[0]
        if is_link(choice.value):  # a support line: tapping calls it (tel:) or opens it
            items.append({"type": "action", "action": {"type": "uri", "label": label, "uri": choice.value}})
        else:
            items.append({"type": "action",
                          "action": {"type": "postback", "label": label, "data": choice.value, "displayText": display}})
        if len(items) == QUICK_REPLY_MAX_ITEMS:
            if len(choices) > QUICK_REPLY_MAX_ITEMS:
                log.warning("LINE quick reply cut to 13 buttons", extra={"count": len(choices)})
            break
    return items


def to_line_messages(replies: Iterable[Reply], rich_messages: dict[str, dict[str, Any]] | None = None
                     ) -> list[dict[str, Any]]:
    """LINE message objects for ``replies``, in order: text, or for item ``i`` the finished message
    ``rich_messages[str(i)]`` (a Flex card; keys are strings because they travel in JSON). A typed
    item with no finished message (Slack's App Home) is left out. The
    buttons of the last reply that has any go on the very last message (LINE shows quick replies
    only on the latest message)."""
    messages: list[dict[str, Any]] = []
    choices: tuple[Choice, ...] = ()
    for index, reply in enumerate(replies):
        rich = (rich_messages or {}).get(str(index))
        if rich is not None:
            messages.append(dict(rich))  # a Flex message for this item (a card; or a reply, its text the alt text)
        elif isinstance(reply, Reply):
            messages.extend({"type": "text", "text": chunk} for chunk in split_text(reply.text))
        if isinstance(reply, Reply) and reply.choices:
            choices = reply.choices
    if messages and choices:
        items = quick_reply_items(choices)
        if items:
            messages[-1]["quickReply"] = {"items": items}
    return messages


def batches(messages: Sequence[dict[str, Any]], size: int = MESSAGES_PER_REQUEST) -> list[list[dict[str, Any]]]:
    """Messages grouped for requests of at most ``size`` each, order kept."""
    return [list(messages[i:i + size]) for i in range(0, len(messages), size)]
