"""A stand-in for the LINE Messaging API on 127.0.0.1, for tests and the benchmark.

It behaves as LINE documents: a reply token works once (then, or when expired, 400 "Invalid
reply token"); a push whose X-Line-Retry-Key was already accepted gets 409; profiles come from
``profiles``. Tests script failures with ``fail(...)``. Every request is recorded and, when a
``validate`` callable is given, checked (problems go to ``violations`` and get LINE's 400).
``hold()`` makes reply calls wait (their arrival counted in ``arrived_replies``) until ``release()``,
to catch a process with a send in flight. It runs in the test's loop (``async with fake.serve()``)
or in a thread of its own (``with FakeLineApi() as fake:``, for tests that drive ``bansou`` processes).
This is the one LINE fake: in-process tests, process tests and the benchmarks all use it.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

QUOTA_MESSAGE = "You have reached your monthly limit."
Validator = Callable[..., list[str]]


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    after: Any = None  # a failure to answer with after doing the work


@dataclass
class Sent:
    """Messages the fake accepted: by ``via`` reply (``token``) or push (``to``)."""

    via: str
    to: str | None
    token: str | None
    retry_key: str | None
    messages: list[dict[str, Any]]
    at: float = field(default_factory=time.monotonic)

    @property
    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.messages]

    @property
    def quick_replies(self) -> list[dict[str, Any]]:
        last = self.messages[-1] if self.messages else {}
        return [item["action"] for item in (last.get("quickReply") or {}).get("items", [])]


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    accept: bool = False  # do the work, then answer with the failure (a lost response)


class FakeLineApi:
    """The fake's state and its ASGI app; run it with ``serve()`` (same loop) or ``start_thread()``."""

    def __init__(self, *, validate: Validator | None = None, token: str = "test-access-token"):
        self.validate = validate
        self.token = token
        self.requests: list[Recorded] = []
        self.sent: list[Sent] = []
        self.violations: list[str] = []
        self.profiles: dict[str, dict[str, Any]] = {}
        self.expired_tokens: set[str] = set()
        self.used_tokens: set[str] = set()
        self.accepted_retry_keys: set[str] = set()
        self.token_owner: dict[str, str] = {}
        self._failures: dict[str, deque[Failure]] = {}
        self._lock = threading.RLock()  # _answer records refusals while handlers hold it
        self.url = ""
        # Rich menus, aliases, the default menu and per-user links, as LINE keeps them.
        self.richmenus: dict[str, dict[str, Any]] = {}
        self.richmenu_images: dict[str, bytes] = {}
        self.aliases: dict[str, str] = {}
        self.default_richmenu: str | None = None
        self.user_richmenus: dict[str, str] = {}
        self.loading: list[dict[str, Any]] = []  # showLoadingAnimation bodies, in order
        # Every reply or push call as it arrived: ("reply", reply token) or ("push", to).
        self.attempts: list[tuple[str, str | None]] = []
        self.rejected: list[tuple[str, int, str]] = []  # (path, status, message): replies and pushes refused
        self.arrived_replies = 0
        self._hold = threading.Event()
        self._stop_thread: Callable[[], None] | None = None
        # Message quota: ``quota`` None means "none" (no limit); pushes add to ``quota_used``.
        self.quota: int | None = None
        self.quota_used = 0
        self.app = Starlette(routes=[
            Route("/v2/bot/message/reply", self._reply, methods=["POST"]),
            Route("/v2/bot/message/push", self._push, methods=["POST"]),
            Route("/v2/bot/profile/{user_id}", self._profile, methods=["GET"]),
            Route("/v2/bot/chat/loading/start", self._loading, methods=["POST"]),
            Route("/v2/bot/message/quota", self._quota, methods=["GET"]),
            Route("/v2/bot/message/quota/consumption", self._quota_consumption, methods=["GET"]),
            Route("/v2/bot/richmenu", self._create_richmenu, methods=["POST"]),
            Route("/v2/bot/richmenu/list", self._list_richmenus, methods=["GET"]),
            Route("/v2/bot/richmenu/bulk/link", self._bulk_link, methods=["POST"]),
            Route("/v2/bot/richmenu/alias", self._create_alias, methods=["POST"]),
            Route("/v2/bot/richmenu/alias/list", self._list_aliases, methods=["GET"]),
            Route("/v2/bot/richmenu/alias/{alias_id}", self._alias, methods=["GET", "POST", "DELETE"]),
            Route("/v2/bot/richmenu/{menu_id}/content", self._richmenu_image, methods=["POST"]),
            Route("/v2/bot/richmenu/{menu_id}", self._richmenu, methods=["GET", "DELETE"]),
            Route("/v2/bot/user/all/richmenu/{menu_id}", self._set_default, methods=["POST"]),
            Route("/v2/bot/user/all/richmenu", self._default, methods=["GET", "DELETE"]),
            Route("/v2/bot/user/{user_id}/richmenu/{menu_id}", self._link, methods=["POST"]),
            Route("/v2/bot/user/{user_id}/richmenu", self._user_menu, methods=["GET", "DELETE"]),
        ])

    # ---- scripting --------------------------------------------------------
    def fail(self, endpoint: str, status: int, *, message: str = "error", times: int = 1,
             headers: dict[str, str] | None = None, accept: bool = False) -> None:
        """Answer the next ``times`` calls to ``endpoint`` ("reply", "push", "profile") with ``status``;
        with ``accept`` the request is carried out first (the answer is what gets lost)."""
        queue = self._failures.setdefault(endpoint, deque())
        for _ in range(times):
            queue.append(Failure(status, {"message": message}, dict(headers or {}), accept))

    def issue_reply_token(self, chat_id: str) -> str:
        """A reply token for an event from ``chat_id`` (a user, group or room id), as LINE issues one."""
        token = uuid.uuid4().hex
        with self._lock:
            self.token_owner[token] = chat_id
        return token

    def hold(self) -> None:
        """Make reply calls wait (their arrival is counted) until ``release()``."""
        self._hold.set()

    def release(self) -> None:
        self._hold.clear()

    def changes(self) -> list[str]:
        """Every request that changed something on LINE's side (not GETs), as "METHOD path"."""
        with self._lock:
            return [f"{r.method} {r.path}" for r in self.requests if r.method != "GET" and 200 <= r.status < 300]

    def sent_to(self, chat_id: str) -> list[Sent]:
        """Every accepted request for ``chat_id``: pushes to it and replies with its tokens."""
        with self._lock:
            return [s for s in self.sent if s.to == chat_id]

    def texts_to(self, chat_id: str) -> list[str]:
        """The texts ``chat_id`` has received, in order."""
        return [t for s in self.sent_to(chat_id) for t in s.texts]

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
        """Poll until ``predicate()`` holds; raise AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; sent so far: "
                                     f"{[s.texts for s in self.sent]}; rejected: {self.rejected[-5:]}")
            await asyncio.sleep(0.01)

    # ---- handlers ---------------------------------------------------------
    async def _record(self, request: Request, endpoint: str) -> tuple[Recorded, Response | None]:
        raw = await request.body()
        if raw and "json" in request.headers.get("content-type", ""):
            body = json.loads(raw)
        else:
            body = raw or None
        rec = Recorded(request.method, request.url.path, dict(request.headers), body)
        with self._lock:
            self.requests.append(rec)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return rec, self._answer(rec, 401, {"message": "Authentication failed"})
        if self.validate is not None:
            problems = self.validate(method=request.method, path=request.url.path,
                                     headers=dict(request.headers), body=raw or None)
            if problems:
                with self._lock:
                    self.violations.extend(f"{request.method} {request.url.path}: {p}" for p in problems)
                return rec, self._answer(rec, 400, {"message": "The request body has 1 error(s)",
                                                    "details": [{"message": p} for p in problems]})
        queue = self._failures.get(endpoint)
        if queue:
            f = queue.popleft()
            if f.accept:
                rec.after = self._answer(rec, f.status, f.body, f.headers)
                return rec, None
            return rec, self._answer(rec, f.status, f.body, f.headers)
        return rec, None

    def _answer(self, rec: Recorded, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        rec.status = status
        if status >= 400 and rec.path.startswith("/v2/bot/message/"):  # a reply or push refused
            with self._lock:
                self.rejected.append((rec.path, status, str(body.get("message", ""))))
        return JSONResponse(body, status_code=status, headers=headers)

    async def _reply(self, request: Request) -> Response:
        with self._lock:
            self.arrived_replies += 1
        while self._hold.is_set():
            await asyncio.sleep(0.02)
        rec, early = await self._record(request, "reply")
        with self._lock:
            self.attempts.append(("reply", rec.body.get("replyToken") if isinstance(rec.body, dict) else None))
        if early is not None:
            return early
        token = rec.body["replyToken"]
        with self._lock:
            if token in self.used_tokens or token in self.expired_tokens:
                return self._answer(rec, 400, {"message": "Invalid reply token"})
            if token not in self.token_owner:
                return self._answer(rec, 400, {"message": "Invalid reply token"})
            self.used_tokens.add(token)
            self.sent.append(Sent("reply", self.token_owner[token], token, None, rec.body["messages"]))
        if rec.after is not None:
            return rec.after
        return self._answer(rec, 200, {"sentMessages": [{"id": str(uuid.uuid4().int)[:18]} for _ in rec.body["messages"]]})

    async def _push(self, request: Request) -> Response:
        rec, early = await self._record(request, "push")
        with self._lock:
            self.attempts.append(("push", rec.body.get("to") if isinstance(rec.body, dict) else None))
        if early is not None:
            return early
        key = request.headers.get("x-line-retry-key")
        with self._lock:
            if key and key in self.accepted_retry_keys:
                return self._answer(rec, 409, {"message": "The retry key is already accepted"},
                                    {"x-line-accepted-request-id": str(uuid.uuid4())})
            if key:
                self.accepted_retry_keys.add(key)
            self.sent.append(Sent("push", rec.body["to"], None, key, rec.body["messages"]))
            self.quota_used += 1  # LINE counts a push once per recipient, whatever it holds
        if rec.after is not None:
            return rec.after
        return self._answer(rec, 200, {"sentMessages": [{"id": str(uuid.uuid4().int)[:18]} for _ in rec.body["messages"]]})

    async def _profile(self, request: Request) -> Response:
        rec, early = await self._record(request, "profile")
        if early is not None:
            return early
        user_id = request.path_params["user_id"]
        profile = self.profiles.get(user_id)
        if profile is None:
            return self._answer(rec, 404, {"message": "Not found"})
        return self._answer(rec, 200, {"userId": user_id, "displayName": "Test user", **profile})

    async def _loading(self, request: Request) -> Response:
        rec, early = await self._record(request, "loading")
        if early is not None:
            return early
        with self._lock:
            self.loading.append(rec.body)
        return self._answer(rec, 202, {})

    async def _quota(self, request: Request) -> Response:
        rec, early = await self._record(request, "quota")
        if early is not None:
            return early
        if self.quota is None:
            return self._answer(rec, 200, {"type": "none"})
        return self._answer(rec, 200, {"type": "limited", "value": self.quota})

    async def _quota_consumption(self, request: Request) -> Response:
        rec, early = await self._record(request, "quota")
        if early is not None:
            return early
        return self._answer(rec, 200, {"totalUsage": self.quota_used})

    async def _create_richmenu(self, request: Request) -> Response:
        rec, early = await self._record(request, "richmenu")
        if early is not None:
            return early
        menu_id = "richmenu-" + uuid.uuid4().hex
        with self._lock:
            self.richmenus[menu_id] = rec.body
        return self._answer(rec, 200, {"richMenuId": menu_id})

    def _menu_response(self, menu_id: str) -> dict[str, Any]:
        return {"richMenuId": menu_id, **self.richmenus[menu_id]}

    async def _list_richmenus(self, request: Request) -> Response:
        rec, early = await self._record(request, "richmenu")
        if early is not None:
            return early
        return self._answer(rec, 200, {"richmenus": [self._menu_response(m) for m in self.richmenus]})

    async def _richmenu(self, request: Request) -> Response:
        rec, early = await self._record(request, "richmenu")
        if early is not None:
            return early
        menu_id = request.path_params["menu_id"]
        if menu_id not in self.richmenus:
            return self._answer(rec, 404, {"message": "Not found"})
        if request.method == "GET":
            return self._answer(rec, 200, self._menu_response(menu_id))
        with self._lock:
            self.richmenus.pop(menu_id)
            self.richmenu_images.pop(menu_id, None)
            self.aliases = {a: m for a, m in self.aliases.items() if m != menu_id}
            if self.default_richmenu == menu_id:
                self.default_richmenu = None
            self.user_richmenus = {u: m for u, m in self.user_richmenus.items() if m != menu_id}
        return self._answer(rec, 200, {})

    async def _richmenu_image(self, request: Request) -> Response:
        rec, early = await self._record(request, "richmenu_image")
        if early is not None:
            return early
        menu_id = request.path_params["menu_id"]
        if menu_id not in self.richmenus:
            return self._answer(rec, 404, {"message": "Not found"})
        if menu_id in self.richmenu_images:
            return self._answer(rec, 400, {"message": "An image has already been uploaded to the richmenu"})
        problem = _image_problem(rec.body or b"", request.headers.get("content-type", ""), self.richmenus[menu_id])
        if problem:
            with self._lock:
                self.violations.append(f"POST {request.url.path}: {problem}")
            return self._answer(rec, 400, {"message": problem})
        with self._lock:
            self.richmenu_images[menu_id] = rec.body
        return self._answer(rec, 200, {})

    async def _create_alias(self, request: Request) -> Response:
        rec, early = await self._record(request, "alias")
        if early is not None:
            return early
        alias, menu_id = rec.body["richMenuAliasId"], rec.body["richMenuId"]
        if alias in self.aliases:
            return self._answer(rec, 400, {"message": "conflict richmenu alias id"})
        if menu_id not in self.richmenus or menu_id not in self.richmenu_images:
            return self._answer(rec, 400, {"message": "richmenu not found or has no image"})
        with self._lock:
            self.aliases[alias] = menu_id
        return self._answer(rec, 200, {})

    async def _list_aliases(self, request: Request) -> Response:
        rec, early = await self._record(request, "alias")
        if early is not None:
            return early
        return self._answer(rec, 200, {"aliases": [{"richMenuAliasId": a, "richMenuId": m}
                                                   for a, m in self.aliases.items()]})

    async def _alias(self, request: Request) -> Response:
        rec, early = await self._record(request, "alias")
        if early is not None:
            return early
        alias = request.path_params["alias_id"]
        if alias not in self.aliases:
            return self._answer(rec, 404, {"message": "Not found"})
        if request.method == "GET":
            return self._answer(rec, 200, {"richMenuAliasId": alias, "richMenuId": self.aliases[alias]})
        with self._lock:
            if request.method == "DELETE":
                self.aliases.pop(alias)
            else:
                self.aliases[alias] = rec.body["richMenuId"]
        return self._answer(rec, 200, {})

    async def _set_default(self, request: Request) -> Response:
        rec, early = await self._record(request, "default")
        if early is not None:
            return early
        menu_id = request.path_params["menu_id"]
        if menu_id not in self.richmenu_images:
            return self._answer(rec, 400, {"message": "must upload richmenu image before applying it to user"})
        self.default_richmenu = menu_id
        return self._answer(rec, 200, {})

    async def _default(self, request: Request) -> Response:
        rec, early = await self._record(request, "default")
        if early is not None:
            return early
        if request.method == "DELETE":
            self.default_richmenu = None
            return self._answer(rec, 200, {})
        if self.default_richmenu is None:
            return self._answer(rec, 404, {"message": "no default richmenu"})
        return self._answer(rec, 200, {"richMenuId": self.default_richmenu})

    async def _link(self, request: Request) -> Response:
        rec, early = await self._record(request, "link")
        if early is not None:
            return early
        menu_id = request.path_params["menu_id"]
        if menu_id not in self.richmenu_images:
            return self._answer(rec, 400, {"message": "must upload richmenu image before applying it to user"})
        with self._lock:
            self.user_richmenus[request.path_params["user_id"]] = menu_id
        return self._answer(rec, 200, {})

    async def _bulk_link(self, request: Request) -> Response:
        rec, early = await self._record(request, "link")
        if early is not None:
            return early
        menu_id = rec.body["richMenuId"]
        if menu_id not in self.richmenu_images:
            return self._answer(rec, 400, {"message": "must upload richmenu image before applying it to user"})
        with self._lock:
            for user_id in rec.body["userIds"]:
                self.user_richmenus[user_id] = menu_id
        return self._answer(rec, 202, {})

    async def _user_menu(self, request: Request) -> Response:
        rec, early = await self._record(request, "link")
        if early is not None:
            return early
        user_id = request.path_params["user_id"]
        if request.method == "DELETE":
            self.user_richmenus.pop(user_id, None)
            return self._answer(rec, 200, {})
        menu_id = self.user_richmenus.get(user_id) or self.default_richmenu
        if menu_id is None:
            return self._answer(rec, 404, {"message": "the user has no richmenu"})
        return self._answer(rec, 200, {"richMenuId": menu_id})

    # ---- running ----------------------------------------------------------
    def _server(self) -> uvicorn.Server:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                                lifespan="off")
        return uvicorn.Server(config)

    @contextlib.asynccontextmanager
    async def serve(self):
        """Run on 127.0.0.1 (a free port) in the current event loop; ``self.url`` is its base URL."""
        server = self._server()
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            server.should_exit = True
            await task

    def start_thread(self) -> Callable[[], None]:
        """Run in a thread with its own event loop (keeps the fake off the measured loop); returns stop()."""
        server = self._server()
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

        def stop() -> None:
            self.release()
            server.should_exit = True
            thread.join(timeout=5)

        return stop

    def __enter__(self) -> "FakeLineApi":
        self._stop_thread = self.start_thread()
        return self

    def __exit__(self, *exc) -> None:
        if self._stop_thread is not None:
            self._stop_thread()
            self._stop_thread = None


def _image_problem(image: bytes, content_type: str, menu: dict[str, Any]) -> str | None:
    """What LINE would refuse in a rich menu image: not PNG/JPEG, over 1 MB, or not the menu's size."""
    import io

    from PIL import Image

    if content_type.split(";")[0].strip() not in ("image/png", "image/jpeg"):
        return f"Content-Type {content_type!r} is not image/png or image/jpeg"
    if len(image) > 1024 * 1024:
        return f"image is {len(image)} bytes (max 1 MB)"
    try:
        with Image.open(io.BytesIO(image)) as img:
            size, fmt = img.size, img.format
    except Exception:  # noqa: BLE001
        return "image cannot be read"
    if fmt.lower() not in content_type:
        return f"image is {fmt}, sent as {content_type}"
    want = (menu["size"]["width"], menu["size"]["height"])
    if size != want:
        return f"image is {size[0]}x{size[1]}, the rich menu is {want[0]}x{want[1]}"
    return None


