"""Reminders people chose: preferences, the durable outbox, the planner, the dispatcher.

``install(runtime)`` registers the effect handlers and the interpreter with the coach;
``bot.reminders.worker.scheduler_task`` runs the dispatch passes (see docs/reminders.md).
Nothing here imports a platform SDK: messages go out through ``runtime.senders``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from bot.runtime import Runtime


def install(runtime: "Runtime") -> None:
    """Teach the coach about reminders (effects and plain-language commands)."""
    from bot.reminders.service import Reminders

    reminders = Reminders(runtime.content, default_timezone=runtime.settings.default_timezone)
    coach = runtime.coach
    coach.on_effect("reminders", reminders.on_reminders)
    coach.on_effect("schedule_followup", reminders.on_followup)
    coach.on_effect("nudge_response", reminders.on_nudge_response)
    coach.on_effect("crisis_pause", reminders.on_crisis_pause)
    coach.on_effect("resume", reminders.on_resume)
    coach.on_effect("deactivate", reminders.on_deactivate)
    coach.interpreters.append(reminders.interpret)
    coach.fact_providers.append(reminders.facts)
    runtime.reminders = reminders
