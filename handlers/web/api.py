"""The web chat's HTTP surface: the page at ``GET /``, its static assets, and a small JSON API.

    GET  /                      the chat page (language: the visitor's setting, else Accept-Language)
    GET  /web/static/...        CSS, JS, icon (served locally; the page makes no other requests)
    GET  /api/session           {"known", "language", "state", "crisis_paused", "visitor_ref", ...}
    POST /api/start             {} or {"language"}: a new visitor's "follow" (starts onboarding)
    POST /api/message           {"text": ...} or {"choice": ...} → {"state", "language", "replies", "signals"}
    GET  /api/trend?weeks=12    check-in scores and pattern counts per week (numbers and kinds only)
    GET  /api/messages?after=N  messages pushed while away (reminders); acknowledges those up to N
    POST /api/timezone          {"timezone": IANA name, "chosen": bool}: the visitor's time zone for reminders

Every ``/api`` request must be same-origin (Origin / Sec-Fetch-Site when the browser sends them);
POSTs must be ``application/json``. Bad input gets a 4xx ``{"error": reason}``, never a 5xx.
The server keeps no transcript: the page keeps the visible conversation in sessionStorage.
"""
from __future__ import annotations

import hashlib
import html
import json
import logging
import uuid
from functools import wraps
from pathlib import Path
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.runtime import Runtime
from bot.service import Outcome
from bot.store import repo
from bot.types import Inbound, Reply, UserKey
from handlers.web import trend as trend_mod
from handlers.web.identity import COOKIE_MAX_AGE, COOKIE_NAME, Visitor, VisitorCookies
from handlers.web.outbox import PLATFORM, fetch_pending
from handlers.web.validate import (
    MAX_BODY_BYTES,
    MAX_CHOICE_CHARS,
    MAX_TEXT_CHARS,
    BadRequest,
    check_content_type,
    check_same_origin,
    parse_int_param,
    parse_json_object,
    parse_message,
    parse_start,
    parse_timezone,
    pick_language,
)

log = logging.getLogger("bansou.web")
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
PAGE_TEMPLATE = HERE / "page.html"
STATIC_PREFIX = "/web/static"
POLL_SECONDS = 30
TREND_WEEKS = 12
STRING_PREFIX = "web."
TZ_CHOSEN = "timezone_chosen"  # in platform_meta: the visitor picked their zone by hand

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request], Awaitable[Response]]


def visitor_ref(visitor_id: str) -> str:
    """A one-way tag for the page to know whether its saved transcript belongs to this identity."""
    return hashlib.blake2b(visitor_id.encode(), digest_size=8, person=b"bansou-ref").hexdigest()


def reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "id": reply.message_id,
        "text": reply.text,
        "style": reply.style,
        "choices": [{"label": c.label, "value": c.value} for c in reply.choices],
        "evidence": [{"kind": s.kind, "evidence": s.evidence, "start": s.start, "end": s.end} for s in reply.evidence],
    }


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=SECURITY_HEADERS)


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