# ---- the LINE platform's side of a webhook ----------------------------------------------------

BOT_ID = "U" + "b0" * 16
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def line_id(prefix: str = "U") -> str:
    """A LINE id: U/C/R followed by 32 hex digits."""
    return prefix + uuid.uuid4().hex


def webhook_event_id() -> str:
    """A ULID-shaped webhookEventId."""
    n = uuid.uuid4().int
    return "".join(_CROCKFORD[(n >> (5 * i)) & 31] for i in range(26))


def _base(etype: str, source: dict[str, Any], *, redelivery: bool = False, event_id: str | None = None,
          timestamp: int | None = None) -> dict[str, Any]:
    return {"type": etype, "mode": "active", "timestamp": timestamp or int(time.time() * 1000),
            "source": source, "webhookEventId": event_id or webhook_event_id(),
            "deliveryContext": {"isRedelivery": redelivery}}


def user_source(user_id: str) -> dict[str, Any]:
    return {"type": "user", "userId": user_id}


def text_event(user_id: str, text: str, *, reply_token: str | None, **kw) -> dict[str, Any]:
    event = _base("message", user_source(user_id), **kw)
    event["message"] = {"type": "text", "id": str(uuid.uuid4().int)[:18], "text": text,
                        "quoteToken": uuid.uuid4().hex}
    if reply_token:
        event["replyToken"] = reply_token
    return event


