"""The Prometheus rules: generated, valid for promtool, unit-tested on both sides of every alert,
identical in the PrometheusRule, each alert linked to its runbook section."""

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

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "runai-failure-analysis.rules.yml"
UNIT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
PROMETHEUS_RULE = ROOT / "deploy" / "k8s" / "prometheusrule.yaml"
DEMO_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
GENERATOR = ROOT / "scripts" / "generate_observability.py"
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
EXPORTER_JOB = 'job="runai-failure-exporter"'


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


GROUPS: list[dict[str, Any]] = load_yaml(RULES_FILE)["groups"]
RULES = [rule for group in GROUPS for rule in group["rules"]]
ALERTS = {rule["alert"]: rule for rule in RULES if "alert" in rule}
RECORDINGS = {rule["record"]: rule for rule in RULES if "record" in rule}


def promtool(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: run `make system-deps` (Debian package prometheus)")
    return subprocess.run(
        [binary, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def run_generator(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def minutes(duration: str) -> int:
    """A Prometheus duration made of h and m parts, in minutes ("1h31m" -> 91)."""
    parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?", duration)
    assert parts and duration, f"unsupported duration {duration!r}"
    days, hours, mins = (int(p or 0) for p in parts.groups())
    return (days * 24 + hours) * 60 + mins


# --- generation --------------------------------------------------------------------------------


def test_committed_rules_equal_generator_output() -> None:
    result = run_generator("--check")
    assert result.returncode == 0, result.stderr


def test_generator_check_names_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    assert run_generator("--root", tmp_path).returncode == 0
    generated = tmp_path / RULES_FILE.relative_to(ROOT)
    assert generated.read_text(encoding="utf-8") == RULES_FILE.read_text(encoding="utf-8")
    generated.write_text("groups: []\n", encoding="utf-8")

    result = run_generator("--check", "--root", tmp_path)

    assert result.returncode == 1
    assert "deploy/prometheus/runai-failure-analysis.rules.yml" in result.stderr
    assert result.stderr.startswith("ERROR: ")
    assert generated.read_text(encoding="utf-8") == "groups: []\n"


def test_prometheus_rule_carries_exactly_the_plain_rule_groups() -> None:
    resource = load_yaml(PROMETHEUS_RULE)
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["metadata"]["name"] == "runai-failure-analysis"
    assert set(resource) == {"apiVersion", "kind", "metadata", "spec"}
    assert resource["spec"] == {"groups": GROUPS}


# --- promtool ----------------------------------------------------------------------------------


@pytest.mark.prometheus
def test_promtool_check_rules_is_clean() -> None:
    result = promtool("check", "rules", RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in result.stdout


@pytest.mark.prometheus
def test_prometheus_rule_spec_passes_promtool(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump(load_yaml(PROMETHEUS_RULE)["spec"]), encoding="utf-8")
    result = promtool("check", "rules", spec)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # the spike tests replay a day of samples: about 5 s
@pytest.mark.prometheus
def test_promtool_unit_tests_pass() -> None:
    assert UNIT_TESTS
    result = promtool("test", "rules", *UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout + result.stderr


@pytest.mark.prometheus
def test_demo_config_scrapes_the_exporter_and_loads_the_rules() -> None:
    result = promtool("check", "config", DEMO_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_yaml(DEMO_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    exporter = jobs["runai-failure-exporter"]
    assert exporter["static_configs"] == [{"targets": ["127.0.0.1:10108"]}]
    assert [(PROMETHEUS_DIR / f).resolve() for f in config["rule_files"]] == [RULES_FILE]


# --- every alert tested on both sides ----------------------------------------------------------


def unit_test_groups() -> list[dict[str, Any]]:
    return [group for path in UNIT_TESTS for group in load_yaml(path)["tests"]]


def alert_checks(alert: str) -> list[tuple[int, bool, int]]:
    """(test group index, fires?, eval minute) of every alert_rule_test of `alert`."""
    return [
        (index, bool(check["exp_alerts"]), minutes(check["eval_time"]))
        for index, group in enumerate(unit_test_groups())
        for check in group.get("alert_rule_test", [])
        if check["alertname"] == alert
    ]


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_every_alert_is_unit_tested_firing_and_silent(alert: str) -> None:
    checks = alert_checks(alert)
    assert any(fires for _, fires, _ in checks), f"{alert}: no test where it fires"
    assert any(not fires for _, fires, _ in checks), f"{alert}: no test where it stays silent"


@pytest.mark.parametrize("alert", sorted(a for a, rule in ALERTS.items() if "for" in rule))
def test_for_window_is_tested_one_evaluation_before_it_fires(alert: str) -> None:
    """Silent one minute (the tests' evaluation interval) before the first firing check."""
    checks = alert_checks(alert)
    firsts = {
        index: min(t for i, fires, t in checks if i == index and fires)
        for index, fires, _ in checks
        if fires
    }
    assert any(
        (index, False, first - 1) in checks for index, first in firsts.items()
    ), f"{alert}: no silent check one minute before it starts firing"


def alert_tests_only(alert: str) -> list[dict[str, Any]]:
    return [
        group
        for group in unit_test_groups()
        if any(c["alertname"] == alert for c in group.get("alert_rule_test", []))
    ]


def shifted_for(alert: str, delta_minutes: int) -> list[dict[str, Any]]:
    groups = yaml.safe_load(yaml.safe_dump(GROUPS))
    for group in groups:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["for"] = f"{minutes(rule['for']) + delta_minutes}m"
    return groups


@pytest.mark.slow
@pytest.mark.prometheus
@pytest.mark.parametrize("alert", sorted(a for a, rule in ALERTS.items() if "for" in rule))
def test_unit_tests_catch_a_for_window_one_minute_off(alert: str, tmp_path: Path) -> None:
    """Mutation check: the unit tests fail when an alert's `for:` is a minute longer or
    shorter, so they pin the window from both sides."""
    for delta in (-1, 1):
        rules = tmp_path / f"rules{delta}.yml"
        rules.write_text(yaml.safe_dump({"groups": shifted_for(alert, delta)}), encoding="utf-8")
        tests = tmp_path / f"tests{delta}.yml"
        suite = {
            "rule_files": [rules.name],
            "evaluation_interval": "1m",
            "tests": alert_tests_only(alert),
        }
        tests.write_text(yaml.safe_dump(suite), encoding="utf-8")
        result = promtool("test", "rules", tests, cwd=tmp_path)
        assert result.returncode != 0, f"{alert}: for shifted by {delta}m still passes"
        assert f"alertname: {alert}" in result.stdout + result.stderr


# --- annotations and runbook -------------------------------------------------------------------


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the runbook's headings (lowercase, spaces to dashes)."""
    headings = re.findall(r"^#{1,6} +(.+?) *$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_alert_has_severity_summary_description_and_runbook_anchor(alert: str) -> None:
    rule = ALERTS[alert]
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["summary"].endswith(".") and len(annotations["summary"]) < 80
    assert len(annotations["description"]) > len(annotations["summary"])
    url, _, anchor = annotations["runbook_url"].partition("#")
    assert url.startswith("https://") and url.endswith("/docs/runbook.md")
    assert anchor == alert.lower()
    assert anchor in runbook_anchors(), f"docs/runbook.md has no section {alert}"


def test_runbook_has_a_section_for_every_alert_and_no_other() -> None:
    sections = re.findall(r"^## +(\S+) *$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    assert sorted(sections) == sorted(ALERTS)


# --- names and selectors -----------------------------------------------------------------------


@pytest.mark.parametrize("record", sorted(RECORDINGS))
def test_recording_rule_is_named_level_metric_operations(record: str) -> None:
    level, metric, operations = record.split(":")
    assert re.fullmatch(r"[a-z_]*", level)
    assert re.fullmatch(r"runai_[a-z_]+", metric) and not metric.endswith("_total")
    assert re.fullmatch(r"(rate|increase|ratio_rate)\d+[smhd]", operations)
    # The level names exactly the labels the rule keeps.
    kept = re.match(r"sum(?: by \(([^)]*)\))?", RECORDINGS[record]["expr"])
    assert kept, "a recording rule aggregates with sum"
    assert (kept.group(1) or "").replace(", ", "_") == level


@pytest.mark.parametrize("record", sorted(RECORDINGS))
def test_recording_rule_is_used_by_an_alert_or_a_dashboard(record: str) -> None:
    users = [rule["expr"] for rule in RULES if rule.get("record") != record]
    users += [path.read_text(encoding="utf-8") for path in DASHBOARDS]
    assert any(record in text for text in users), f"{record} is recorded but never read"


RAW_SELECTOR = re.compile(r"(?<![:\w])((?:runai_|up\b)[a-z_]*)(\{[^}]*\})?")


def test_every_raw_metric_in_the_rules_is_exported_and_selects_the_job() -> None:
    exported = {spec.name for spec in METRICS} | {"up"}
    seen = set()
    for rule in RULES:
        for metric, selector in RAW_SELECTOR.findall(rule["expr"]):
            seen.add(metric)
            assert metric in exported, f"{metric} is not an exporter metric"
            assert EXPORTER_JOB in selector, f"{metric}{selector} does not select the job"
    assert "runai_workload_failures_total" in seen and "up" in seen
