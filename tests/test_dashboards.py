"""The Grafana dashboards: generated, importable anywhere (no data source uid), laid out without
overlaps, every query parseable and filtered by the variables, thresholds equal to the alerts'."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.metrics import METRICS
from tests.dashboard_queries import (
    BUILTINS,
    DASHBOARD_DIR,
    VARIABLE,
    dashboards,
    panel_queries,
    panels,
)

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "generate_observability.py"
RULES_FILE = ROOT / "deploy" / "prometheus" / "runai-failure-analysis.rules.yml"
PROVISIONING = ROOT / "grafana" / "provisioning"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
UIDS = {"runai-workload-failures", "runai-failure-exporter"}
BOARDS = dashboards()
FAILURES = BOARDS["runai-workload-failures"]
HEALTH = BOARDS["runai-failure-exporter"]
QUERIES = panel_queries()


def by_title(board: dict[str, Any], title: str) -> dict[str, Any]:
    matches = [p for p in panels(board) if p["title"] == title]
    assert len(matches) == 1, f"{board['uid']}: {len(matches)} panels titled {title!r}"
    return matches[0]


def exprs(panel: dict[str, Any]) -> str:
    return "\n".join(t["expr"] for t in panel["targets"])


def alert_threshold(alert: str) -> float:
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    expr = next(r["expr"] for g in rules for r in g["rules"] if r.get("alert") == alert)
    match = re.search(r"(?:>|>=) ([0-9.]+)", expr)
    assert match, expr
    return float(match.group(1))


def threshold_line(panel: dict[str, Any]) -> float:
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"
    value: float = defaults["thresholds"]["steps"][-1]["value"]
    return value


# --- generation --------------------------------------------------------------------------------


def test_committed_dashboards_are_exactly_the_generated_ones(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--root", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    generated = {p.name: p.read_bytes() for p in (tmp_path / "grafana/dashboards").glob("*")}
    committed = {p.name: p.read_bytes() for p in DASHBOARD_DIR.glob("*")}
    assert generated.keys() == committed.keys()
    for name, content in generated.items():
        assert committed[name] == content, f"{name} is stale: run scripts/generate_observability.py"


# --- importable and well-formed ----------------------------------------------------------------


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_dashboard_identity(stem: str) -> None:
    board = BOARDS[stem]
    assert board["uid"] == stem and board["uid"] in UIDS and len(board["uid"]) <= 40
    assert board["id"] is None  # Grafana assigns ids; a fixed one collides on import
    assert board["schemaVersion"] >= 39
    assert board["timezone"] == "utc"
    assert board["title"] and board["description"]
    assert "runai" in board["tags"]


def datasource_refs(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [ref for value in node.values() for ref in datasource_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in datasource_refs(item)]
    return []


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_no_hard_coded_data_source(stem: str) -> None:
    builtin_annotations = {"type": "grafana", "uid": "-- Grafana --"}
    refs = datasource_refs(BOARDS[stem])
    assert refs
    assert all(ref in (DATASOURCE, builtin_annotations) for ref in refs), refs
    assert "__inputs" not in BOARDS[stem]  # imports without a data source mapping step


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_every_panel_is_described_and_queries_the_variable_data_source(stem: str) -> None:
    for panel in panels(BOARDS[stem]):
        if panel["type"] == "row":
            continue
        assert panel["description"].strip(), panel["title"]
        assert panel["datasource"] == DATASOURCE
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for t in panel["targets"]:
            assert t["datasource"] == DATASOURCE and t["expr"].strip()


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_panel_titles_are_unique(stem: str) -> None:
    titles = [p["title"] for p in panels(BOARDS[stem])]
    assert len(titles) == len(set(titles))


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_panels_fit_the_grid_without_overlapping(stem: str) -> None:
    placed = list(panels(BOARDS[stem]))
    assert len({p["id"] for p in placed}) == len(placed)
    cells: dict[tuple[int, int], str] = {}
    for panel in placed:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


# --- variables ---------------------------------------------------------------------------------


def variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


@pytest.mark.parametrize(
    ("stem", "names"),
    [
        ("runai-workload-failures",
         ["datasource", "cluster", "project", "workload_type", "category"]),
        ("runai-failure-exporter", ["datasource", "instance"]),
    ],
)
def test_variables(stem: str, names: list[str]) -> None:
    found = variables(BOARDS[stem])
    assert list(found) == names
    assert found["datasource"]["type"] == "datasource"
    assert found["datasource"]["query"] == "prometheus"
    for name in names[1:]:
        var = found[name]
        assert var["type"] == "query" and var["datasource"] == DATASOURCE
        assert var["multi"] and var["includeAll"] and var["allValue"] == ".*"
        assert re.fullmatch(rf"label_values\(\w+(\{{[^}}]*\}})?, {name}\)", var["definition"])
        assert var["query"]["query"] == var["definition"]


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_query_uses_only_defined_variables_and_matches_them_as_regex(query: Any) -> None:
    board = next(b for b in BOARDS.values() if b["uid"] == query.dashboard)
    defined = set(variables(board)) | set(BUILTINS)
    for match in VARIABLE.finditer(query.expr):
        name = match.group(1) or match.group(2)
        assert name in defined, f"{query}: ${name} is not a variable"
        if name not in BUILTINS:
            # Multi-value variables expand to a|b|c: only a regex matcher takes that.
            assert f'=~"${name}"' in query.expr, f"{query}: ${name} not matched with =~"


def test_every_failures_panel_follows_the_cluster_and_project_filters() -> None:
    for query in QUERIES:
        if query.dashboard == FAILURES["uid"]:
            assert 'cluster=~"$cluster"' in query.expr, query
            # Per-node panels cross projects: a node fails whatever project lands on it.
            if "runai_node_failures" not in query.expr:
                assert '=~"$project"' in query.expr, query


# --- every query parses, and reads only metrics that exist -------------------------------------


@pytest.mark.prometheus
def test_every_query_parses(tmp_path: Path) -> None:
    """promtool parses each query (variables substituted) as a recording rule's expression."""
    checks = [{"record": f"dashboard:query_{i}:check", "expr": q.substituted()} for i, q in
              enumerate(QUERIES)]
    rules = tmp_path / "queries.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": checks}]}), "utf-8")
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run `make system-deps`"
    result = subprocess.run(
        [binary, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(QUERIES)} rules found" in result.stdout


def test_every_metric_queried_is_exported_or_recorded() -> None:
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    recorded = {r["record"] for g in rules for r in g["rules"] if "record" in r}
    exported = {"up"}
    for spec in METRICS:
        suffixes = ("_bucket", "_count", "_sum") if spec.type == "histogram" else ("",)
        exported |= {spec.name + suffix for suffix in suffixes}
    for query in QUERIES:
        names = re.findall(r"[a-zA-Z_:][\w:]*(?=\{)", query.expr)
        assert names, query
        for name in names:
            assert name in exported or name in recorded, f"{query}: unknown metric {name}"


# --- what the issue asks each dashboard to show --------------------------------------------------


@pytest.mark.parametrize(
    ("title", "must_contain"),
    [
        ("Failures by category", "sum by (category)"),
        ("Failures by project", "sum by (project)"),
        ("Failures by workload type", "sum by (workload_type)"),
        ("Failure ratio by project, trailing 1h", "runai_workloads_finished:rate1h"),
        ("Failure ratio by project", "sum by (project) (increase(runai_workloads_finished"),
        ("Top categories", "topk(10, sum by (category) (increase("),
        ("Top projects", "topk(10, sum by (project) (increase("),
        ("Failed now", 'phase="Failed"'),
        ("Pending now", 'phase="Pending"'),
        ("GPU hardware failures by node", 'runai_node_failures:increase1h{cluster=~"$cluster", '
         'category="gpu_hardware"}'),
        ("Failures a node can cause, by node", 'category!="gpu_hardware"'),
        ("Out-of-memory failures by project", 'category=~"oom_killed|gpu_oom"'),
    ],
)
def test_failures_dashboard_panels(title: str, must_contain: str) -> None:
    assert must_contain in exprs(by_title(FAILURES, title))


def test_failures_over_time_are_stacked() -> None:
    for title in ("Failures by category", "Failures by project", "Failures by workload type"):
        custom = by_title(FAILURES, title)["fieldConfig"]["defaults"]["custom"]
        assert custom["stacking"]["mode"] == "normal"


@pytest.mark.parametrize(
    ("title", "must_contain"),
    [
        ("Scrape", "up{"),
        ("Last poll", "runai_failure_exporter_up{"),
        ("Since last successful poll", "time() - max(runai_failure_exporter_last_success_"),
        ("Poll duration", "histogram_quantile(0.95, sum by (le) (rate(runai_failure_exporter_"),
        ("API requests by status code", "sum by (code)"),
        ("DB write errors", "runai_failure_exporter_db_write_errors_total{"),
    ],
)
def test_health_dashboard_panels(title: str, must_contain: str) -> None:
    assert must_contain in exprs(by_title(HEALTH, title))


def test_threshold_lines_equal_the_alert_thresholds() -> None:
    ratio = by_title(FAILURES, "Failure ratio by project, trailing 1h")
    assert threshold_line(ratio) == alert_threshold("RunaiProjectFailureRatioHigh")
    oom = by_title(FAILURES, "Out-of-memory failures by project")
    assert threshold_line(oom) == alert_threshold("RunaiOOMKillsRecurring")
    stale = by_title(HEALTH, "Time since last successful poll")
    assert threshold_line(stale) == alert_threshold("RunaiFailureExporterPollsStale")


# --- provisioning ------------------------------------------------------------------------------


def test_datasource_provisioning() -> None:
    config = yaml.safe_load((PROVISIONING / "datasources/prometheus.yaml").read_text("utf-8"))
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    assert source["url"].startswith("http")


def test_dashboard_provisioning_loads_the_dashboard_files() -> None:
    config = yaml.safe_load((PROVISIONING / "dashboards/dashboards.yaml").read_text("utf-8"))
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    assert provider["allowUiUpdates"] is False  # the files are the source of truth