def media_event(user_id: str, kind: str, *, reply_token: str | None, **kw) -> dict[str, Any]:
    """A sticker, image, video, audio, file or location message."""
    event = _base("message", user_source(user_id), **kw)
    message: dict[str, Any] = {"type": kind, "id": str(uuid.uuid4().int)[:18]}
    if kind == "sticker":
        message.update(packageId="446", stickerId="1988", stickerResourceType="STATIC", quoteToken=uuid.uuid4().hex)
    elif kind in ("image", "video"):
        message.update(contentProvider={"type": "line"}, quoteToken=uuid.uuid4().hex)
        if kind == "video":
            message["duration"] = 1000
    elif kind == "audio":
        message.update(contentProvider={"type": "line"}, duration=1000)
    elif kind == "file":
        message.update(fileName="notes.pdf", fileSize=1024)
    elif kind == "location":
        message.update(title="office", address="Tokyo", latitude=35.68, longitude=139.76)
    event["message"] = message
    if reply_token:
        event["replyToken"] = reply_token
    return event


def postback_event(user_id: str, data: str, *, reply_token: str | None, **kw) -> dict[str, Any]:
    event = _base("postback", user_source(user_id), **kw)
    event["postback"] = {"data": data}
    if reply_token:
        event["replyToken"] = reply_token
    return event


