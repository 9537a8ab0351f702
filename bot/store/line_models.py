"""LINE tables (migration 0005). Importable without the LINE SDK.

* ``LineQuota``: the channel's monthly message quota and how much of it is used, as LINE last
  reported it. The worker refreshes it on an interval; every process reads it for ``/metrics``,
  and the reminder dispatch holds pushes back before the quota runs out.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class LineQuota(Base):
    __tablename__ = "line_quota"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)  # "default": one LINE channel per deployment
    limit_value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # None: no monthly limit
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    fetched_at: Mapped[datetime]
