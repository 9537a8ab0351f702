"""The Bolt app: verifies Slack's requests, stores each one in the durable inbox, then acks.

Every listener does the same two things, in this order: ``enqueue`` (a committed row in
``inbox_events``, de-duplicated on the Slack event id) and ack. The inbox worker does the rest
after the ack, so a slow coach or a Slack outage never makes Slack retry, and a process that
stops after the ack loses nothing. Bolt runs with ``process_before_response=True`` so the HTTP
answer is sent only once the row is stored.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from bot.inbox import IncomingEvent, enqueue
from bot.store import repo
from handlers.slack.blocks import ACTION_PREFIX, plain_text
from handlers.slack.identity import slack_user_key

log = logging.getLogger("bansou.slack")

BOT_SCOPES = ["app_mentions:read", "channels:read", "chat:write", "chat:write.public", "commands",
              "groups:read", "im:history", "im:read", "im:write", "users:read"]
# Message subtypes that are a person writing to us; every other subtype (bot_message,
# message_changed, message_deleted, channel_join, ...) is never answered.
PERSON_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
COMMAND_ALIASES = {
    "": "menu", "menu": "menu", "メニュー": "menu",
    "help": "help", "ヘルプ": "help", "?": "help",
    "checkin": "checkin", "check-in": "checkin", "check_in": "checkin", "チェックイン": "checkin",
    "settings": "settings", "setting": "settings", "設定": "settings",
    "stop": "stop_reminders", "stop-reminders": "stop_reminders", "resume": "resume",
    "cancel": "cancel", "キャンセル": "cancel",
}
_CHANNEL_REF = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$|^([CG][A-Z0-9]{6,})$")


@dataclass(frozen=True, slots=True)
class CoachCommand:
    """What ``/coach ...`` asks for: a command or flow, free text, or the team-pulse setting."""

    kind: str  # "command" | "text" | "team_pulse"
    command: str | None = None
    text: str | None = None
    pulse_channel: str | None = None
    pulse_off: bool = False


def parse_coach_command(text: str, *, flows: set[str], commands: set[str]) -> CoachCommand:
    """Read the text after ``/coach``. Slack escapes a channel as ``<#C123|name>`` (or ``<#C123>``)."""
    raw = (text or "").strip()
    head, _, rest = raw.partition(" ")
    word = head.lower()
    if word in ("team-pulse", "team_pulse", "teampulse", "pulse"):
        arg = rest.strip()
        if arg.lower() in ("off", "stop", "オフ", "停止"):
            return CoachCommand(kind="team_pulse", pulse_off=True)
        m = _CHANNEL_REF.match(arg)
        return CoachCommand(kind="team_pulse", pulse_channel=(m.group(1) or m.group(2)) if m else None)
    if not rest.strip():
        name = COMMAND_ALIASES.get(word) or word.replace("-", "_")
        if name in flows or name in commands or name in ("help", "menu", "cancel"):
            return CoachCommand(kind="command", command=name)
    return CoachCommand(kind="text", text=raw)


def _team(body: dict[str, Any], context) -> dict[str, Any]:
    auth = (body.get("authorizations") or [{}])[0]
    team = context.get("team_id") or body.get("team_id") or (body.get("team") or {}).get("id")
    enterprise = context.get("enterprise_id") or body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    return {"team_id": team, "enterprise_id": enterprise,
            "is_enterprise_install": bool(context.get("is_enterprise_install") or auth.get("is_enterprise_install"))}


EVENT_ID_MAX = 128  # inbox_events.event_id and user_key (bot/store/models.py)
USER_KEY_MAX = 160


