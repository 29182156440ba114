"""The shared retry helper, against a scripted server over real loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from common.errors import RunaiApiError
from exporter.http_retry import Reply, RetryPolicy, backoff_delay, retry_after_s, send
from tests.fixtures_exporter import Answer, ScriptedServer

FAST = RetryPolicy(attempts=4, base_delay_s=0.001, max_delay_s=0.002, timeout_s=2.0)


class Calls:
    def __init__(self) -> None:
        self.observed: list[tuple[str, str]] = []
        self.slept: list[float] = []

    def observe(self, endpoint: str, code: str) -> None:
        self.observed.append((endpoint, code))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def call(scripted: ScriptedServer, calls: Calls, policy: RetryPolicy = FAST, **kw: Any) -> Reply:
    with httpx.Client() as client:
        return send(client, "GET", f"{scripted.url}/x", endpoint="/x", error=RunaiApiError,
                    policy=policy, observe=calls.observe, sleep=calls.sleep, **kw)


def test_5xx_then_success_is_retried_and_every_attempt_observed(scripted: ScriptedServer):
    scripted.script("/x", Answer(500), Answer(503), Answer(200, '{"ok": true}'))
    calls = Calls()
    reply = call(scripted, calls)
    assert reply.data == {"ok": True}
    assert [c for _, c in calls.observed] == ["500", "503", "200"]
    assert len(calls.slept) == 2


def test_429_honours_retry_after_capped(scripted: ScriptedServer) -> None:
    scripted.script("/x", Answer(429, headers={"Retry-After": "3"}),
                    Answer(429, headers={"Retry-After": "999"}), Answer(200, "[]"))
    calls = Calls()
    reply = call(scripted, calls, RetryPolicy(attempts=3, retry_after_cap_s=10, timeout_s=2))
    assert reply.data == []
    assert calls.slept == [3.0, 10.0]


def test_malformed_json_is_retried_then_fails(scripted: ScriptedServer) -> None:
    scripted.script("/x", Answer(200, '{"workloads": [tru'))
    calls = Calls()
    with pytest.raises(RunaiApiError, match="not JSON after 4 attempt"):
        call(scripted, calls)
    assert [c for _, c in calls.observed] == ["invalid_json"] * 4


def test_timeout_is_retried_and_named(scripted: ScriptedServer) -> None:
    scripted.script("/x", Answer(200, "{}", delay_s=0.5))
    calls = Calls()
    with pytest.raises(RunaiApiError, match=r"GET /x: timed out after 0.1s after 2 attempt"):
        call(scripted, calls, RetryPolicy(attempts=2, base_delay_s=0.001, timeout_s=0.1))
    assert [c for _, c in calls.observed] == ["timeout", "timeout"]


def test_connection_refused_is_an_error_code() -> None:
    calls = Calls()
    with httpx.Client() as client, pytest.raises(RunaiApiError, match="connection failed"):
        send(client, "GET", "http://127.0.0.1:9/x", endpoint="/x", error=RunaiApiError,
             policy=FAST, observe=calls.observe, sleep=calls.sleep)
    assert {c for _, c in calls.observed} == {"error"}


def test_4xx_goes_back_to_the_caller_unretried(scripted: ScriptedServer) -> None:
    scripted.script("/x", Answer(404, '{"code": 404, "message": "gone"}'))
    calls = Calls()
    reply = call(scripted, calls)
    assert reply.status == 404 and reply.data["message"] == "gone"
    assert len(calls.observed) == 1 and not calls.slept


def test_deadline_stops_retrying(scripted: ScriptedServer) -> None:
    import time

    scripted.script("/x", Answer(503))
    calls = Calls()
    with pytest.raises(RunaiApiError, match="time budget spent"):
        call(scripted, calls, RetryPolicy(attempts=5, base_delay_s=10, max_delay_s=10),
             deadline=time.monotonic() + 1)
    assert len(calls.observed) == 1


def test_plain_text_body_when_json_not_expected(scripted: ScriptedServer) -> None:
    scripted.script("/x", Answer(200, "line 1\nline 2\n", media_type="text/plain"))
    reply = call(scripted, Calls(), expect_json=False)
    assert reply.text == "line 1\nline 2\n" and reply.data is None


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=1, max_delay_s=4)
    for attempt, step in [(0, 1), (1, 2), (2, 4), (5, 4)]:
        assert step / 2 <= backoff_delay(policy, attempt) <= step


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None