class WebChat:
    """The web adapter: turns page requests into ``Inbound``s for the coach and replies into JSON."""

    def __init__(self, runtime: Runtime):
        from handlers.web.ratelimit import RateLimiter

        self.runtime = runtime
        self.cookies = VisitorCookies(runtime.db, configured_secret=runtime.settings.web_cookie_secret,
                                      clock=runtime.clock)
        self.limiter = RateLimiter(runtime.settings.web_rate_per_minute)
        self._page: str | None = None
        self._asset_version: str | None = None

    # -- plumbing --------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.page, methods=["GET"]),
            Mount(STATIC_PREFIX, app=StaticFiles(directory=STATIC_DIR), name="web-static"),
            Route("/api/session", self.api(self.session), methods=["GET"]),
            Route("/api/start", self.api(self.start), methods=["POST"]),
            Route("/api/message", self.api(self.message), methods=["POST"]),
            Route("/api/trend", self.api(self.trend), methods=["GET"]),
            Route("/api/messages", self.api(self.messages), methods=["GET"]),
            Route("/api/timezone", self.api(self.timezone), methods=["POST"]),
        ]

    def api(self, handler: Callable[[Request, Visitor], Awaitable[Response]]) -> Handler:
        """Wrap an API handler: origin checks, the visitor cookie, and errors as JSON."""

        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            try:
                h = request.headers
                check_same_origin(origin=h.get("origin"), host=h.get("host"),
                                  forwarded_host=h.get("x-forwarded-host"), fetch_site=h.get("sec-fetch-site"))
                if request.method == "POST":
                    check_content_type(h.get("content-type"))
                visitor = await self.cookies.read(request.cookies.get(COOKIE_NAME))
                wait = self.limiter.take(self._client_key(request, visitor))
                if wait:
                    from handlers.web.ratelimit import retry_after_header

                    log.info("web request rate limited", extra={"path": request.url.path, "status": 429})
                    return JSONResponse({"error": "too many requests; please wait a moment"}, status_code=429,
                                        headers={**SECURITY_HEADERS, "Retry-After": retry_after_header(wait)})
                response = await handler(request, visitor)
            except BadRequest as exc:
                log.info("web request refused", extra={"path": request.url.path, "status": exc.status,
                                                       "reason": exc.reason})
                return _json({"error": exc.reason}, exc.status)
            except Exception:  # noqa: BLE001 - a bug must still answer in JSON, without details
                log.exception("web request failed", extra={"path": request.url.path})
                return _json({"error": "internal error; please try again"}, 500)
            if visitor.fresh and not getattr(response, "_identity_cleared", False):
                await self.set_cookie(response, request, visitor.id)
            return response

        return endpoint

    @staticmethod
    def _client_key(request: Request, visitor: Visitor) -> tuple[str, str]:
        """Whose bucket: the visitor's when their cookie verified; else the address's (a client that
        drops its cookie to get a fresh identity each time shares one bucket)."""
        if not visitor.fresh:
            return ("visitor", visitor.id)
        return ("address", request.client.host if request.client else "-")

    async def set_cookie(self, response: Response, request: Request, visitor_id: str) -> None:
        response.set_cookie(COOKIE_NAME, await self.cookies.sign(visitor_id), max_age=COOKIE_MAX_AGE, path="/",
                            httponly=True, samesite="lax", secure=_is_https(request))

    @staticmethod
    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isascii() or not length.isdigit():
                raise BadRequest(400, "Content-Length is not a number")
            if int(length) > MAX_BODY_BYTES:
                raise BadRequest(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BadRequest(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def default_language(self, request: Request) -> str:
        return pick_language(request.headers.get("accept-language"),
                             default=self.runtime.settings.default_language)

    async def _user(self, visitor: Visitor):
        if visitor.fresh:
            return None
        async with self.runtime.db.session() as session:
            return await repo.get_user(session, UserKey(PLATFORM, visitor.id))

    # -- the page ---------------------------------------------------------------------------
    def strings(self) -> dict[str, dict[str, str]]:
        """Every ``web.*`` message in both languages, keyed without the prefix."""
        out: dict[str, dict[str, str]] = {"ja": {}, "en": {}}
        for mid, msg in self.runtime.content.messages.items():
            if mid.startswith(STRING_PREFIX):
                for lang in out:
                    out[lang][mid[len(STRING_PREFIX):]] = msg.text[lang]
        return out

    def asset_version(self) -> str:
        if self._asset_version is None:
            digest = hashlib.blake2b(digest_size=6)
            for path in sorted(STATIC_DIR.rglob("*")):
                if path.is_file():
                    digest.update(path.name.encode())
                    digest.update(path.read_bytes())
            self._asset_version = digest.hexdigest()
        return self._asset_version

    async def page(self, request: Request) -> Response:
        visitor = await self.cookies.read(request.cookies.get(COOKIE_NAME))
        user = await self._user(visitor)
        lang = user.language if user is not None else self.default_language(request)
        strings = self.strings()
        if self._page is None:
            self._page = PAGE_TEMPLATE.read_text(encoding="utf-8")
        config = {"strings": strings, "language": lang, "limits": {"text": MAX_TEXT_CHARS, "choice": MAX_CHOICE_CHARS},
                  "pollSeconds": POLL_SECONDS}
        # JSON inside <script type="application/json">: escape what could close the element.
        config_json = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e") \
            .replace("&", "\\u0026")
        s = strings[lang]
        body = (self._page
                .replace("{{lang}}", lang)
                .replace("{{title}}", html.escape(s.get("title", "bansou")))
                .replace("{{noscript}}", html.escape(s.get("noscript", "")))
                .replace("{{static}}", STATIC_PREFIX)
                .replace("{{version}}", self.asset_version())
                .replace("{{config}}", config_json))
        response = HTMLResponse(body, headers=SECURITY_HEADERS)
        if visitor.fresh:
            await self.set_cookie(response, request, visitor.id)
        return response

    # -- the API ----------------------------------------------------------------------------
    async def session(self, request: Request, visitor: Visitor) -> Response:
        user = await self._user(visitor)
        state = "idle"
        if user is not None:
            async with self.runtime.db.session() as session:
                convo = await repo.load_convo(session, user.id)
            if convo is not None and convo.expires_at > self.runtime.clock():
                state = convo.label
        response = _json({
            "known": user is not None,
            "new_identity": visitor.fresh,
            "visitor_ref": visitor_ref(visitor.id),
            "language": user.language if user is not None else self.default_language(request),
            "state": state,
            "crisis_paused": bool(user is not None and user.crisis_paused_at is not None),
            "poll_seconds": POLL_SECONDS,
            "timezone": user.timezone if user is not None else self.runtime.settings.default_timezone,
            "timezone_chosen": bool(user is not None and (user.platform_meta or {}).get(TZ_CHOSEN)),
        })
        if not visitor.fresh:  # slide the expiry forward on each visit
            await self.set_cookie(response, request, visitor.id)
        return response

    async def start(self, request: Request, visitor: Visitor) -> Response:
        lang = parse_start(parse_json_object(await self.read_body(request))) or self.default_language(request)
        if await self._user(visitor) is not None:
            return _json({"started": False, "state": None, "language": None, "replies": [], "signals": [],
                          "visitor_ref": visitor_ref(visitor.id)})
        outcome = await self.runtime.coach.handle(Inbound(
            user=UserKey(PLATFORM, visitor.id), kind="follow", received_at=self.runtime.clock(),
            event_id=str(uuid.uuid4()), lang_hint=lang))
        return self._outcome(outcome, visitor, started=True)

    async def message(self, request: Request, visitor: Visitor) -> Response:
        msg = parse_message(parse_json_object(await self.read_body(request)))
        key = UserKey(PLATFORM, visitor.id)
        common = dict(user=key, received_at=self.runtime.clock(), event_id=str(uuid.uuid4()),
                      lang_hint=self.default_language(request))
        if msg.text is not None:
            inbound = Inbound(kind="text", text=msg.text, **common)
        else:
            inbound = Inbound(kind="choice", choice=msg.choice, **common)
        outcome = await self.runtime.coach.handle(inbound)
        return self._outcome(outcome, visitor)

    def _outcome(self, outcome: Outcome, visitor: Visitor, **extra: Any) -> Response:
        deleted = outcome.user_id is None and any(e.name == "delete_data" for e in outcome.effects)
        response = _json({
            **extra,
            "state": outcome.state,
            "language": outcome.language,
            "replies": [reply_json(r) for r in outcome.replies],
            "signals": [{"kind": s.kind, "evidence": s.evidence, "start": s.start, "end": s.end}
                        for s in outcome.signals],
            "deleted": deleted,
            "visitor_ref": None if deleted else visitor_ref(visitor.id),
        })
        if deleted:
            # Everything about this visitor is gone; forget the identity too.
            response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
            response._identity_cleared = True  # type: ignore[attr-defined]
        return response

    async def timezone(self, request: Request, visitor: Visitor) -> Response:
        """Store the visitor's time zone: the browser's own, or one they chose (which the browser's
        then no longer overrides). Reminders are planned in it from the next dispatch on."""
        tz_name, chosen = parse_timezone(parse_json_object(await self.read_body(request)))
        async with self.runtime.db.session() as session:
            user = await repo.get_user(session, UserKey(PLATFORM, visitor.id))
            if user is None:
                raise BadRequest(409, "start a conversation first")
            meta = dict(user.platform_meta or {})
            if chosen or not meta.get(TZ_CHOSEN):
                user.timezone = tz_name
                meta[TZ_CHOSEN] = bool(chosen or meta.get(TZ_CHOSEN))
                user.platform_meta = meta
            await session.commit()
            return _json({"timezone": user.timezone, "timezone_chosen": bool(meta.get(TZ_CHOSEN))})

    async def trend(self, request: Request, visitor: Visitor) -> Response:
        weeks = parse_int_param(request.query_params.get("weeks"), name="weeks", default=TREND_WEEKS, low=1, high=104)
        user = await self._user(visitor)
        now = self.runtime.clock()
        tz_name = user.timezone if user is not None else self.runtime.settings.default_timezone
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            tz = ZoneInfo(self.runtime.settings.default_timezone)
        checkins: list[trend_mod.CheckinPoint] = []
        signals: list[trend_mod.SignalPoint] = []
        if user is not None:
            since = trend_mod.window_start(now, tz=tz, weeks=weeks)
            async with self.runtime.db.session() as session:
                checkins = [trend_mod.CheckinPoint(c.at, c.energy, c.boundaries, c.client_respect)
                            for c in await repo.checkins_since(session, user.id, since)]
                signals = [trend_mod.SignalPoint(s.at, s.kind) for s in await repo.signals_since(session, user.id, since)]
        return _json(trend_mod.summarise(checkins, signals, tz=tz, now=now, weeks=weeks))

    async def messages(self, request: Request, visitor: Visitor) -> Response:
        after = parse_int_param(request.query_params.get("after"), name="after", default=0, low=0, high=2**62)
        user = await self._user(visitor)
        if user is None:
            return _json({"messages": []})
        async with self.runtime.db.session() as session:
            pending = await fetch_pending(session, user.id, after=after)
            await session.commit()
        out = []
        for item in pending:
            r = item["reply"]
            out.append({"id": item["id"], "at": item["at"], "reply": {
                "id": r.get("message_id"), "text": r.get("text", ""), "style": r.get("style", "normal"),
                "choices": [{"label": c[0], "value": c[1]} for c in r.get("choices", [])],
                "evidence": [{k: s.get(k) for k in ("kind", "evidence", "start", "end")} for s in r.get("evidence", [])],
            }})
        return _json({"messages": out})