class SlackIntake:
    """Bolt listeners: filter, store, wake the inbox, ack."""

    def __init__(self, runtime):
        self.runtime = runtime

    async def _store(self, event_id: str, user_id: str, payload: dict[str, Any]) -> bool:
        key = slack_user_key(team_id=payload.get("team_id"), enterprise_id=payload.get("enterprise_id"),
                             user_id=user_id)
        if key is None:  # no workspace named: we could not tell this user from another workspace's
            log.warning("slack event without a team", extra={"platform": "slack"})
            return False
        user_key = str(key)
        if len(user_key) > USER_KEY_MAX:  # no Slack user id is this long: nothing to answer
            log.warning("slack event without a usable user id", extra={"platform": "slack"})
            return False
        if len(event_id) > EVENT_ID_MAX:  # e.g. a huge trigger_id: keep it unique, fit the column
            event_id = "sha256:" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
        new = await enqueue(self.runtime.db, [IncomingEvent(platform="slack", event_id=event_id,
                                                            user_key=user_key, payload=payload)],
                            now=self.runtime.clock())
        inbox = self.runtime.inbox
        if inbox is not None and new:
            inbox.wake()
        log.info("slack event stored", extra={"platform": "slack", "kind": payload.get("type"), "new": bool(new)})
        return bool(new)

    async def on_message(self, body: dict[str, Any], event: dict[str, Any], context) -> None:
        """A DM to the bot. Bots, edits, deletions and other subtypes are never answered."""
        if event.get("bot_id") or event.get("subtype") not in PERSON_SUBTYPES or event.get("hidden"):
            return
        if event.get("channel_type") != "im" or not event.get("user"):
            return
        if event.get("user") in (context.get("bot_user_id"),):
            return
        payload = {"type": "message", "user": event["user"], "text": plain_text(event.get("text") or ""),
                   "reply_channel": event.get("channel"), "reply_thread_ts": event.get("thread_ts"),
                   "dm_channel": event.get("channel"), **_team(body, context)}
        await self._store(body.get("event_id") or f"msg:{event.get('channel')}:{event.get('ts')}", event["user"], payload)

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any], context) -> None:
        """@bansou in a channel: answered in the user's DM (what they say to a coach is theirs alone);
        the thread under the mention only gets a short pointer to the DM."""
        if event.get("bot_id") or not event.get("user") or event.get("user") == context.get("bot_user_id"):
            return
        text = plain_text(event.get("text") or "", strip_mention_of=context.get("bot_user_id"))
        text = re.sub(r"^<@[UW][A-Z0-9]+(?:\|[^>]*)?>\s*", "", text)
        payload = {"type": "app_mention", "user": event["user"], "text": text,
                   "pointer_channel": event.get("channel"),
                   "pointer_thread_ts": event.get("thread_ts") or event.get("ts"), **_team(body, context)}
        await self._store(body.get("event_id") or f"mention:{event.get('channel')}:{event.get('ts')}",
                          event["user"], payload)

    async def on_home(self, body: dict[str, Any], event: dict[str, Any], context) -> None:
        if event.get("tab") != "home" or not event.get("user"):
            return
        payload = {"type": "home", "user": event["user"], **_team(body, context)}
        await self._store(body.get("event_id") or f"home:{event['user']}:{event.get('event_ts')}", event["user"], payload)

    async def on_command(self, ack, body: dict[str, Any], command: dict[str, Any], context, client) -> None:
        """``/coach [what]``: stored, acked at once; the answer arrives in the user's DM."""
        user_id = command["user_id"]
        parsed = parse_coach_command(command.get("text") or "", flows=set(self.runtime.content.flows),
                                     commands=set(self.runtime.content.commands))
        if parsed.kind == "command" and parsed.command == "checkin" and command.get("trigger_id"):
            from handlers.slack.modal import open_checkin_modal  # the check-in modal (handlers/slack/modal.py)

            if await open_checkin_modal(self.runtime, client, trigger_id=command["trigger_id"], user_id=user_id,
                                        team=_team(body, context)):
                await ack()
                return
        payload: dict[str, Any] = {"user": user_id, **_team(body, context)}
        if parsed.kind == "team_pulse":
            payload.update(type="team_pulse", pulse_channel=parsed.pulse_channel, pulse_off=parsed.pulse_off)
        elif parsed.kind == "command":
            payload.update(type="command", command=parsed.command)
        else:
            payload.update(type="command_text", text=plain_text(parsed.text or ""))
        trigger = command.get("trigger_id") or f"{user_id}:{command.get('text')}"
        await self._store(f"command:{trigger}", user_id, payload)
        await ack(**await self._pointer(payload, command.get("channel_id")))

    async def _pointer(self, payload: dict[str, Any], channel_id: str | None) -> dict[str, Any]:
        """The ack body: empty when typed in our DM, else a private note that the answer is in the DM."""
        key = slack_user_key(team_id=payload.get("team_id"), enterprise_id=payload.get("enterprise_id"),
                             user_id=payload["user"])
        async with self.runtime.db.session() as session:
            user = await repo.get_user(session, key) if key is not None else None
        if user is not None and channel_id and (user.platform_meta or {}).get("dm_channel") == channel_id:
            return {}
        lang = user.language if user is not None else self.runtime.settings.default_language
        return {"text": self.runtime.content.text("slack.dm_pointer", lang), "response_type": "ephemeral"}

    async def on_action(self, ack, body: dict[str, Any], action: dict[str, Any], context) -> None:
        """A tapped button: its value is an engine choice value (``c:...``, ``go:...``, ``cmd:...``)."""
        user_id = (body.get("user") or {}).get("id")
        value = action.get("value")
        if not user_id or not value:
            await ack()
            return
        container = body.get("container") or {}
        channel_id = (body.get("channel") or {}).get("id") or ""
        # A button under one of our DM messages answers there; one anywhere else answers in the DM.
        in_message = container.get("type") == "message" and channel_id.startswith("D")
        payload = {"type": "choice", "user": user_id, "choice": value, **_team(body, context)}
        if in_message:
            payload["reply_channel"] = body["channel"]["id"]
            payload["reply_thread_ts"] = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
        stamp = action.get("action_ts") or body.get("trigger_id")
        await self._store(f"action:{user_id}:{stamp}:{action.get('action_id')}", user_id, payload)
        await ack()


