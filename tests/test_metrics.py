"""The metric table, the collector's values, and promtool's verdict on the exposition."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest
from prometheus_client import generate_latest

from exporter.metrics import (
    METRICS,
    VANISHED_PROJECT_GRACE_S,
    FailureObservation,
    MetricsState,
    make_registry,
)
from tests.fixtures_store import BASE_TIME, make_failure

LIBRARY_FAMILIES = {
    "process_cpu_seconds", "process_max_fds", "process_open_fds", "process_resident_memory_bytes",
    "process_start_time_seconds", "process_virtual_memory_bytes", "python_info",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exposed_families(state: MetricsState) -> dict[str, str]:
    registry = make_registry(state)
    return {m.name: m.type for m in registry.collect()}


def samples(state: MetricsState, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    registry = make_registry(state)
    return {
        tuple(sorted(s.labels.items())): s.value
        for m in registry.collect() for s in m.samples if s.name == name
    }


def test_every_declared_family_is_exported_with_the_librarys_process_metrics() -> None:
    state = MetricsState(["team-a"])
    declared = {s.name.removesuffix("_total"): s.type for s in METRICS}
    assert exposed_families(state) == declared | {
        name: t for name, t in exposed_families(state).items() if name in LIBRARY_FAMILIES
    }
    assert {"process_resident_memory_bytes", "python_info"} <= set(exposed_families(state))


def test_nothing_is_exposed_for_what_never_happened() -> None:
    """No pre-filled grid of zeros: 500 quiet projects cost no failure series."""
    state = MetricsState([f"team-{i}" for i in range(500)])
    state.poll_succeeded({("team-1", "Running"): 3, ("team-1", "Pending"): 0}, 0.1, 1.0)
    text = generate_latest(make_registry(state)).decode()
    assert "runai_workload_failures_total{" not in text
    assert 'phase="Pending"' not in text  # a phase with no workloads is absent, not 0
    assert 'runai_workloads{cluster="default",phase="Running",project="team-1"} 3.0' in text


def test_a_new_series_is_born_at_zero_and_counts_from_the_next_scrape() -> None:
    clock = Clock()
    state = MetricsState(clock=clock)
    state.record_failure("team-a", "training", "failed", "gpu_hardware")
    key = (("category", "gpu_hardware"), ("cluster", "default"), ("project", "team-a"),
           ("workload_type", "training"))
    registry = make_registry(state)
    first = {tuple(sorted(s.labels.items())): s.value for m in registry.collect()
             for s in m.samples if s.name == "runai_workload_failures_total"}
    assert first[key] == 0  # Prometheus sees the series at 0 first, so increase() sees the 1
    second = samples(state, "runai_workload_failures_total")
    assert second[key] == 1
    state.record_failure("team-a", "training", "failed", "gpu_hardware")
    assert samples(state, "runai_workload_failures_total")[key] == 2  # known series: at once


def test_without_a_scrape_a_held_increment_is_released_after_the_hold() -> None:
    clock = Clock()
    state = MetricsState(clock=clock, hold_new_series_s=300)
    state.record_failure("team-a", "training", "failed", "nccl")
    clock.now += 301
    values = samples(state, "runai_workload_failures_total")
    assert list(values.values()) == [1]


def test_backfilled_failures_never_reach_the_live_counters() -> None:
    state = MetricsState(hold_new_series_s=0)
    old = make_failure("wl-1", category="gpu_hardware", node="dgx-01")
    state.record(old, recorded_at=BASE_TIME + timedelta(days=3), live=False)
    state.record_finished("team-a", "training", live=False)
    text = generate_latest(make_registry(state)).decode()
    assert "runai_workload_failures_total{" not in text
    assert "runai_node_failures_total{" not in text
    assert "runai_workloads_finished_total{" not in text
    assert ('runai_workload_failures_backfilled_total{cluster="default",kind="failed",'
            'project="team-a"} 1.0') in text
    assert ('runai_workloads_finished_backfilled_total{cluster="default",project="team-a"} 1.0'
            in text)


def test_a_live_failure_feeds_node_xid_gpu_time_and_delay_series() -> None:
    state = MetricsState(cluster="prod-east", hold_new_series_s=0)
    failed_at = BASE_TIME
    record = make_failure(
        "wl-1", failed_at, category="gpu_hardware", node="dgx-01", gpus_requested=8.0,
        details={"xid": 79},
        bundle={"workload": {"createdAt": (failed_at - timedelta(hours=2)).isoformat()}},
    )
    state.record(record, recorded_at=failed_at + timedelta(seconds=45), live=True)
    r = make_registry(state)
    get = r.get_sample_value
    assert get("runai_node_failures_total",
               {"cluster": "prod-east", "node": "dgx-01", "category": "gpu_hardware"}) == 1
    assert get("runai_node_gpu_xid_failures_total",
               {"cluster": "prod-east", "node": "dgx-01", "xid": "79"}) == 1
    assert get("runai_workload_failure_gpu_seconds_total",
               {"cluster": "prod-east", "project": "team-a"}) == 8 * 2 * 3600
    assert get("runai_workload_time_to_failure_seconds_count",
               {"cluster": "prod-east", "category": "gpu_hardware"}) == 1
    assert get("runai_workload_time_to_failure_seconds_sum",
               {"cluster": "prod-east", "category": "gpu_hardware"}) == 7200
    assert get("runai_failure_exporter_recording_delay_seconds_bucket",
               {"cluster": "prod-east", "le": "60.0"}) == 1
    assert get("runai_failure_exporter_recording_delay_seconds_bucket",
               {"cluster": "prod-east", "le": "30.0"}) == 0


def test_only_categories_a_node_can_cause_are_counted_per_node() -> None:
    state = MetricsState(hold_new_series_s=0)
    for category in ("gpu_oom", "app_error", "nccl", "evicted"):
        state.observe_failure(
            FailureObservation("team-a", "training", "failed", category, node="n1"), live=True
        )
    per_node = samples(state, "runai_node_failures_total")
    assert sorted(dict(k)["category"] for k in per_node) == ["evicted", "nccl"]


def test_series_of_a_vanished_project_are_dropped_after_the_grace() -> None:
    clock = Clock()
    state = MetricsState(clock=clock, hold_new_series_s=0)
    state.record_failure("gone", "training", "failed", "gpu_hardware")
    state.record_failure("stays", "training", "failed", "gpu_hardware")
    clock.now += VANISHED_PROJECT_GRACE_S - 1
    state.poll_succeeded({("stays", "Running"): 1}, 0.1, 1.0)
    assert len(samples(state, "runai_workload_failures_total")) == 2
    clock.now += 2
    state.poll_succeeded({("stays", "Running"): 1}, 0.1, 2.0)
    projects = [dict(k)["project"] for k in samples(state, "runai_workload_failures_total")]
    assert projects == ["stays"]


def test_values_after_known_events() -> None:
    state = MetricsState(hold_new_series_s=0)
    state.record_failure("team-a", "training", "failed", "oom_killed")
    state.record_failure("team-a", "training", "failed", "oom_killed")
    state.record_failure("team-a", "training", "pending", "unschedulable")
    state.record_finished("team-a", "training")
    state.observe_request("/api/v1/workloads", "200")
    state.observe_request("/api/v1/workloads", "503")
    state.poll_succeeded({("team-a", "Failed"): 2, ("team-a", "Running"): 5}, 0.3, 1_700_000_000,
                         pending_oldest={"team-a": 42.0})
    state.poll_failed(2.0)
    state.write_result(failed=True, pending=4)
    r = make_registry(state)
    get = r.get_sample_value
    c = {"cluster": "default"}
    assert get("runai_workload_failures_total",
               {**c, "project": "team-a", "workload_type": "training",
                "category": "oom_killed"}) == 2
    # a pending episode is an episode, not a failure
    assert get("runai_workload_failures_total", {**c, "project": "team-a", "workload_type":
               "training", "category": "unschedulable"}) is None
    assert get("runai_workload_episodes_total",
               {**c, "project": "team-a", "workload_type": "training", "kind": "pending"}) == 1
    assert get("runai_workloads_finished_total",
               {**c, "project": "team-a", "workload_type": "training"}) == 1
    assert get("runai_workloads", {**c, "project": "team-a", "phase": "Running"}) == 5
    assert get("runai_workloads_pending_oldest_age_seconds", {**c, "project": "team-a"}) == 42
    assert get("runai_failure_exporter_up", c) == 0
    assert get("runai_failure_exporter_last_success_timestamp_seconds", c) == 1_700_000_000
    assert get("runai_failure_exporter_polls_total", {**c, "result": "success"}) == 1
    assert get("runai_failure_exporter_poll_duration_seconds_count", c) == 2
    assert get("runai_failure_exporter_poll_duration_seconds_bucket", {**c, "le": "0.5"}) == 1
    assert get("runai_failure_exporter_poll_duration_seconds_sum", c) == pytest.approx(2.3)
    assert get("runai_failure_exporter_api_requests_total",
               {**c, "endpoint": "/api/v1/workloads", "code": "503"}) == 1
    assert get("runai_failure_exporter_db_write_errors_total", c) == 1
    assert get("runai_failure_exporter_pending_writes", c) == 4


def test_every_own_series_carries_the_cluster_label() -> None:
    state = MetricsState(cluster="dc-2", hold_new_series_s=0)
    state.record_failure("team-a", "training", "failed", "nccl")
    state.poll_succeeded({("team-a", "Failed"): 1}, 0.2, 1.0)
    for family in make_registry(state).collect():
        if family.name in LIBRARY_FAMILIES:
            continue
        for sample in family.samples:
            assert sample.labels.get("cluster") == "dc-2", sample


def test_no_unbounded_labels() -> None:
    allowed = {"project", "workload_type", "category", "kind", "phase", "result", "endpoint",
               "code", "version", "python_version", "node", "xid", "mode"}
    assert {label for spec in METRICS for label in spec.labels} <= allowed


def test_exposition_has_help_and_type_for_every_family() -> None:
    text = generate_latest(make_registry(MetricsState(["p"]))).decode()
    for spec in METRICS:
        assert f"# HELP {spec.name} " in text
        assert f"# TYPE {spec.name} {spec.type}\n" in text


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_is_clean() -> None:
    state = MetricsState(["team-a"], hold_new_series_s=0)
    state.record(make_failure(node="n1", category="gpu_hardware", details={"xid": 48}),
                 recorded_at=BASE_TIME + timedelta(seconds=30), live=True)
    state.observe_request("k8s:/pods/{pod}/log", "timeout")
    state.poll_succeeded({("team-a", "Failed"): 1}, 0.2, 1_700_000_000)
    text = generate_latest(make_registry(state))
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""
