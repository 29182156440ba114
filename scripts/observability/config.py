"""Every threshold, window and name the rules and dashboards share: change them here only.

The generator renders the Prometheus rules file, the PrometheusRule and the Grafana dashboards
from these values, so an alert and the panel that explains it always agree. Like a monitoring
mixin, a user adapts them without a fork: `scripts/generate_observability.py --config FILE`
applies a small YAML file (job, cluster label, runbook and agent URLs, thresholds) before
anything is built; see docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from history.categories import alert_categories

# The scrape job of the exporter; a ServiceMonitor must produce the same `job` label.
EXPORTER_JOB = "runai-failure-exporter"
EXPORTER_SELECTOR = f'job="{EXPORTER_JOB}"'
# The label that tells clusters apart (the exporter's --cluster-name sets its value).
CLUSTER_LABEL = "cluster"

# Alert annotations link here: the runbook of the version you run, docs/runbook.md.
RUNBOOK_URL = (
    "https://github.com/runai-failure-analysis/runai-failure-analysis/blob/main/docs/runbook.md"
)
# Node alerts link to the agent's answer about that node; empty: no link.
AGENT_URL = ""

RULES_NAME = "runai-failure-analysis"

# Rate windows the recording rules precompute.
SHORT_WINDOW = "5m"  # dashboards' time series
RATIO_WINDOW = "1h"  # failure ratio and recurring-failure counts: enough runs to mean something
BASELINE_WINDOW = "1d"  # "the usual rate" the spike alert compares against


@dataclass(frozen=True)
class Thresholds:
    # The exporter's scrape target is down (or gone) this long.
    exporter_down_for: str = "5m"
    # Every poll of the Run:ai API failed for this long (runai_failure_exporter_up == 0).
    polls_failing_for: str = "10m"
    # No successful poll for this many seconds: catches a hung poll loop that `up` cannot see.
    poll_stale_seconds: int = 900
    poll_stale_for: str = "5m"
    # Writes to the history file keep failing (an error in every 5 m window for this long).
    db_write_errors_for: str = "15m"
    # A project whose finished workloads fail this often over RATIO_WINDOW ...
    project_failure_ratio: float = 0.5
    # ... once it finishes at least this many workloads an hour (a ratio of 1 of 1 is noise).
    project_min_finished_per_hour: float = 5.0
    project_failure_ratio_for: str = "15m"
    # GPU hardware failures within RATIO_WINDOW: one is enough to act on.
    gpu_hardware_failures: float = 0.0
    # OOM kills (host or GPU memory) in one project within RATIO_WINDOW.
    oom_failures: float = 3.0
    # Failures a node can cause (other than GPU hardware) on one node within RATIO_WINDOW.
    node_failures: float = 3.0
    # Failures over RATIO_WINDOW this many times the BASELINE_WINDOW rate ...
    spike_factor: float = 3.0
    # ... and at least this many per hour, so a quiet cluster's first failure is no spike.
    spike_min_failures_per_hour: float = 10.0
    spike_for: str = "15m"


THRESHOLDS = Thresholds()

# Dashboards: uids are part of every link people share, so they never change.
FAILURES_DASHBOARD_UID = "runai-workload-failures"
HEALTH_DASHBOARD_UID = "runai-failure-exporter"
DASHBOARD_TAGS = ("runai", "gpu", "failures")
# Grafana 12's dashboard JSON schema version.
SCHEMA_VERSION = 41

# The categories the OOM alert and panel read: from the product's one category table.
OOM_CATEGORIES = alert_categories("oom")


# The options a --config file may set, and the module value each one replaces.
_OPTIONS = {
    "job": "EXPORTER_JOB",
    "cluster_label": "CLUSTER_LABEL",
    "runbook_url": "RUNBOOK_URL",
    "agent_url": "AGENT_URL",
}


def apply(options: Mapping[str, Any]) -> None:
    """Replace the defaults above with a user's options (called before any rule or dashboard
    module is imported). Unknown keys are an error, so a typo never silently does nothing."""
    global EXPORTER_SELECTOR, THRESHOLDS
    known = {*_OPTIONS, "thresholds"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    for key, name in _OPTIONS.items():
        if key in options:
            value = options[key]
            if not isinstance(value, str):
                raise ValueError(f"option {key} must be a string")
            globals()[name] = value.rstrip("/") if key.endswith("_url") else value
    EXPORTER_SELECTOR = f'job="{EXPORTER_JOB}"'
    overrides = options.get("thresholds") or {}
    if not isinstance(overrides, Mapping):
        raise ValueError("option thresholds must be a mapping")
    names = {f.name: f.type for f in fields(Thresholds)}
    bad = sorted(set(overrides) - set(names))
    if bad:
        raise ValueError(
            f"unknown threshold(s) {', '.join(bad)}; known: {', '.join(sorted(names))}"
        )
    THRESHOLDS = replace(THRESHOLDS, **dict(overrides))
