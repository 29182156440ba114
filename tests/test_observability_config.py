"""Rules and dashboards adapt without a fork: the generator's --config options (a mixin's
config) reach every rule, alert and panel; a typo is an error, never silently ignored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "generate_observability.py"
RULES = "deploy/prometheus/runai-failure-analysis.rules.yml"


def generate(tmp_path: Path, options: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mine.yaml"
    config.write_text(options, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--config", str(config), "--root", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60,
    )


def test_options_reach_every_rule_alert_and_panel(tmp_path: Path) -> None:
    result = generate(tmp_path, """
job: runai-failures
cluster_label: k8s_cluster
runbook_url: https://wiki.example.com/runbooks/runai/
agent_url: https://runai-agent.example.com
thresholds:
  oom_failures: 5
""")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    groups = yaml.safe_load((out / RULES).read_text())["groups"]
    rules = [r for g in groups for r in g["rules"]]
    for rule in rules:
        assert 'job="runai-failure-exporter"' not in rule["expr"], rule
    for rule in rules:
        if "record" in rule and "sum by (" in rule["expr"]:
            assert "k8s_cluster" in rule["expr"], rule
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert ">= 5" in alerts["RunaiOOMKillsRecurring"]["expr"]
    runbook = alerts["RunaiOOMKillsRecurring"]["annotations"]["runbook_url"]
    assert runbook == "https://wiki.example.com/runbooks/runai#runaioomkillsrecurring"
    link = alerts["RunaiGPUHardwareFailures"]["annotations"]["agent_url"]
    assert link.startswith("https://runai-agent.example.com/?q=")
    assert "{{ $labels.node | urlquery }}" in link
    board = (out / "grafana/dashboards/runai-workload-failures.json").read_text()
    assert 'k8s_cluster=~\\"$cluster\\"' in board and 'job=\\"runai-failures\\"' in board


def test_the_shipped_defaults_have_no_agent_link_and_our_runbook(tmp_path: Path) -> None:
    groups = yaml.safe_load((ROOT / RULES).read_text())["groups"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert all("agent_url" not in a["annotations"] for a in alerts)
    assert all(a["annotations"]["runbook_url"].split("#")[0].endswith("/docs/runbook.md")
               for a in alerts)


def test_an_unknown_option_or_threshold_is_one_clear_error(tmp_path: Path) -> None:
    typo = generate(tmp_path, "jobb: x\n")
    assert typo.returncode == 2 and "unknown option(s) jobb" in typo.stderr
    threshold = generate(tmp_path, "thresholds:\n  oom_failure: 3\n")
    assert threshold.returncode == 2 and "unknown threshold(s) oom_failure" in threshold.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written
