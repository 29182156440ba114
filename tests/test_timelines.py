"""Change tracking between cycles and the control plane's clock.

Reading timelines against the simulator is tested in tests/test_monitor.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from exporter.detect.episodes import Detection
from exporter.detect.timelines import Timelines, control_plane_now, marker
from exporter.model import Workload
from exporter.runai.client import RunaiClient
from tests.fixtures_exporter import Answer, ScriptedServer

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (["2026-11-26T11:00:00Z"], NOW),
        (["2026-11-26T11:00:00Z", "2026-11-26T13:30:00Z"], NOW + timedelta(hours=1.5)),
        ([], NOW),
    ],
)
def test_control_plane_now(stamps: list[str], expected: datetime) -> None:
    workloads = [Workload.from_api({"phaseUpdatedAt": s}) for s in [*stamps, None]]
    assert control_plane_now(NOW, workloads) == expected


def workload(wid: str, phase: str, since: str, **extra: str) -> Workload:
    return Workload.from_api(
        {"id": wid, "phase": phase, "phaseUpdatedAt": since, "projectName": "p", **extra}
    )


def test_unchanged_workloads_are_skipped_but_pending_ones_are_rechecked() -> None:
    with httpx.Client() as http:
        timelines = Timelines(RunaiClient("http://127.0.0.1:9", "c", "s", http=http))
        running = workload("a", "Running", "2026-11-26T11:00:00Z")
        pending = workload("b", "Pending", "2026-11-26T11:00:00Z")
        timelines.synced = {"a": marker(running), "b": marker(pending)}
        found = timelines.detect(
            [running, pending], [], now=NOW, pending_threshold=timedelta(minutes=30),
            retention=timedelta(days=90), known_episodes=set(), known_runs=set(),
        )
    # Nothing was read (the API address is closed: a read would have been an error), the
    # unchanged Running workload said nothing, the Pending one crossed the threshold.
    assert [e.kind for e in found.episodes] == ["pending"]
    assert found.phases == {("p", "Running"): 1, ("p", "Pending"): 1}
    timelines.commit(save=False)
    assert timelines.synced == {"a": marker(running), "b": marker(pending)}


def test_a_listed_episode_carries_the_timeline_read_for_it(scripted: ScriptedServer) -> None:
    failed = workload("a", "Failed", "2026-11-26T11:00:00Z")
    scripted.script("/api/v2/token", Answer(200, json.dumps(
        {"access_token": "t", "token_type": "Bearer", "expires_in": 3600})))
    records = [
        {"meta": {"creationTimestamp": at, "type": "PhaseUpdate"},
         "spec": {"phaseUpdate": {"phase": phase, "phaseMessage": ""}}}
        for at, phase in (("2026-11-26T08:00:00Z", "Creating"),
                          ("2026-11-26T08:01:00Z", "Running"),
                          ("2026-11-26T11:00:00Z", "Failed"))
    ]
    scripted.script("/api/v1/workloads/a/history", Answer(200, json.dumps({"records": records})))
    with httpx.Client() as http:
        timelines = Timelines(RunaiClient(scripted.url, "c", "s", http=http))
        found = timelines.detect(
            [failed], [], now=NOW, pending_threshold=timedelta(minutes=30),
            retention=timedelta(days=90), known_episodes=set(), known_runs=set(),
        )
    [episode] = found.episodes
    assert episode.current and episode.workload is failed  # the listing's own, as it is now
    assert episode.timeline is not None and len(episode.timeline) == 3


def _phase_records(*updates: tuple[str, str]) -> list[dict[str, object]]:
    return [
        {"meta": {"creationTimestamp": at, "type": "PhaseUpdate"},
         "spec": {"phaseUpdate": {"phase": phase, "phaseMessage": ""}}}
        for at, phase in updates
    ]


def _detect_once(
    scripted: ScriptedServer, listed: Workload, records: list[dict[str, object]],
    **known: set[str],
) -> Detection:
    scripted.script("/api/v2/token", Answer(200, json.dumps(
        {"access_token": "t", "token_type": "Bearer", "expires_in": 3600})))
    scripted.script(f"/api/v1/workloads/{listed.id}/history",
                    Answer(200, json.dumps({"records": records})))
    with httpx.Client() as http:
        timelines = Timelines(RunaiClient(scripted.url, "c", "s", http=http))
        return timelines.detect(
            [listed], [], now=NOW, pending_threshold=timedelta(minutes=30),
            retention=timedelta(days=90), known_episodes=known.get("episodes", set()),
            known_runs=known.get("runs", set()),
        )


def test_listing_and_timeline_stamps_of_one_failure_are_one_episode_and_one_run(
    scripted: ScriptedServer,
) -> None:
    """phaseUpdatedAt, completedAt and the history record's creationTimestamp of one phase
    change differ by milliseconds to seconds (as a real control plane writes them)."""
    failed = workload("a", "Failed", "2026-11-26T11:00:00.412Z",
                      completedAt="2026-11-26T10:59:58.930Z")
    found = _detect_once(scripted, failed, _phase_records(
        ("2026-11-26T08:00:00Z", "Creating"), ("2026-11-26T08:01:00.250Z", "Running"),
        ("2026-11-26T11:00:01.377Z", "Failed"),
    ))
    [episode] = found.episodes
    assert episode.episode_id == "a@2026-11-26T11:00:00.412000+00:00"  # the listing's stamp
    assert episode.current and episode.timeline is not None
    assert [r.run_id for r in found.runs] == ["a@2026-11-26T10:59:58.930000+00:00"]


def test_a_timeline_entry_recorded_last_cycle_under_the_listing_stamp_is_not_new(
    scripted: ScriptedServer,
) -> None:
    """Recorded from the listing; now the workload was resubmitted and failed again: the
    timeline shows both failures, only the second is new."""
    failed_again = workload("a", "Failed", "2026-11-26T11:40:00.200Z")
    found = _detect_once(scripted, failed_again, _phase_records(
        ("2026-11-26T10:00:00Z", "Running"), ("2026-11-26T11:00:01.377Z", "Failed"),
        ("2026-11-26T11:10:00Z", "Creating"), ("2026-11-26T11:11:00Z", "Running"),
        ("2026-11-26T11:40:01.050Z", "Failed"),
    ), episodes={"a@2026-11-26T11:00:00.412000+00:00"},
       runs={"a@2026-11-26T10:59:58.930000+00:00"})
    assert [e.episode_id for e in found.episodes] == ["a@2026-11-26T11:40:00.200000+00:00"]
    assert [r.run_id for r in found.runs] == ["a@2026-11-26T11:40:00.200000+00:00"]
