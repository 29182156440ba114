"""Telling one episode's attempt apart in a workload's timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exporter.detect.attempts import (
    AFTER_FAILURE,
    CLOCK_SLACK,
    AttemptWindow,
    phase_updates,
    timeline_events,
    window_of,
)

T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return at(minutes).isoformat().replace("+00:00", "Z")


def phase(minutes: float, name: str, message: str = "") -> dict[str, Any]:
    return {"meta": {"creationTimestamp": stamp(minutes), "type": "PhaseUpdate"},
            "spec": {"phaseUpdate": {"phase": name, "phaseMessage": message}}}


def event(minutes: float, reason: str) -> dict[str, Any]:
    return {"meta": {"creationTimestamp": stamp(minutes), "type": "Event"},
            "spec": {"event": {"reason": reason, "createdAt": stamp(minutes)}}}


# Submitted, failed, resubmitted, degraded, recovered, failed again; then resubmitted and
# stuck pending.
TIMELINE = [
    phase(0, "Creating"), phase(0.1, "Pending"), phase(1, "Initializing"), phase(2, "Running"),
    phase(60, "Failed", "Container exited with code 1"),
    phase(90, "Creating"), phase(90.1, "Pending"), phase(91, "Initializing"),
    phase(92, "Running"), phase(150, "Degraded", "Pod restarting: CrashLoopBackOff"),
    phase(170, "Running"), phase(200, "Failed", "Pod failed: NodeLost"),
    phase(300, "Creating"), phase(300.1, "Pending", "Not enough resources"),
    event(59.9, "OOMKilling"),
]
UPDATES = phase_updates(reversed(TIMELINE))  # any order in, oldest first out


def test_phase_updates_are_ordered_and_events_kept_apart() -> None:
    assert [u[1] for u in UPDATES][:5] == ["Creating", "Pending", "Initializing", "Running",
                                          "Failed"]
    assert UPDATES[4] == (at(60), "Failed", "Container exited with code 1")
    assert timeline_events(TIMELINE) == [{"reason": "OOMKilling", "createdAt": stamp(59.9)}]


@pytest.mark.parametrize(
    ("episode_at", "kind", "expected"),
    [
        # the first attempt: from submission to shortly after the failure
        (60, "failed", AttemptWindow(at(0), at(60) + AFTER_FAILURE, latest=False)),
        # a Degraded spell inside the second attempt: until the workload recovered
        (150, "degraded", AttemptWindow(at(90), at(170), latest=False)),
        # the second attempt's failure: the same attempt, not the first one's events
        (200, "failed", AttemptWindow(at(90), at(200) + AFTER_FAILURE, latest=False)),
        # still pending, in the latest attempt (its pods are the present ones)
        (300.1, "pending", AttemptWindow(at(300), None, latest=True)),
    ],
)
def test_window_of(episode_at: float, kind: str, expected: AttemptWindow) -> None:
    assert window_of(UPDATES, at(episode_at), kind) == expected


def test_a_failure_resubmitted_at_once_ends_its_window_at_the_resubmission() -> None:
    updates = phase_updates([phase(0, "Running"), phase(10, "Failed"), phase(12, "Creating")])
    assert window_of(updates, at(10), "failed") == AttemptWindow(at(0), at(12), latest=False)


def test_an_attempt_that_ended_without_a_successor_is_still_the_latest() -> None:
    updates = phase_updates([phase(0, "Running"), phase(5, "Degraded"), phase(8, "Running"),
                             phase(30, "Completed")])
    assert window_of(updates, at(5), "degraded") == AttemptWindow(at(0), at(8), latest=True)


def test_an_episode_missing_from_the_timeline_has_no_window() -> None:
    assert window_of(UPDATES, at(61), "failed") is None
    assert window_of([], at(60), "failed") is None


def test_window_bounds() -> None:
    window = AttemptWindow(at(90), at(170))
    assert window.holds(at(90)) and window.holds(at(170)) and window.holds(at(120))
    assert not window.holds(at(89.9)) and not window.holds(at(170.1)) and not window.holds(None)
    # a pod stamped a little before the attempt's first phase update is still its own
    assert window.holds_pod(at(90) - CLOCK_SLACK) and not window.holds_pod(at(88))
    assert not window.holds_pod(at(171)) and not window.holds_pod(None)
    assert AttemptWindow(at(300), None).holds(at(10_000))


def test_hostile_records_are_ignored() -> None:
    junk: list[Any] = [None, 3, {"meta": None}, {"meta": [], "spec": "x"},
                       {"meta": {"type": "PhaseUpdate"}, "spec": {"phaseUpdate": []}},
                       {"meta": {"type": "PhaseUpdate"}},
                       {"meta": {"type": "Event"}, "spec": {"event": "text"}},
                       {"meta": {"creationTimestamp": "yesterday", "type": "PhaseUpdate"},
                        "spec": {"phaseUpdate": {"phase": "Failed"}}}]
    assert phase_updates(junk) == [] and timeline_events(junk) == []


def test_the_listing_stamp_of_an_episode_finds_its_attempt() -> None:
    """The listing's phaseUpdatedAt trails or leads the history record by up to seconds."""
    assert window_of(UPDATES, at(60) - timedelta(seconds=2.4), "failed") == AttemptWindow(
        at(0), at(60) + AFTER_FAILURE, latest=False
    )
    assert window_of(UPDATES, at(60) + timedelta(seconds=1), "degraded") is None  # wrong kind
