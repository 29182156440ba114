"""Window analysis on seeded histories: trend, top causes, hot nodes, repeaters, actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.tools.catalog import run_tool
from agent.types import ToolResult
from tests.fixtures_agent import AgentHistory, make_agent_history


def analyze(h: AgentHistory, **args: Any) -> ToolResult:
    return run_tool(h.ctx, "analyze_failures", args)


def test_trend_is_judged_by_rate_not_by_count(tmp_path: Path) -> None:
    # More failures this week, but many more runs: the rate went down.
    spec = {
        "failures": [
            {"workload_name": "a", "at": "-1d", "count": 4, "every": "1h"},
            {"workload_name": "b", "at": "-8d", "count": 2, "every": "1h"},
        ],
        "runs": [
            {"at": "-2d", "count": 36, "every": "1h"},
            {"at": "-9d", "count": 2, "every": "1h"},
        ],
    }
    h = make_agent_history(tmp_path, spec)
    data = analyze(h, window="last 7 days").data
    assert (data["current"]["failures"], data["previous"]["failures"]) == (4, 2)
    assert data["current"]["failure_rate"] == 0.1  # 4 failed of 40 finished
    assert data["previous"]["failure_rate"] == 0.5  # 2 failed of 4 finished
    assert data["trend"]["direction"] == "down"
    assert data["trend"]["judged_by"] == "failure rate"
    assert data["trend"]["failures_change_pct"] == 100.0


def test_trend_by_count_when_runs_are_recorded_only_from_inside_the_window(
    tmp_path: Path,
) -> None:
    # Failures go back weeks, completed runs only three days: the previous window holds its
    # one failed run alone (1 of 1 = 100 %), so "down" to 6 of 30 would be an artefact.
    spec = {
        "failures": [
            {"workload_name": "a", "at": "-1d", "count": 6, "every": "2h"},
            {"workload_name": "b", "at": "-9d"},
            {"workload_name": "c", "at": "-30d"},
        ],
        "runs": [{"at": "-1h", "count": 24, "every": "3h"}],
    }
    trend = analyze(make_agent_history(tmp_path, spec), window="last 7 days").data["trend"]
    assert (trend["direction"], trend["judged_by"]) == ("up", "failure count")
    assert trend["failure_rate_change"] is not None and trend["failure_rate_change"] < 0
    assert "no completed run is recorded before" in trend["reason"]


def test_trend_by_count_when_there_are_no_runs(tmp_path: Path) -> None:
    spec = {
        "failures": [
            {"workload_name": "old", "kind": "pending", "at": "-30d"},  # the history begins
            {"workload_name": "a", "kind": "pending", "at": "-1d"},
        ]
    }
    data = analyze(make_agent_history(tmp_path, spec)).data
    assert data["trend"] == {
        "failures_change": 1,
        "failures_change_pct": None,
        "failure_rate_change": None,
        "direction": "up",
        "judged_by": "failure count",
    }


def test_no_trend_against_a_window_before_the_history(tmp_path: Path) -> None:
    # One failure yesterday and nothing before: "up" would be a rise against missing data.
    spec = {"failures": [{"workload_name": "a", "kind": "pending", "at": "-1d"}]}
    trend = analyze(make_agent_history(tmp_path, spec)).data["trend"]
    assert (trend["direction"], trend["judged_by"]) == ("unknown", "no comparison")
    assert trend["reason"].startswith("the history begins 2026-11-25 12:00 UTC")


def test_actions_ranked_by_gpus_affected(agent_history: AgentHistory) -> None:
    data = analyze(agent_history, window="last 7 days").data
    gpus = [a["gpus_requested"] for a in data["actions"]]
    assert gpus == sorted(gpus, reverse=True)
    first = data["actions"][0]
    assert first["category"] == "unschedulable" and first["gpus_requested"] == 64.0
    hardware = next(a for a in data["actions"] if a["category"] == "gpu_hardware")
    assert hardware["targets"] == ["node-gpu-03"]


def test_repeaters_and_peaks(agent_history: AgentHistory) -> None:
    data = analyze(agent_history, window="last 7 days").data
    repeat = {w["workload_name"]: w for w in data["repeating_workloads"]}
    assert repeat["train-llama-7b"]["failures"] == 3
    assert repeat["train-llama-7b"]["top_category"] == "gpu_oom"
    assert "dist-gpt" not in repeat  # failed once in this window
    images = {i["image"]: i for i in data["repeating_images"]}
    assert images["nvcr.io/nvidia/pytorch:24.05-py3"]["workloads"] == 2
    hours = data["peak_hours_utc"]
    assert len(hours) <= 3 and all(0 <= h["hour_utc"] < 24 for h in hours)
    assert sum(d["failures"] for d in data["daily"]) == data["current"]["failures"]


def test_category_filter_rates_use_that_category(agent_history: AgentHistory) -> None:
    data = analyze(agent_history, window="last 7 days", category="gpu_hardware").data
    (node,) = data["hot_nodes"]
    assert node["node"] == "node-gpu-03"
    assert node["failure_rate"] == round(3 / node["finished_runs"], 6)
    assert data["current"]["failed_runs"] is None  # runs have no category


def test_each_cause_carries_its_newest_evidence(agent_history: AgentHistory) -> None:
    causes = analyze(agent_history).data["top_causes"]
    hardware = next(c for c in causes if c["category"] == "gpu_hardware")
    assert hardware["example"]["evidence"] == "Xid 48: uncorrectable ECC error encountered"
    assert hardware["example"]["workload_name"] == "resnet-sweep"


def test_empty_selection_is_no_data(agent_empty_history: AgentHistory) -> None:
    result = analyze(agent_empty_history)
    assert result.status == "no_data"
    assert "is the sidecar running?" in result.message