def follow_event(user_id: str, *, reply_token: str, unblocked: bool = False, **kw) -> dict[str, Any]:
    event = _base("follow", user_source(user_id), **kw)
    event.update(replyToken=reply_token, follow={"isUnblocked": unblocked})
    return event


def unsend_event(user_id: str, message_id: str, **kw) -> dict[str, Any]:
    """The user took back a message they sent (no reply token)."""
    event = _base("unsend", user_source(user_id), **kw)
    event["unsend"] = {"messageId": message_id}
    return event


def unfollow_event(user_id: str, **kw) -> dict[str, Any]:
    return _base("unfollow", user_source(user_id), **kw)


def group_text_event(group_id: str, user_id: str, text: str, *, reply_token: str | None, room: bool = False,
                     **kw) -> dict[str, Any]:
    source = ({"type": "room", "roomId": group_id, "userId": user_id} if room else
              {"type": "group", "groupId": group_id, "userId": user_id})
    event = _base("message", source, **kw)
    event["message"] = {"type": "text", "id": str(uuid.uuid4().int)[:18], "text": text, "quoteToken": uuid.uuid4().hex}
    if reply_token:
        event["replyToken"] = reply_token
    return event


def callback_body(*events: dict[str, Any], destination: str = BOT_ID) -> bytes:
    """The webhook body LINE posts."""
    return json.dumps({"destination": destination, "events": list(events)}, ensure_ascii=False).encode()


