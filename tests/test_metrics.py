"""The metric table, the collector's values, and promtool's verdict on the exposition."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from exporter.metrics import METRICS, PHASES, MetricsState, make_registry
from history.categories import CATEGORIES, KINDS, WORKLOAD_TYPES


def exposed_families(state: MetricsState) -> dict[str, str]:
    registry = make_registry(state)
    return {m.name: m.type for m in registry.collect()}


def test_every_declared_family_is_exported_and_nothing_else() -> None:
    state = MetricsState(["team-a"])
    declared = {s.name.removesuffix("_total"): s.type for s in METRICS}
    assert exposed_families(state) == declared


def test_known_combinations_are_zero_before_first_increment() -> None:
    state = MetricsState(["team-a", "team-b"])
    registry = make_registry(state)
    for project in ("team-a", "team-b"):
        for wtype in WORKLOAD_TYPES:
            for category in CATEGORIES:
                labels = {"project": project, "workload_type": wtype, "category": category}
                assert registry.get_sample_value("runai_workload_failures_total", labels) == 0
            for kind in KINDS:
                labels = {"project": project, "workload_type": wtype, "kind": kind}
                assert registry.get_sample_value("runai_workload_episodes_total", labels) == 0
            labels = {"project": project, "workload_type": wtype}
            assert registry.get_sample_value("runai_workloads_finished_total", labels) == 0
        for phase in PHASES:
            labels = {"project": project, "phase": phase}
            assert registry.get_sample_value("runai_workloads", labels) == 0
    assert registry.get_sample_value("runai_failure_exporter_polls_total",
                                     {"result": "failure"}) == 0
    assert registry.get_sample_value("runai_failure_exporter_up") == 0


def test_values_after_known_events() -> None:
    state = MetricsState()
    state.record_failure("team-a", "training", "failed", "oom_killed")
    state.record_failure("team-a", "training", "failed", "oom_killed")
    state.record_failure("team-a", "training", "pending", "unschedulable")
    state.record_finished("team-a", "training")
    state.observe_request("/api/v1/workloads", "200")
    state.observe_request("/api/v1/workloads", "503")
    state.poll_succeeded({("team-a", "Failed"): 2, ("team-a", "Running"): 5}, 0.3, 1_700_000_000)
    state.poll_failed(2.0)
    state.write_result(failed=True, pending=4)
    r = make_registry(state)
    get = r.get_sample_value
    assert get("runai_workload_failures_total",
               {"project": "team-a", "workload_type": "training", "category": "oom_killed"}) == 2
    # a pending episode is an episode, not a failure
    assert get("runai_workload_failures_total", {"project": "team-a", "workload_type":
               "training", "category": "unschedulable"}) == 0
    assert get("runai_workload_episodes_total",
               {"project": "team-a", "workload_type": "training", "kind": "pending"}) == 1
    assert get("runai_workloads_finished_total",
               {"project": "team-a", "workload_type": "training"}) == 1
    assert get("runai_workloads", {"project": "team-a", "phase": "Running"}) == 5
    assert get("runai_failure_exporter_up") == 0
    assert get("runai_failure_exporter_last_success_timestamp_seconds") == 1_700_000_000
    assert get("runai_failure_exporter_polls_total", {"result": "success"}) == 1
    assert get("runai_failure_exporter_poll_duration_seconds_count") == 2
    assert get("runai_failure_exporter_poll_duration_seconds_bucket", {"le": "0.5"}) == 1
    assert get("runai_failure_exporter_poll_duration_seconds_sum") == pytest.approx(2.3)
    assert get("runai_failure_exporter_api_requests_total",
               {"endpoint": "/api/v1/workloads", "code": "503"}) == 1
    assert get("runai_failure_exporter_db_write_errors_total") == 1
    assert get("runai_failure_exporter_pending_writes") == 4


def test_no_unbounded_labels() -> None:
    allowed = {"project", "workload_type", "category", "kind", "phase", "result", "endpoint",
               "code", "version", "python_version"}
    assert {label for spec in METRICS for label in spec.labels} <= allowed


def test_exposition_has_help_and_type_for_every_family() -> None:
    text = generate_latest(make_registry(MetricsState(["p"]))).decode()
    for spec in METRICS:
        assert f"# HELP {spec.name} " in text
        assert f"# TYPE {spec.name} {spec.type}\n" in text


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_is_clean() -> None:
    state = MetricsState(["team-a"])
    state.record_failure("team-a", "distributed", "failed", "nccl")
    state.observe_request("k8s:/pods/{pod}/log", "timeout")
    state.poll_succeeded({("team-a", "Failed"): 1}, 0.2, 1_700_000_000)
    text = generate_latest(make_registry(state))
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""
