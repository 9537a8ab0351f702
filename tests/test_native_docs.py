"""The examples in docs/ are what the code sends today: the LINE Flex check-in card and trend, and
the Slack check-in modal. Regenerate with `BANSOU_WRITE_DOCS=1 pytest tests/test_native_docs.py`."""
from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from bot.content import load_content
from handlers.line import flex
from handlers.slack.home import WeekScores
from handlers.slack.modal import checkin_view

ROOT = Path(__file__).resolve().parents[1]


def _examples() -> dict[str, object]:
    content = load_content(ROOT / "content")

    def text(lang):
        return lambda mid, values=None: content.text(mid, lang, values)

    weeks = [WeekScores(date(2026, 1, 5) + (date(2026, 1, 12) - date(2026, 1, 5)) * i, c, e, b, r)
             for i, (c, e, b, r) in enumerate([(0, None, None, None), (1, 3, 2, 4), (2, 2.5, 2, 3.5), (0, None, None, None),
                                               (1, 4, 3, 4), (1, 4, 4, 5), (2, 3.5, 4, 4.5), (1, 4, 5, 5)])]
    return {
        "line-flex-checkin-ja.json": flex.checkin_summary({"energy": 4, "boundaries": 2, "client_respect": 5},
                                                          text=text("ja")),
        "line-flex-trend-en.json": flex.weekly_trend(weeks, text=text("en"),
                                                     week_label=lambda d: text("en")("line.trend.week",
                                                                                     {"date": d.strftime("%b %-d")})),
        "slack-checkin-modal-ja.json": checkin_view(content, "ja"),
        "slack-checkin-modal-en.json": checkin_view(content, "en"),
    }


@pytest.mark.parametrize("name", sorted(_examples()))
def test_docs_examples_match_the_code(name, shared_dir):
    data = _examples()[name]
    path = ROOT / "docs" / name
    rendered = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if os.environ.get("BANSOU_WRITE_DOCS"):
        path.write_text(rendered, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == rendered, f"docs/{name} is out of date"
    if name.startswith("line-"):  # and LINE would take it
        from tests.line_openapi import LineSpec

        body = json.dumps({"to": "U" + "0" * 32, "messages": [data]}).encode()
        assert LineSpec(shared_dir).request_errors(
            method="POST", path="/v2/bot/message/push", headers={"Content-Type": "application/json",
                                                                 "Authorization": "Bearer t"}, body=body) == []