def webhook_headers(body: bytes, secret: str) -> dict[str, str]:
    """Headers LINE sends with ``body``, signed with the channel secret."""
    from handlers.line.events import sign

    return {"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": sign(body, secret),
            "User-Agent": "LineBotWebhook/2.0"}


# ---- bansou running for real against the fake -------------------------------------------------

CHANNEL_SECRET = "0123456789abcdef0123456789abcdef"


class LineWorld:
    """bansou's app served by uvicorn on 127.0.0.1 (inbox worker running), the fake LINE API,
    and a client that posts signed webhooks."""

    def __init__(self, *, fake: FakeLineApi, settings, clock, spec=None):
        self.fake = fake
        self.settings = settings
        self.clock = clock
        self.spec = spec
        self.runtime = None
        self.base_url = ""
        self.http = None

    async def post(self, *events: dict[str, Any], body: bytes | None = None, headers: dict[str, str] | None = None):
        """POST a webhook as LINE does (signed); checks our test bodies against webhook.yml."""
        body = callback_body(*events) if body is None else body
        if self.spec is not None and headers is None:
            problems = self.spec.webhook_errors(body)
            assert not problems, f"the test built a webhook LINE would not send: {problems}"
        return await self.http.post("/line/webhook", content=body,
                                    headers=webhook_headers(body, CHANNEL_SECRET) if headers is None else headers)

    async def inbox_rows(self) -> list:
        from sqlalchemy import select

        from bot.store.models import InboxEvent

        async with self.runtime.db.session() as session:
            return list((await session.execute(select(InboxEvent).order_by(InboxEvent.id))).scalars())

    async def settle(self) -> None:
        """Run one inbox pass now and let it finish (so 'nothing more was sent' means something)."""
        await self.runtime.inbox.run_once()


def line_settings(settings, fake: FakeLineApi):
    return settings.model_copy(update={"line_channel_secret": CHANNEL_SECRET, "line_channel_access_token": fake.token,
                                       "line_api_base_url": fake.url})


@contextlib.asynccontextmanager
async def running_bansou(settings, clock, *, fake: FakeLineApi, spec=None, lifespan: bool = True):
    """bansou with LINE on, pointed at ``fake``. With ``lifespan=False`` the app answers webhooks but
    its background loops never start (a process that dies right after acknowledging)."""
    import httpx

    from bot.runtime import build_runtime
    from handlers.app import create_app

    world = LineWorld(fake=fake, settings=line_settings(settings, fake), clock=clock, spec=spec)
    world.runtime = await build_runtime(world.settings, clock=clock, migrate=False)
    if not lifespan:
        app = create_app(world.runtime, scheduler=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bansou.test") as http:
            world.http = http
            try:
                yield world
            finally:
                await world.runtime.close()
        return
    from tests.reliability.inprocess import serve_app

    async with serve_app(world.runtime, inbox_poll=None) as base_url:
        world.base_url = base_url
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            world.http = http
            yield world
