"""``bansou line setup`` and ``bansou line render-menu`` (registered by ``handlers/cli.py``)."""
from __future__ import annotations

import sys
from pathlib import Path


def _spec(settings):
    from handlers.line.richmenu import load_spec

    from bot.content import load_content

    content = load_content(settings.content_dir)
    return load_spec(settings.content_dir, flows=set(content.flows), commands=set(content.commands))


def run_render(args) -> int:
    """Draw each language's rich menu image into CONTENT_DIR/line/ (needs Pillow and a Japanese font)."""
    from bot.settings import load_settings
    from handlers.line.richmenu import image_path
    from handlers.line.richmenu_draw import FontMissing, find_font, render

    settings = load_settings()
    spec = _spec(settings)
    try:
        font = find_font(args.font)
    except FontMissing as exc:
        print(f"bansou: {exc}", file=sys.stderr)
        return 1
    out_dir = Path(args.out) if args.out else None
    for lang in sorted(spec.chat_bar):
        png = render(spec, lang, font_path=font)
        path = (out_dir / f"richmenu-{lang}.png") if out_dir else image_path(settings.content_dir, lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        print(f"{path}: {spec.width}x{spec.height}, {len(png)} bytes")
    return 0


async def run_setup(args) -> int:
    """Create or update the rich menus on LINE; prints what changed (nothing on a second run)."""
    from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

    from bot.settings import load_settings
    from handlers.line.richmenu_setup import data_api_host, setup_rich_menus

    settings = load_settings()
    settings.check()
    if not settings.line_enabled:
        print("bansou line setup: LINE is off (LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN unset); nothing to do")
        return 0
    spec = _spec(settings)
    config = Configuration(host=settings.line_api_base_url.rstrip("/"),
                           access_token=settings.line_channel_access_token)
    from sqlalchemy import select

    from bot.store.db import Database
    from bot.store.models import User

    db = Database(settings.database_url)

    async def users_of(lang: str) -> list[str]:
        async with db.session() as session:
            return list((await session.execute(select(User.platform_user_id).where(
                User.platform == "line", User.language == lang, User.active.is_(True)))).scalars())

    try:
        async with AsyncApiClient(config) as client:
            report = await setup_rich_menus(AsyncMessagingApi(client), spec, settings.content_dir,
                                            data_host=data_api_host(settings.line_api_base_url), users_of=users_of)
    finally:
        await db.dispose()
    if not report.changed:
        print("LINE rich menus: up to date, nothing changed")
    for name in report.created:
        print(f"created rich menu {name}")
    for alias in report.aliases:
        print(f"alias {alias} now points at the current menu")
    if report.default:
        print(f"default rich menu set ({spec.default_language})")
    for lang, n in report.relinked.items():
        print(f"{n} {lang} user(s) linked to the new {lang} menu")
    for name in report.deleted:
        print(f"deleted old rich menu {name}")
    return 0
