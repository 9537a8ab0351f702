"""The LINE rich menu: content checked, images drawn by the project, `bansou line setup` against a
local LINE (real SDK client, every request checked against LINE's OpenAPI file), idempotent."""
from __future__ import annotations

import io
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from handlers.cli import main as bansou
from bot.errors import ContentInvalid
from handlers.line.richmenu import alias_id, image_path, load_spec, menu_request
from tests.fake_line_api import CHANNEL_SECRET, FakeLineApi
from tests.line_openapi import LineSpec

CONTENT = Path(__file__).resolve().parents[1] / "content"


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


@pytest.fixture
def line_env(monkeypatch, settings, tmp_path):
    """The environment `bansou line setup` reads, with a copy of the content we may change."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CONTENT_DIR", str(content))
    return content


def _setup(monkeypatch, fake: FakeLineApi) -> int:
    monkeypatch.setenv("LINE_CHANNEL_SECRET", CHANNEL_SECRET)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", fake.token)
    monkeypatch.setenv("LINE_API_BASE_URL", fake.url)
    return bansou(["line", "setup"])


def test_menu_areas_send_postbacks_the_engine_understands():
    from bot.content import load_content

    content = load_content(CONTENT)
    menu = load_spec(CONTENT, flows=set(content.flows), commands=set(content.commands))
    assert [a.id for a in menu.areas] == ["checkin", "boundary", "trend", "reminders", "help", "data"]
    assert {a.data for a in menu.areas} == {"go:checkin", "go:boundary", "view:trend", "go:reminders",
                                             "cmd:help", "go:privacy"}
    body = menu_request(menu, "ja", "abc")
    cells = [a["bounds"] for a in body["areas"]]
    # six cells, edge to edge, covering the whole image with no gap or overlap
    assert sum(c["width"] * c["height"] for c in cells) == menu.width * menu.height
    assert {(c["x"], c["y"]) for c in cells} == {(x, y) for x in (0, 833, 1666) for y in (0, 843)}


def test_a_broken_menu_file_names_the_file_key_and_problem(tmp_path):
    shutil.copytree(CONTENT, tmp_path / "c")
    path = tmp_path / "c" / "line" / "richmenu.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["areas"][2]["data"] = "go:no_such_flow"
    del data["areas"][0]["label"]["en"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentInvalid) as caught:
        load_spec(tmp_path / "c", flows={"checkin", "boundary", "reminders", "privacy"})
    text = str(caught.value)
    assert "line/richmenu.yaml: areas[2].data: unknown flow 'no_such_flow'" in text
    assert "line/richmenu.yaml: areas[0].label.en: missing" in text


def test_the_committed_images_are_what_render_menu_draws(tmp_path):
    """Re-draw both menus and compare with the committed PNGs (a changed label must be re-rendered)."""
    pytest.importorskip("PIL")
    from PIL import Image, ImageChops

    from handlers.line.richmenu_draw import FontMissing, find_font

    try:
        find_font()
    except FontMissing as exc:
        pytest.skip(str(exc))
    assert bansou(["line", "render-menu", "--out", str(tmp_path)]) == 0
    for lang in ("ja", "en"):
        drawn = Image.open(tmp_path / f"richmenu-{lang}.png").convert("RGB")
        committed = Image.open(image_path(CONTENT, lang)).convert("RGB")
        assert drawn.size == committed.size == (2500, 1686)
        # Font rasterisers may differ by a shade on glyph edges; a changed word differs by far more.
        diff = ImageChops.difference(drawn, committed).convert("L").point(lambda v: 255 if v > 64 else 0)
        changed = sum(diff.histogram()[255:])
        assert changed < 200, f"{lang}: {changed} pixels differ; run `bansou line render-menu` and commit"


def test_setup_creates_uploads_sets_default_and_aliases_then_a_second_run_changes_nothing(
        monkeypatch, line_env, spec, capsys, settings):
    import asyncio

    fake = FakeLineApi(validate=spec.request_errors)

    async def scenario():
        async with fake.serve():
            assert await asyncio.to_thread(_setup, monkeypatch, fake) == 0
            first = fake.changes()
            menus = dict(fake.richmenus)
            assert len(menus) == 2
            by_lang = {m["name"].split("-")[1]: mid for mid, m in menus.items()}
            assert set(by_lang) == {"ja", "en"}
            # each menu got its own image, the one committed under content/line/
            for lang, mid in by_lang.items():
                assert fake.richmenu_images[mid] == image_path(line_env, lang).read_bytes()
                assert menus[mid]["chatBarText"] == {"ja": "メニュー", "en": "Menu"}[lang]
                assert [a["action"]["data"] for a in menus[mid]["areas"]][0] == "go:checkin"
            assert fake.default_richmenu == by_lang["ja"]
            assert fake.aliases == {alias_id("ja"): by_lang["ja"], alias_id("en"): by_lang["en"]}
            assert sum(c.startswith("POST /v2/bot/richmenu/") and c.endswith("/content") for c in first) == 2

            # A second run (a redeploy with nothing changed): reads only.
            assert await asyncio.to_thread(_setup, monkeypatch, fake) == 0
            assert fake.changes() == first
            assert "up to date, nothing changed" in capsys.readouterr().out

            # Two people: one reads English and has the English menu, one Japanese (the default).
            from bot.store import repo
            from bot.store.db import Database
            from bot.types import UserKey

            db = Database(settings.database_url)
            async with db.session() as session:
                for uid, lang in (("U" + "e" * 32, "en"), ("U" + "a" * 32, "ja")):
                    await repo.create_user(session, UserKey("line", uid), language=lang, timezone="UTC",
                                           now=datetime.now(timezone.utc))
                await session.commit()
            await db.dispose()
            fake.user_richmenus["U" + "e" * 32] = by_lang["en"]

            # The English label changes: a new English menu replaces the old one; Japanese stays.
            path = line_env / "line" / "richmenu.yaml"
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            data["areas"][4]["label"]["en"] = "Help & tips"
            path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            assert await asyncio.to_thread(_setup, monkeypatch, fake) == 0
            assert by_lang["en"] not in fake.richmenus and by_lang["ja"] in fake.richmenus
            [new_en] = [mid for mid, m in fake.richmenus.items() if m["name"].startswith("bansou-en-")]
            assert fake.richmenus[new_en]["areas"][4]["action"]["label"] == "Help & tips"
            assert fake.aliases[alias_id("en")] == new_en
            assert fake.default_richmenu == by_lang["ja"]
            # the English reader keeps an English menu (deleting the old one unlinked them)
            assert fake.user_richmenus == {"U" + "e" * 32: new_en}
        assert fake.violations == []

    await_result = asyncio.run(scenario())
    assert await_result is None


def test_setup_with_line_off_says_so_and_does_nothing(monkeypatch, line_env, capsys):
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert bansou(["line", "setup"]) == 0
    assert "LINE is off" in capsys.readouterr().out


def test_images_fit_line_limits():
    from PIL import Image

    for lang in ("ja", "en"):
        data = image_path(CONTENT, lang).read_bytes()
        assert len(data) <= 1024 * 1024
        assert Image.open(io.BytesIO(data)).size == (2500, 1686)
