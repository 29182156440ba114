"""docs/metrics.md lists exactly the metric families a scrape of the exporter returns."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.metrics import METRICS, MetricsState, make_registry
from tests.fixtures_store import BASE_TIME, make_failure

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(\w+)` \| (counter|gauge|histogram) \| ([^|]+) \|")


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    text = DOC.read_text()
    table = text.split("<!-- metrics-table", 1)[1].split("<!-- end metrics-table -->", 1)[0]
    rows: dict[str, tuple[str, frozenset[str]]] = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if match:
            name, kind, labels = match.groups()
            assert name not in rows, f"{name} documented twice"
            rows[name] = (kind, frozenset(re.findall(r"`(\w+)`", labels)))
    return rows


def scraped() -> dict[str, tuple[str, frozenset[str]]]:
    """A scrape of the exporter's registry, with every labelled family holding a sample."""
    state = MetricsState(projects=["team-a"], hold_new_series_s=0)
    state.record(
        make_failure(category="gpu_hardware", node="n1", gpus_requested=1.0,
                     details={"xid": 79},
                     bundle={"workload": {"createdAt": "2026-11-20T07:00:00Z"}}),
        recorded_at=BASE_TIME + timedelta(seconds=40), live=True,
    )
    state.record_failure("team-a", "training", "failed", "oom_killed", live=False)
    state.record_finished("team-a", "training")
    state.record_finished("team-a", "training", live=False)
    state.observe_request("/api/v1/workloads", "200")
    state.poll_succeeded({("team-a", "Running"): 1}, duration_s=0.2, at=1.0,
                         pending_oldest={"team-a": 5.0})
    text = generate_latest(make_registry(state)).decode()
    families: dict[str, tuple[str, frozenset[str]]] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        if family.name.startswith(("process_", "python_")):
            continue  # the library's own, documented as a group
        labels = frozenset(
            k for s in family.samples for k in s.labels if k not in ("le", "cluster")
        )
        families[name] = (family.type, labels)
    return families


def test_the_metrics_table_equals_a_scrape() -> None:
    assert documented() == scraped()


def test_the_metrics_table_equals_the_declared_table() -> None:
    declared = {m.name: (m.type, frozenset(m.labels)) for m in METRICS}
    assert documented() == declared


def test_the_comparison_would_notice_a_missing_row() -> None:
    rows = documented()
    rows.pop("runai_failure_exporter_up")
    assert rows != scraped()
