"""Settings from the environment (12-factor); a ``.env`` file in the working directory is read too."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasGenerator, Field, ValidationError
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource, SettingsConfigDict

from bot.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# From a checkout (editable install) the content sits beside the package; from an installed wheel,
# run where the project's files are (the Procfile's platforms and the Dockerfile do).
DEFAULT_CONTENT_DIR = PROJECT_ROOT / "content" if (PROJECT_ROOT / "content").is_dir() else Path.cwd() / "content"


def async_database_url(url: str) -> str:
    """Turn the URL operators write (sqlite:///, postgres://, postgresql://) into an async driver URL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + _asyncpg_query(url[len("postgresql://"):])
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://"):]
    return url


def _asyncpg_query(rest: str) -> str:
    """Managed databases hand out libpq URLs (``?sslmode=require``); asyncpg calls it ``ssl``."""
    if "?" not in rest:
        return rest
    from urllib.parse import parse_qsl, urlencode

    base, _, query = rest.partition("?")
    pairs = [("ssl" if k == "sslmode" else k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return base + "?" + urlencode(pairs)


PULSE_MIN_FLOOR = 3


class Settings(BaseSettings):
    """Everything bansou reads from the environment; each field is read from the variable of its
    name in capitals (``database_url`` from ``DATABASE_URL``). ``Settings(...)`` takes only what it
    is given; ``load_settings()`` reads the environment and ``.env``."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", case_sensitive=True, env_ignore_empty=True, validate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=str.upper))

    database_url: str = "sqlite:///./bansou.db"
    port: int = 8000
    line_channel_secret: str | None = None
    line_channel_access_token: str | None = None
    line_api_base_url: str = "https://api.line.me"
    slack_signing_secret: str | None = None
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    default_timezone: str = "Asia/Tokyo"
    default_language: str = "ja"
    content_dir: Path = DEFAULT_CONTENT_DIR
    message_retention_days: int = 30
    reminder_grace_hours: float = 6.0
    reminder_rate_per_second: float = 1500.0
    web_cookie_secret: str | None = None
    # How long a delivery that keeps failing is retried before it is ``dead`` (bansou inbox retry).
    inbox_retry_horizon_hours: float = 24.0
    # GET /metrics wants ``Authorization: Bearer <this>`` when set.
    metrics_token: str | None = None
    # Fewest distinct people a team pulse reports on (never below PULSE_MIN_FLOOR).
    slack_pulse_min_members: int = 5
    # Web API requests one client may make a minute (then 429 with Retry-After).
    web_rate_per_minute: int = Field(120, validation_alias="WEB_RATE_LIMIT_PER_MINUTE")
    # The whole environment as read, for settings a part reads on its own.
    extra: Mapping[str, str] = Field(default_factory=dict, validation_alias="extra")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)  # the environment is read by load_settings, so a Settings(...) is what it says

    @property
    def async_database_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret and (self.slack_bot_token or self.slack_oauth_enabled))

    @property
    def slack_oauth_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    def channel_status(self) -> list[str]:
        """One line per channel saying whether it is on, for start-up logs."""
        lines = []
        lines.append("LINE: on" if self.line_enabled else
                     "LINE: off (set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN to turn it on)")
        if self.slack_enabled:
            mode = "OAuth multi-workspace" if self.slack_oauth_enabled else "single workspace"
            if self.slack_app_token:
                mode += ", Socket Mode"
            lines.append(f"Slack: on ({mode})")
        else:
            lines.append("Slack: off (set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN, "
                         "or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, to turn it on)")
        return lines

    def check(self) -> None:
        """Refuse a half-configured channel or a bad default; raise ConfigError with one line."""
        if bool(self.line_channel_secret) != bool(self.line_channel_access_token):
            have, missing = (("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN")
                             if self.line_channel_secret else
                             ("LINE_CHANNEL_ACCESS_TOKEN", "LINE_CHANNEL_SECRET"))
            raise ConfigError(f"LINE is half-configured: {have} is set but {missing} is not")
        slack_creds = self.slack_bot_token or self.slack_oauth_enabled
        if bool(self.slack_client_id) != bool(self.slack_client_secret):
            raise ConfigError("Slack OAuth is half-configured: set both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
        if self.slack_signing_secret and not slack_creds:
            raise ConfigError("Slack is half-configured: SLACK_SIGNING_SECRET is set but neither "
                              "SLACK_BOT_TOKEN nor SLACK_CLIENT_ID/SLACK_CLIENT_SECRET is")
        if slack_creds and not self.slack_signing_secret:
            raise ConfigError("Slack is half-configured: a Slack token is set but SLACK_SIGNING_SECRET is not")
        if self.slack_app_token and not slack_creds:
            raise ConfigError("Slack is half-configured: SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not")
        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"DEFAULT_TIMEZONE={self.default_timezone!r} is not a known IANA timezone") from None
        if self.slack_pulse_min_members < PULSE_MIN_FLOOR:
            raise ConfigError(f"SLACK_PULSE_MIN_MEMBERS={self.slack_pulse_min_members} is below "
                              f"{PULSE_MIN_FLOOR}: a pulse of fewer people cannot stay anonymous")
        if not self.inbox_retry_horizon_hours > 0:
            raise ConfigError("INBOX_RETRY_HORIZON_HOURS must be more than 0")
        if self.default_language not in ("ja", "en"):
            raise ConfigError(f"DEFAULT_LANGUAGE={self.default_language!r} must be 'ja' or 'en'")


def load_settings(env: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
    """Build Settings from ``env`` (default: the process environment over ``./.env``)."""
    if env is None:
        env_file = dotenv or Path.cwd() / ".env"
        values = {**DotEnvSettingsSource(Settings, env_file=env_file)(), **EnvSettingsSource(Settings)()}
        whole = {**_read_dotenv(env_file), **os.environ}
    else:
        values = {k: v for k, v in env.items() if v not in (None, "")}
        whole = dict(env)
    try:
        return Settings(**values, extra=whole)
    except ValidationError as exc:
        raise ConfigError(_config_problem(exc.errors(include_url=False)[0])) from None


def _config_problem(error: dict) -> str:
    """One line naming the variable and what is wrong with its value."""
    name = str(error["loc"][0]) if error["loc"] else "setting"
    if error["type"] in ("int_parsing", "float_parsing", "int_from_float"):
        return f"{name}={error['input']!r} is not a number"
    return f"{name}={error.get('input')!r}: {error['msg']}"


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}