def build_bolt_app(runtime, *, client: AsyncWebClient, installation_store=None, state_store=None) -> AsyncApp:
    """The AsyncApp with request verification on, one workspace (token) or many (OAuth)."""
    s = runtime.settings
    kwargs: dict[str, Any] = {"signing_secret": s.slack_signing_secret, "client": client,
                              "process_before_response": True, "logger": logging.getLogger("bansou.slack.bolt")}
    if s.slack_oauth_enabled:
        kwargs["oauth_settings"] = AsyncOAuthSettings(
            client_id=s.slack_client_id, client_secret=s.slack_client_secret, scopes=BOT_SCOPES,
            installation_store=installation_store, state_store=state_store,
            install_path="/slack/install", redirect_uri_path="/slack/oauth_redirect")
    app = AsyncApp(**kwargs)
    intake = SlackIntake(runtime)
    app.event("message")(intake.on_message)
    app.event("app_mention")(intake.on_mention)
    app.event("app_home_opened")(intake.on_home)
    app.command("/coach")(intake.on_command)
    from handlers.slack import modal  # the check-in modal's listeners go before the catch-all below

    modal.register(app, intake)
    app.action(re.compile("^" + re.escape(ACTION_PREFIX)))(intake.on_action)
    if s.slack_oauth_enabled:
        app.enable_token_revocation_listeners()  # deletes the workspace's installation rows
    else:
        async def uninstalled(event: dict[str, Any]) -> None:
            log.warning("Slack app uninstalled or its tokens revoked", extra={"platform": "slack",
                                                                            "kind": event.get("type")})

        app.event("tokens_revoked")(uninstalled)
        app.event("app_uninstalled")(uninstalled)
    return app
