"""Replies → Slack messages (Block Kit). Pure functions; no SDK, no I/O.

All replies for one event go out as ONE message where they fit (Slack allows about one message a
second per channel, and one message reads better than a burst): a section per reply, buttons
after the reply that carries them, a header above a crisis reply. Long texts are split to stay
inside Block Kit's limits.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.crisis import is_link
from bot.delivery import replies_of
from bot.types import Reply

SECTION_MAX = 3000          # characters in a section's text
BLOCKS_MAX = 50             # blocks in a message
BUTTONS_PER_ACTIONS = 25    # elements in one actions block
BUTTON_LABEL_MAX = 75       # characters in a button's plain_text
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
HEADER_MAX = 150
FALLBACK_MAX = 3000         # the notification text; Slack truncates beyond 40k anyway
ACTION_PREFIX = "bansou."

# Channel/user mentions we put in on purpose (``<#C123>``); everything else that looks like markup is escaped.
_KEEP = re.compile(r"<[#@][A-Z0-9]+(?:\|[^<>]*)?>")

Texts = Callable[[str], str]
"""Looks up one of our Slack words (a message id in content/messages/*/slack.yaml) in the user's language."""


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage: the notification text and the blocks."""

    text: str
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """Escape &, < and > as Slack requires, keeping deliberate channel and user mentions."""
    out, pos = [], 0
    for m in _KEEP.finditer(text):
        out.append(_escape_plain(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chunks(text: str, size: int) -> list[str]:
    """Split text into pieces of at most ``size`` characters, preferring line breaks."""
    if len(text) <= size:
        return [text]
    pieces, rest = [], text
    while len(rest) > size:
        cut = rest.rfind("\n", 0, size)
        if cut < size // 2:
            cut = size
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest:
        pieces.append(rest)
    return pieces


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label: str, value: str, action_id: str, *, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "action_id": action_id,
                         "text": {"type": "plain_text", "text": _clip(label, BUTTON_LABEL_MAX), "emoji": True},
                         "value": value[:BUTTON_VALUE_MAX]}
    if style:
        b["style"] = style
    return b


def link_button(label: str, url: str, action_id: str) -> dict[str, Any]:
    """A button that opens ``url`` (Slack still sends an action without a value; it is acknowledged and dropped)."""
    return {"type": "button", "action_id": action_id, "url": url[:URL_MAX],
            "text": {"type": "plain_text", "text": _clip(label, BUTTON_LABEL_MAX), "emoji": True}}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reply_blocks(reply: Reply, *, texts: Texts, first_action: int = 0) -> list[dict[str, Any]]:
    """The blocks for one reply; button action ids are numbered from ``first_action``."""
    blocks: list[dict[str, Any]] = []
    if reply.style == "crisis":
        blocks.append({"type": "header", "text": {"type": "plain_text",
                                                   "text": _clip(texts("slack.crisis_header"), HEADER_MAX)}})
    if reply.style == "notice" and reply.text.lstrip().startswith(("{", "[")):
        # Data (the user's export): monospace, split into code blocks.
        for piece in chunks(reply.text, SECTION_MAX - 8):
            blocks.append(section("```" + _escape_plain(piece) + "```"))
    else:
        for piece in chunks(escape(reply.text), SECTION_MAX):
            blocks.append(section(piece))
    if reply.style == "crisis":
        blocks.append({"type": "divider"})
    # Links open in the browser (Slack buttons take web URLs only; a tel: number is in the text).
    choices = [c for c in reply.choices if not is_link(c.value) or c.value.startswith("https://")]
    for start in range(0, len(choices), BUTTONS_PER_ACTIONS):
        row = choices[start:start + BUTTONS_PER_ACTIONS]
        blocks.append({"type": "actions", "elements": [
            link_button(c.label, c.value, f"{ACTION_PREFIX}link.{first_action + start + i}") if is_link(c.value)
            else button(c.label, c.value, f"{ACTION_PREFIX}choice.{first_action + start + i}")
            for i, c in enumerate(row)]})
    return blocks


def render_replies(replies: Sequence[Reply], *, texts: Texts) -> list[SlackMessage]:
    """All replies of one event as as few messages as Block Kit's limits allow (usually one)."""
    messages: list[SlackMessage] = []
    blocks: list[dict[str, Any]] = []
    fallback: list[str] = []
    action_no = 0
    for reply in replies_of(replies):  # a typed item (a home view) is not a message
        rb = reply_blocks(reply, texts=texts, first_action=action_no)
        action_no += len(reply.choices)
        if blocks and len(blocks) + len(rb) > BLOCKS_MAX:
            messages.append(_message(fallback, blocks))
            blocks, fallback = [], []
        while len(rb) > BLOCKS_MAX:  # a single huge reply (a long export)
            messages.append(_message([reply.text[:FALLBACK_MAX]], rb[:BLOCKS_MAX]))
            rb = rb[BLOCKS_MAX:]
        blocks.extend(rb)
        fallback.append(reply.text)
    if blocks:
        messages.append(_message(fallback, blocks))
    return messages


def _message(fallback: list[str], blocks: list[dict[str, Any]]) -> SlackMessage:
    text = "\n".join(fallback)
    return SlackMessage(text=_clip(text, FALLBACK_MAX), blocks=blocks)


_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_BOT_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def plain_text(slack_text: str, *, strip_mention_of: str | None = None) -> str:
    """What a user wrote, from Slack's markup: links become their labels, entities are unescaped,
    and a mention of the bot (``<@Ubot>``) is removed."""
    text = slack_text or ""
    if strip_mention_of:
        text = re.sub(rf"<@{re.escape(strip_mention_of)}(?:\|[^>]*)?>", " ", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()
