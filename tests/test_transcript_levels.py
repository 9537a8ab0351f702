"""One conversation, three levels: the same script through the pure engine, the coach service on the
real database, and the web chat's HTTP API (the real app over httpx's ASGI transport, the ``web``
fixture of tests/web_harness.py). What the person
sees at each step (state, replies, buttons) must be the same at every level."""
from __future__ import annotations

from tests.transcript import CoachLevel, EngineLevel, HttpLevel, run_script

OVERWORK = "I answered client emails until 2am again and worked all weekend"
ONBOARD_AND_CHECK_IN = [
    ("follow", "en"),
    ("tap", "English"),
    ("tap", "Scores only"),
    ("tap", "No reminders"),
    ("tap", "Weekly check-in"),
    ("tap", "2"),
    ("say", "3"),  # a score typed instead of tapped
    ("tap", "4"),
    ("say", OVERWORK),
]
STATES = ["onboarding:language", "onboarding:consent", "onboarding:reminders", "menu:choose", "checkin:energy",
          "checkin:boundaries", "checkin:client_respect", "checkin:reflection", "checkin:question"]


async def test_one_script_reads_the_same_through_the_engine_the_coach_and_http(runtime, clock, web):
    engine = await run_script(EngineLevel(now=clock.now), ONBOARD_AND_CHECK_IN)
    coach = await run_script(CoachLevel(runtime), ONBOARD_AND_CHECK_IN)
    http = await run_script(HttpLevel(web), ONBOARD_AND_CHECK_IN)

    assert [t.state for t in engine] == STATES
    assert "checkin.question.overwork" in [mid for mid, _, _ in engine[-1].replies], "the overwork was noticed"
    for step, at_engine, at_coach, at_http in zip(ONBOARD_AND_CHECK_IN, engine, coach, http, strict=True):
        assert at_engine == at_coach, f"engine and coach differ after {step}"
        assert at_coach == at_http, f"coach and HTTP differ after {step}"
