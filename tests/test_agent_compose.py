"""Composing answers from tool results: trend sentences and the chart's data."""

from __future__ import annotations

from typing import Any

import pytest

from agent.answer.compose import chart, during, example, trend_sentence


def _trend(direction: str, before: float | None, now: float | None) -> dict[str, Any]:
    judged = "failure rate" if before is not None and now is not None else "failure count"
    return {
        "current": {"failures": 6, "failure_rate": now, "finished_runs": 30 if now else 0},
        "previous": {"failures": 2, "failure_rate": before, "finished_runs": 20 if before else 0},
        "trend": {
            "direction": direction,
            "judged_by": judged,
            "failure_rate_change": None if judged == "failure count" else now - before,  # type: ignore[operator]
        },
    }


def test_trend_sentence_by_rate() -> None:
    text = trend_sentence(_trend("up", 0.1, 0.2))
    assert text == (
        "The failure rate went **up**: 10.0% in the previous window → 20.0% now (+10.0 pp); "
        "failures 2 → 6."
    )


def test_trend_sentence_by_count() -> None:
    text = trend_sentence(_trend("up", None, None))
    assert text.startswith("Failures went **up**: 2 in the previous window → 6 now")
    assert "no finished runs" in text


def test_chart_fills_missing_days_with_zero() -> None:
    daily = [
        {"day": "2026-11-24", "category": "nccl", "failures": 2},
        {"day": "2026-11-25", "category": "gpu_oom", "failures": 3},
    ]
    assert chart({"daily": daily}) == {
        "type": "failures_per_day",
        "days": ["2026-11-24", "2026-11-25"],
        "series": {"gpu_oom": [0, 3], "nccl": [2, 0]},
    }


def test_example_quotes_evidence() -> None:
    found = {"evidence": "a | b `c`", "workload_name": "w"}
    assert example(found) == "`` a \\| b `c` `` (`w`)"
    assert example(None) == "_no evidence recorded_"


@pytest.mark.parametrize(
    ("label", "phrase"),
    [
        ("since Monday", "since Monday"),
        ("last 7 days", "last 7 days"),
        ("November 2026", "in November 2026"),
        ("2026-11-25", "on 2026-11-25"),
        ("Tuesday 2026-11-24", "on Tuesday 2026-11-24"),
        ("from 2026-11-20 to 2026-11-24", "from 2026-11-20 to 2026-11-24"),
    ],
)
def test_a_window_reads_as_a_phrase_after_a_count(label: str, phrase: str) -> None:
    assert during(label) == phrase  # never "in since Monday"
