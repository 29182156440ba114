"""Change tracking between cycles and the control plane's clock.

Reading timelines against the simulator is tested in tests/test_monitor.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from exporter.detect.timelines import Timelines, control_plane_now, marker
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
    workloads = [{"phaseUpdatedAt": s} for s in stamps] + [{"phaseUpdatedAt": None}]
    assert control_plane_now(NOW, workloads) == expected


def workload(wid: str, phase: str, since: str) -> dict[str, object]:
    return {"id": wid, "phase": phase, "phaseUpdatedAt": since, "projectName": "p"}


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
