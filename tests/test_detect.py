"""Detection: which workloads are new episodes and new finished runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exporter.detect.episodes import detect, episode_of, parse_time, run_of
from exporter.detect.identity import KnownEntries
from exporter.model import Workload

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
THRESHOLD = timedelta(minutes=30)


def wl(phase: str, since: str = "2026-11-26T11:00:00Z", **extra: Any) -> Workload:
    return Workload.from_api({"id": "w1", "name": "train", "projectName": "team-a",
                              "phase": phase, "phaseUpdatedAt": since, **extra})


@pytest.mark.parametrize(
    ("workload", "kind"),
    [
        (wl("Failed"), "failed"),
        (wl("Degraded"), "degraded"),
        (wl("Pending", "2026-11-26T11:29:59Z"), "pending"),
        (wl("Pending", "2026-11-26T11:30:00Z"), None),  # exactly the threshold: not yet
        (wl("Pending", "2026-11-26T11:30:01Z"), None),
        (wl("Running"), None),
        (wl("Completed"), None),
        (wl("Failed", ""), None),  # no usable timestamp: cannot name the episode
    ],
)
def test_episode_kinds(workload: Workload, kind: str | None) -> None:
    episode = episode_of(workload, NOW, THRESHOLD)
    assert (episode.kind if episode else None) == kind


def test_episode_identity_is_workload_and_phase_entry_time() -> None:
    episode = episode_of(wl("Failed", "2026-11-26T11:00:00.250Z"), NOW, THRESHOLD)
    assert episode is not None
    assert episode.episode_id == "w1@2026-11-26T11:00:00.250000+00:00"
    assert episode.timestamp.tzinfo is not None


def test_refailing_after_resubmission_is_a_new_episode() -> None:
    first = episode_of(wl("Failed", "2026-11-26T10:00:00Z"), NOW, THRESHOLD)
    second = episode_of(wl("Failed", "2026-11-26T11:00:00Z"), NOW, THRESHOLD)
    assert first and second and first.episode_id != second.episode_id


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        (wl("Completed", completedAt="2026-11-26T11:05:00Z"), "w1@2026-11-26T11:05:00+00:00"),
        (wl("Completed"), "w1@2026-11-26T11:00:00+00:00"),  # no completedAt: phaseUpdatedAt
        (wl("Failed", completedAt="2026-11-26T11:02:00Z"), "w1@2026-11-26T11:02:00+00:00"),
        (wl("Running"), None),
        (wl("Degraded"), None),
    ],
)
def test_runs(workload: Workload, expected: str | None) -> None:
    run = run_of(workload)
    assert (run.run_id if run else None) == expected


def test_detect_skips_known_and_counts_phases() -> None:
    workloads = [
        wl("Failed", id="a"),
        wl("Failed", id="b"),
        wl("Completed", id="c", projectName="team-b"),
        wl("Running", id="d"),
    ]
    known = {"a@2026-11-26T11:00:00+00:00"}
    found = detect(workloads, now=NOW, pending_threshold=THRESHOLD, known_episodes=known,
                   known_runs={"c@2026-11-26T11:00:00+00:00"})
    assert [e.workload.id for e in found.episodes] == ["b"]
    assert sorted(r.workload.id for r in found.runs) == ["a", "b"]
    assert found.phases == {("team-a", "Failed"): 2, ("team-b", "Completed"): 1,
                            ("team-a", "Running"): 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T11:00:00Z", datetime(2026, 11, 26, 11, tzinfo=UTC)),
        ("2026-11-26T13:00:00+02:00", datetime(2026, 11, 26, 11, tzinfo=UTC)),
        ("2026-11-26T11:00:00", datetime(2026, 11, 26, 11, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
        (12, None),
    ],
)
def test_parse_time_is_utc(text: Any, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_timeline_episodes_know_whether_they_are_the_present_one() -> None:
    from exporter.detect.episodes import from_history

    def update(at: str, phase: str) -> dict[str, Any]:
        return {"meta": {"creationTimestamp": at, "type": "PhaseUpdate"},
                "spec": {"phaseUpdate": {"phase": phase, "phaseMessage": ""}}}

    workload = wl("Failed", "2026-11-26T11:00:00Z")
    records = [update("2026-11-26T09:00:00Z", "Running"),
               update("2026-11-26T10:00:00Z", "Failed"),
               update("2026-11-26T10:10:00Z", "Running"),
               update("2026-11-26T11:00:00Z", "Failed")]
    episodes, runs = from_history(workload, records, now=NOW, pending_threshold=THRESHOLD)
    assert [(e.timestamp.hour, e.current) for e in episodes] == [(10, False), (11, True)]
    assert episodes[0].workload.phase == "Failed"
    assert episodes[0].workload.raw["phaseUpdatedAt"] == "2026-11-26T10:00:00Z"
    assert episodes[0].workload.phase_updated_at == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert all(e.timeline == tuple(records) for e in episodes)  # to tell their attempts apart
    assert len(runs) == 2


def test_an_episode_recorded_with_another_stamp_of_its_phase_change_is_not_new() -> None:
    """The timeline recorded it at the history record's creationTimestamp, 1.2 s after the
    listing's phaseUpdatedAt (and the run at completedAt): the same episode and run."""
    failed = wl("Failed", "2026-11-26T11:00:00.300Z", completedAt="2026-11-26T10:59:58.100Z")
    found = detect([failed], now=NOW, pending_threshold=THRESHOLD,
                   known_episodes={"w1@2026-11-26T11:00:01.500000+00:00"},
                   known_runs={"w1@2026-11-26T11:00:01.500000+00:00"})
    assert found.episodes == [] and found.runs == []


