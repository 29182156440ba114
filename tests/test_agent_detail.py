"""One failure in detail, on a real seeded DuckDB file."""

from __future__ import annotations

from agent.tools import detail
from agent.tools.reading import run_query
from tests.fixtures_agent import AgentHistory


def test_detail_returns_latest_episode_evidence_and_timeline(agent_history: AgentHistory) -> None:
    h = agent_history
    result = run_query(h.ctx, lambda c: detail.failure_detail(c, workload_name="train-llama-7b"))
    assert result.status == "ok"
    failure = result.data["failure"]
    latest = h.scalar(
        "SELECT max(\"timestamp\") FROM failure_events WHERE workload_name = 'train-llama-7b'"
    )
    assert failure["timestamp"] == latest.isoformat()
    assert failure["evidence"].startswith("torch.OutOfMemoryError")
    assert {c["category"]: c["failures"] for c in result.data["failures_by_category"]} == {
        "gpu_oom": 3,
        "app_error": 1,
    }
    whats = [t["what"] for t in result.data["timeline"]]
    assert "event" in whats and any(w.startswith("failure recorded") for w in whats)
    assert [t["at"] for t in result.data["timeline"]] == sorted(
        t["at"] for t in result.data["timeline"]
    )


def test_detail_of_unknown_workload_is_no_data(agent_history: AgentHistory) -> None:
    result = run_query(agent_history.ctx, lambda c: detail.failure_detail(c, workload_name="nope"))
    assert result.status == "no_data"
    assert "no recorded failure of nope" in result.message
