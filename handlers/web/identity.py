"""The anonymous web visitor: a random id in a signed cookie, and the secret that signs it.

The secret is ``WEB_COOKIE_SECRET`` when set; otherwise one is generated the first time any web
process needs it and kept in ``web_secrets``, so restarts and several processes sign alike.
A cookie whose signature does not verify is ignored and the visitor gets a fresh identity.
"""
from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from bot.store.db import Database
from bot.store.web_models import WebSecret

COOKIE_NAME = "bansou_visitor"
COOKIE_MAX_AGE = 180 * 24 * 3600  # renewed on each visit; an abandoned identity lapses in half a year
SECRET_NAME = "cookie_signing"
SALT = "bansou.web.visitor.v1"
VISITOR_ID_BYTES = 18  # 24 URL-safe characters


def new_visitor_id() -> str:
    return secrets.token_urlsafe(VISITOR_ID_BYTES)


async def stored_secret(db: Database, *, now: datetime) -> str:
    """The shared secret from the database, creating it once (the first writer wins a race)."""
    async with db.session() as session:
        row = await session.get(WebSecret, SECRET_NAME)
        if row is not None:
            return row.value
    if db.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    candidate = secrets.token_urlsafe(48)
    async with db.session() as session:
        await session.execute(insert(WebSecret).values(name=SECRET_NAME, value=candidate, created_at=now)
                              .on_conflict_do_nothing(index_elements=["name"]))
        await session.commit()
        return (await session.execute(select(WebSecret.value).where(WebSecret.name == SECRET_NAME))).scalar_one()


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who is asking: the visitor id, and whether the cookie must be (re)issued in the response."""

    id: str
    fresh: bool  # no valid cookie came with the request
    tampered: bool = False  # a cookie came but did not verify


class VisitorCookies:
    """Signs and reads the visitor cookie; loads the secret lazily so a test app without lifespan works."""

    def __init__(self, db: Database, *, configured_secret: str | None, clock):
        self._db = db
        self._configured = configured_secret
        self._clock = clock
        self._serializer: URLSafeSerializer | None = None
        self._lock = asyncio.Lock()

    async def serializer(self) -> URLSafeSerializer:
        if self._serializer is None:
            async with self._lock:
                if self._serializer is None:
                    secret = self._configured or await stored_secret(self._db, now=self._clock())
                    self._serializer = URLSafeSerializer(secret, salt=SALT)
        return self._serializer

    async def read(self, raw: str | None) -> Visitor:
        """The visitor named by the cookie, or a brand-new one when it is absent or forged."""
        if raw:
            try:
                value = (await self.serializer()).loads(raw)
            except BadSignature:
                return Visitor(id=new_visitor_id(), fresh=True, tampered=True)
            if isinstance(value, str) and 16 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
                return Visitor(id=value, fresh=False)
            return Visitor(id=new_visitor_id(), fresh=True, tampered=True)
        return Visitor(id=new_visitor_id(), fresh=True)

    async def sign(self, visitor_id: str) -> str:
        return (await self.serializer()).dumps(visitor_id)
