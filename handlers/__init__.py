"""Thin adapters between platforms (LINE, Slack, web, ASGI) and the core in ``bot``."""
from __future__ import annotations

import logging

# The SDKs, HTTP clients and database drivers log request and response bodies and statement
# parameters (message text, exports with the user's words) and OAuth codes at DEBUG. None of that may reach a log at any LOG_LEVEL, so their
# loggers never go below WARNING; bansou's own logs say what happened without the content.
SDK_LOGGERS = ("slack_sdk", "slack_bolt", "bansou.slack.bolt", "linebot", "urllib3", "aiohttp", "httpx",
               "httpcore", "websockets", "aiosqlite", "sqlalchemy.engine", "asyncpg")


def quiet_sdk_loggers() -> None:
    """Hold the SDKs' and HTTP clients' loggers at WARNING or above."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET (0) inherits the root's level: set it
            logger.setLevel(logging.WARNING)


quiet_sdk_loggers()
