"""``bansou line setup``: create or update the rich menus on LINE, idempotently; and linking a user
to their language's menu.

For each language the menu's name carries a digest of its definition and image
(``bansou-ja-<digest>``). A run:
1. creates a menu (and uploads its image) only when no menu of that name exists yet;
2. points the alias ``bansou-<lang>`` at the current menu (created, or updated when it moved);
3. sets the default language's menu as the default when it is not already;
4. links the people of another language to their new menu when it changed (deleting the old menu
   would otherwise drop them back to the default), 500 at a time;
5. deletes menus of ours (``bansou-`` names) that are no longer current.
A second run with nothing changed makes no change on LINE (only reads).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from linebot.v3.messaging import (
    AsyncMessagingApi, CreateRichMenuAliasRequest, RichMenuBulkLinkRequest, RichMenuRequest, UpdateRichMenuAliasRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from handlers.line.richmenu import (
    NAME_PREFIX, RichMenuSpec, alias_id, content_hash, image_path, menu_name, menu_request,
)

log = logging.getLogger("bansou.line")
TIMEOUT = aiohttp.ClientTimeout(total=30.0)
DEFAULT_API = "https://api.line.me"
DEFAULT_DATA_API = "https://api-data.line.me"
ALIAS_TTL_SECONDS = 600.0
BULK_LINK_MAX = 500


def data_api_host(api_base_url: str) -> str:
    """Where LINE's blob endpoints (image upload) live: api-data.line.me for the real platform, the
    same base URL for a local or staging stand-in (LINE_API_BASE_URL)."""
    base = api_base_url.rstrip("/")
    return DEFAULT_DATA_API if base == DEFAULT_API else base


@dataclass
class SetupReport:
    """What a run changed on LINE (empty lists: nothing changed)."""

    created: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    default: str | None = None
    deleted: list[str] = field(default_factory=list)
    menus: dict[str, str] = field(default_factory=dict)  # language -> current rich menu id
    relinked: dict[str, int] = field(default_factory=dict)  # language -> people linked to its new menu

    @property
    def changed(self) -> bool:
        return bool(self.created or self.aliases or self.default or self.deleted)


def _not_found(exc: ApiException) -> bool:
    return exc.status == 404


async def setup_rich_menus(api: AsyncMessagingApi, spec: RichMenuSpec, content_dir: Path, *,
                           data_host: str, users_of=None) -> SetupReport:
    """Bring LINE's rich menus in line with ``spec`` and the images under ``content_dir``.
    ``users_of(lang)`` (async) gives the LINE user ids whose language is ``lang``."""
    report = SetupReport()
    languages = sorted(spec.chat_bar)
    images = {lang: image_path(content_dir, lang).read_bytes() for lang in languages}
    existing = {m.name: m.rich_menu_id for m in (await api.get_rich_menu_list(_request_timeout=TIMEOUT)).richmenus}
    for lang in languages:
        digest = content_hash(spec, lang, images[lang])
        name = menu_name(lang, digest)
        menu_id = existing.get(name)
        if menu_id is None:
            body = menu_request(spec, lang, digest)
            menu_id = (await api.create_rich_menu(RichMenuRequest.from_dict(body),
                                                  _request_timeout=TIMEOUT)).rich_menu_id
            await upload_image(api, menu_id, images[lang], data_host=data_host)
            existing[name] = menu_id
            report.created.append(name)
            log.info("LINE rich menu created", extra={"menu": name})
        report.menus[lang] = menu_id
    aliases = {a.rich_menu_alias_id: a.rich_menu_id
               for a in (await api.get_rich_menu_alias_list(_request_timeout=TIMEOUT)).aliases}
    for lang, menu_id in report.menus.items():
        alias = alias_id(lang)
        if alias not in aliases:
            await api.create_rich_menu_alias(CreateRichMenuAliasRequest(rich_menu_alias_id=alias, rich_menu_id=menu_id),
                                             _request_timeout=TIMEOUT)
            report.aliases.append(alias)
        elif aliases[alias] != menu_id:
            await api.update_rich_menu_alias(alias, UpdateRichMenuAliasRequest(rich_menu_id=menu_id),
                                             _request_timeout=TIMEOUT)
            report.aliases.append(alias)
    default_id = report.menus[spec.default_language]
    try:
        current_default = (await api.get_default_rich_menu_id(_request_timeout=TIMEOUT)).rich_menu_id
    except ApiException as exc:
        if not _not_found(exc):
            raise
        current_default = None
    if current_default != default_id:
        await api.set_default_rich_menu(default_id, _request_timeout=TIMEOUT)
        report.default = default_id
    moved = {alias.rsplit("-", 1)[1] for alias in report.aliases}
    for lang in sorted(moved - {spec.default_language}):
        if users_of is None:
            continue
        users = list(await users_of(lang))
        for start in range(0, len(users), BULK_LINK_MAX):
            await api.link_rich_menu_id_to_users(RichMenuBulkLinkRequest(
                richMenuId=report.menus[lang], userIds=users[start:start + BULK_LINK_MAX]), _request_timeout=TIMEOUT)
        report.relinked[lang] = len(users)
    current = set(report.menus.values())
    for name, menu_id in existing.items():
        if name.startswith(f"{NAME_PREFIX}-") and menu_id not in current:
            await api.delete_rich_menu(menu_id, _request_timeout=TIMEOUT)
            report.deleted.append(name)
            log.info("LINE rich menu replaced", extra={"menu": name})
    return report


async def upload_image(api: AsyncMessagingApi, menu_id: str, png: bytes, *, data_host: str) -> None:
    """``POST /v2/bot/richmenu/{id}/content`` on the data host, through the SDK's client (its
    generated blob call has api-data.line.me built in, so a local stand-in could not be reached)."""
    await api.api_client.call_api(
        "/v2/bot/richmenu/{richMenuId}/content", "POST", {"richMenuId": menu_id}, [],
        {"Content-Type": "image/png"}, body=png, post_params=[], files={}, response_types_map={},
        auth_settings=["Bearer"], _return_http_data_only=True, _preload_content=True,
        _request_timeout=TIMEOUT, _host=data_host, collection_formats={})


class MenuLinker:
    """Links a user to their language's rich menu (found through its alias, cached a while)."""

    def __init__(self, api_of, *, ttl: float = ALIAS_TTL_SECONDS, clock=time.monotonic):
        self._api_of = api_of  # () -> AsyncMessagingApi
        self.ttl = ttl
        self.clock = clock
        self._menus: dict[str, tuple[float, str | None]] = {}

    async def menu_for(self, lang: str) -> str | None:
        hit = self._menus.get(lang)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        try:
            menu_id = (await self._api_of().get_rich_menu_alias(alias_id(lang), _request_timeout=TIMEOUT)).rich_menu_id
        except ApiException as exc:
            if not _not_found(exc):
                raise
            menu_id = None  # `bansou line setup` has not run: nothing to link
        self._menus[lang] = (self.clock() + self.ttl, menu_id)
        return menu_id

    async def link(self, user_id: str, lang: str) -> bool:
        """Show ``user_id`` the menu in ``lang``; False when there is none or LINE refused."""
        try:
            menu_id = await self.menu_for(lang)
            if menu_id is None:
                return False
            await self._api_of().link_rich_menu_id_to_user(user_id, menu_id, _request_timeout=TIMEOUT)
        except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("LINE rich menu link failed", extra={"error": type(exc).__name__,
                                                            "status": getattr(exc, "status", None)})
            return False
        return True