def test_a_recorded_entry_of_another_kind_or_long_before_does_not_hide_a_new_one() -> None:
    failed = wl("Failed", "2026-11-26T11:00:00Z")
    known = KnownEntries({"w1@2026-11-26T10:59:59+00:00": "degraded",  # Degraded, then Failed
                          "w1@2026-11-26T10:00:00+00:00": "failed"})  # an earlier attempt
    found = detect([failed], now=NOW, pending_threshold=THRESHOLD, known_episodes=known,
                   known_runs=set())
    assert [e.episode_id for e in found.episodes] == ["w1@2026-11-26T11:00:00+00:00"]


def test_one_recorded_entry_accounts_for_one_new_entry_the_nearest() -> None:
    at = parse_time("2026-11-26T11:00:00Z")
    assert at is not None
    items = [("w1", "degraded", at + timedelta(seconds=s)) for s in (0, 20)]
    known = KnownEntries({"w1@2026-11-26T11:00:18+00:00": "degraded"})
    assert known.new(items, lambda item: item) == [items[0]]


def test_a_workload_is_typed_once_from_the_api_json() -> None:
    data = {"id": "w1", "name": "train", "projectName": "team-a", "departmentName": "research",
            "type": "Training", "phase": "Failed", "phaseMessage": "exit 1", "clusterId": "c1",
            "namespace": "runai-team-a", "images": ["", "nvcr.io/pytorch:24.05"],
            "workloadRequestedResources": {"gpu": {"request": 8}},
            "createdAt": "2026-11-26T10:00:00Z", "phaseUpdatedAt": "2026-11-26T13:00:00+02:00",
            "completedAt": "2026-11-26T11:00:00.5Z", "deletedAt": None, "extra": {"kept": 1}}
    w = Workload.from_api(data)
    assert (w.id, w.name, w.project, w.department, w.type, w.phase, w.phase_message) == (
        "w1", "train", "team-a", "research", "Training", "Failed", "exit 1")
    assert (w.cluster_id, w.namespace, w.images, w.image, w.gpus_requested) == (
        "c1", "runai-team-a", ("nvcr.io/pytorch:24.05",), "nvcr.io/pytorch:24.05", 8.0)
    assert w.created_at == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert w.phase_updated_at == datetime(2026, 11, 26, 11, tzinfo=UTC)  # +02:00 read as UTC
    assert w.completed_at == datetime(2026, 11, 26, 11, 0, 0, 500000, tzinfo=UTC)
    assert w.deleted_at is None
    assert w.raw is data  # the evidence bundle keeps every field the API sent
    with pytest.raises(AttributeError):
        w.phase = "Running"  # type: ignore[misc]


@pytest.mark.parametrize(
    "data",
    [{}, {"id": 7, "name": None, "images": "x", "phaseUpdatedAt": 3,
          "workloadRequestedResources": {"gpu": {"request": True}}}],
)
def test_a_malformed_workload_never_raises(data: dict[str, Any]) -> None:
    w = Workload.from_api(data)
    assert (w.id, w.name, w.project, w.phase, w.images, w.gpus_requested,
            w.phase_updated_at) == ("", "", "", "", (), None, None)
    assert episode_of(w, NOW, THRESHOLD) is None and run_of(w) is None
