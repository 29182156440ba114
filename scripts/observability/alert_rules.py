"""Recording rules and alerts as data, rendered to Prometheus rule groups.

Recording rules are named `level:metric:operations` (Prometheus' naming convention): the level
lists the labels kept, the metric drops `_total`, the operations say what was computed. Every
rule keeps the cluster label, so one Prometheus (or a federated, Thanos or Mimir view) serves a
fleet; long windows are built from the short recordings (an average over time of a recorded
rate), never from a day of raw samples at each evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from history.categories import NODE_CATEGORIES
from observability.config import (
    AGENT_URL,
    BASELINE_WINDOW,
    CLUSTER_LABEL,
    EXPORTER_SELECTOR,
    OOM_CATEGORIES,
    RATIO_WINDOW,
    RULES_NAME,
    RUNBOOK_URL,
    SHORT_WINDOW,
    THRESHOLDS,
)

FAILURES = f"runai_workload_failures_total{{{EXPORTER_SELECTOR}}}"
EPISODES = f"runai_workload_episodes_total{{{EXPORTER_SELECTOR}}}"
FINISHED = f"runai_workloads_finished_total{{{EXPORTER_SELECTOR}}}"
NODE_FAILURES = f"runai_node_failures_total{{{EXPORTER_SELECTOR}}}"
C = CLUSTER_LABEL


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str  # critical pages someone; warning goes to a ticket queue
    summary: str
    description: str
    anchor: str  # heading anchor in docs/runbook.md
    for_: str | None = None
    # Extra annotations (e.g. a link to the agent's answer), rendered as given.
    links: tuple[tuple[str, str], ...] = ()


# Full-label rates: the failure dashboard filters them by project, workload type and category.
FAILURE_RATE = f"cluster_project_workload_type_category:runai_workload_failures:rate{SHORT_WINDOW}"
EPISODE_RATE = f"cluster_project_workload_type_kind:runai_workload_episodes:rate{SHORT_WINDOW}"
FINISHED_RATE = f"cluster_project_workload_type:runai_workloads_finished:rate{SHORT_WINDOW}"
# Hour-long rates for ratios (noise over a few minutes), averaged from the short recordings.
FAILURE_RATE_LONG = f"cluster_project:runai_workload_failures:rate{RATIO_WINDOW}"
FINISHED_RATE_LONG = f"cluster_project:runai_workloads_finished:rate{RATIO_WINDOW}"
PROJECT_FAILURE_RATIO = (
    f"cluster_project:runai_workload_failures_per_finished:ratio_rate{RATIO_WINDOW}"
)
CATEGORY_INCREASE = f"cluster_project_category:runai_workload_failures:increase{RATIO_WINDOW}"
NODE_INCREASE = f"cluster_node_category:runai_node_failures:increase{RATIO_WINDOW}"
CLUSTER_FAILURE_RATE = f"cluster:runai_workload_failures:rate{RATIO_WINDOW}"
CLUSTER_FAILURE_BASELINE = f"cluster:runai_workload_failures:rate{BASELINE_WINDOW}"

RECORDINGS: tuple[Recording, ...] = (
    Recording(
        FAILURE_RATE,
        f"sum by ({C}, project, workload_type, category) (rate({FAILURES}[{SHORT_WINDOW}]))",
    ),
    Recording(
        EPISODE_RATE,
        f"sum by ({C}, project, workload_type, kind) (rate({EPISODES}[{SHORT_WINDOW}]))",
    ),
    Recording(
        FINISHED_RATE,
        f"sum by ({C}, project, workload_type) (rate({FINISHED}[{SHORT_WINDOW}]))",
    ),
    Recording(
        FAILURE_RATE_LONG,
        f"sum by ({C}, project) (avg_over_time({FAILURE_RATE}[{RATIO_WINDOW}]))",
    ),
    Recording(
        FINISHED_RATE_LONG,
        f"sum by ({C}, project) (avg_over_time({FINISHED_RATE}[{RATIO_WINDOW}]))",
    ),
    # Failed runs over finished runs (Completed + Failed): NaN, not 0, while nothing finished.
    Recording(
        PROJECT_FAILURE_RATIO,
        f"sum by ({C}, project) ({FAILURE_RATE_LONG})"
        f" / sum by ({C}, project) ({FINISHED_RATE_LONG})",
    ),
    # increase() reads raw counters: an alert must see the first failure, which the exporter
    # exposes at 0 one scrape before it counts it (exporter/metrics.py, "born at zero").
    Recording(
        CATEGORY_INCREASE,
        f"sum by ({C}, project, category) (increase({FAILURES}[{RATIO_WINDOW}]))",
    ),
    Recording(
        NODE_INCREASE,
        f"sum by ({C}, node, category) (increase({NODE_FAILURES}[{RATIO_WINDOW}]))",
    ),
    Recording(CLUSTER_FAILURE_RATE, f"sum by ({C}) ({FAILURE_RATE_LONG})"),
    Recording(
        CLUSTER_FAILURE_BASELINE,
        f"sum by ({C}) (avg_over_time({CLUSTER_FAILURE_RATE}[{BASELINE_WINDOW}]))",
    ),
)

T = THRESHOLDS
_OOM = "|".join(OOM_CATEGORIES)
_UP = f"up{{{EXPORTER_SELECTOR}}}"
_LAST_SUCCESS = f"runai_failure_exporter_last_success_timestamp_seconds{{{EXPORTER_SELECTOR}}}"
_POLLS_UP = f"runai_failure_exporter_up{{{EXPORTER_SELECTOR}}}"
# Node categories other than GPU hardware (which has its own, critical, alert).
_NODE_OTHER = "|".join(c for c in NODE_CATEGORIES if c != "gpu_hardware")
_NODE_QUESTION = "Why+did+workloads+fail+on+node+{{ $labels.node | urlquery }}%3F"


def _agent_link(question: str) -> tuple[tuple[str, str], ...]:
    """An annotation that opens the agent's web UI on `question` (when AGENT_URL is set);
    `question` is URL-encoded already, Prometheus fills in the template."""
    if not AGENT_URL:
        return ()
    return (("agent_url", f"{AGENT_URL}/?q={question}"),)
_PER_HOUR = 3600
# Alerts about the exporter itself read only its raw metrics.
_EXPORTER_ALERT = "RunaiFailureExporter"

ALERTS: tuple[Alert, ...] = (
    Alert(
        name="RunaiFailureExporterDown",
        expr=f"{_UP} == 0 or absent({_UP})",
        for_=T.exporter_down_for,
        severity="critical",
        summary="The Run:ai failure exporter cannot be scraped.",
        description=(
            "Prometheus has not scraped the failure exporter"
            "{{ with $labels.instance }} at {{ . }}{{ end }} for "
            f"{T.exporter_down_for}. Workload failures are not being detected or recorded, "
            "and every other Run:ai failure alert is silent."
        ),
        anchor="runaifailureexporterdown",
    ),
    Alert(
        name="RunaiFailureExporterPollsFailing",
        expr=f"{_POLLS_UP} == 0",
        for_=T.polls_failing_for,
        severity="warning",
        summary="The failure exporter cannot poll the Run:ai API.",
        description=(
            "Every poll of the Run:ai control-plane API by {{ $labels.instance }} has failed for "
            f"{T.polls_failing_for}. New failures are not detected until a poll succeeds."
        ),
        anchor="runaifailureexporterpollsfailing",
    ),
    Alert(
        name="RunaiFailureExporterPollsStale",
        # The exporter reports 0 before its first success, and up == 0 while polls fail:
        # PollsFailing covers both, so one API outage pages once, not twice. Stale with the last
        # poll good means a hung loop.
        expr=(
            f"time() - {_LAST_SUCCESS} > {T.poll_stale_seconds} and {_LAST_SUCCESS} > 0 "
            f"and {_POLLS_UP} == 1"
        ),
        for_=T.poll_stale_for,
        severity="warning",
        summary="The failure exporter has not completed a poll recently.",
        description=(
            "The last successful poll of {{ $labels.instance }} was "
            "{{ $value | humanizeDuration }} ago (limit "
            f"{T.poll_stale_seconds} s). The poll loop may be stuck or far slower than its "
            "interval."
        ),
        anchor="runaifailureexporterpollsstale",
    ),
    Alert(
        name="RunaiFailureExporterDBWriteErrors",
        expr=(
            f"rate(runai_failure_exporter_db_write_errors_total{{{EXPORTER_SELECTOR}}}[5m]) > 0"
        ),
        for_=T.db_write_errors_for,
        severity="warning",
        summary="The failure exporter keeps failing to write the history database.",
        description=(
            "{{ $labels.instance }} has failed to write to its DuckDB history file in every "
            f"5-minute window for {T.db_write_errors_for}. Records wait in memory "
            "(runai_failure_exporter_pending_writes) and are lost if the pod restarts."
        ),
        anchor="runaifailureexporterdbwriteerrors",
    ),
    Alert(
        name="RunaiProjectFailureRatioHigh",
        expr=(
            f"{PROJECT_FAILURE_RATIO} > {T.project_failure_ratio} and "
            f"{FINISHED_RATE_LONG} * {_PER_HOUR} >= {T.project_min_finished_per_hour:g}"
        ),
        for_=T.project_failure_ratio_for,
        severity="warning",
        summary="Most finished workloads of a Run:ai project are failing.",
        description=(
            "{{ $value | humanizePercentage }} of the workloads of project {{ $labels.project }} "
            f"that finished over the last {RATIO_WINDOW} failed (threshold "
            f"{T.project_failure_ratio:.0%}, at least {T.project_min_finished_per_hour:g} "
            "finished an hour)."
        ),
        anchor="runaiprojectfailureratiohigh",
    ),
    Alert(
        # One alert per node, whatever projects it failed. No `for`: one hardware failure is
        # enough to act on, and the hour window keeps it firing.
        name="RunaiGPUHardwareFailures",
        expr=f'{NODE_INCREASE}{{category="gpu_hardware"}} > {T.gpu_hardware_failures:g}',
        severity="critical",
        summary="Workloads are failing on faulty GPU hardware on node {{ $labels.node }}.",
        description=(
            "{{ $value | printf \"%.0f\" }} workload(s) failed with a GPU hardware fault "
            "(Xid, ECC, GPU lost) on node {{ $labels.node }} in the last "
            f"{RATIO_WINDOW}. The node keeps failing every workload scheduled on it until it "
            "is drained."
        ),
        anchor="runaigpuhardwarefailures",
        links=_agent_link(_NODE_QUESTION),
    ),
    Alert(
        name="RunaiNodeFailuresRecurring",
        expr=f'{NODE_INCREASE}{{category=~"{_NODE_OTHER}"}} >= {T.node_failures:g}',
        for_="5m",
        severity="warning",
        summary="Workloads keep failing on node {{ $labels.node }} ({{ $labels.category }}).",
        description=(
            "{{ $value | printf \"%.0f\" }} workloads failed with {{ $labels.category }} on "
            f"node {{{{ $labels.node }}}} in the last {RATIO_WINDOW} (threshold "
            f"{T.node_failures:g}). The node, not the workloads, is the common factor."
        ),
        anchor="runainodefailuresrecurring",
        links=_agent_link(_NODE_QUESTION),
    ),
    Alert(
        name="RunaiOOMKillsRecurring",
        expr=f'{CATEGORY_INCREASE}{{category=~"{_OOM}"}} >= {T.oom_failures:g}',
        severity="warning",
        summary="Workloads of a project keep running out of memory.",
        description=(
            "{{ $value | printf \"%.0f\" }} workloads of project {{ $labels.project }} failed with "
            f"{{{{ $labels.category }}}} in the last {RATIO_WINDOW} (threshold "
            f"{T.oom_failures:g}). Resubmitting with the same limits fails the same way."
        ),
        anchor="runaioomkillsrecurring",
    ),
    Alert(
        name="RunaiWorkloadFailureSpike",
        # The per-hour rate comes first so that it is the alert's $value.
        expr=(
            f"{CLUSTER_FAILURE_RATE} * {_PER_HOUR} >= {T.spike_min_failures_per_hour:g} and "
            f"{CLUSTER_FAILURE_RATE} > {T.spike_factor:g} * {CLUSTER_FAILURE_BASELINE}"
        ),
        for_=T.spike_for,
        severity="warning",
        summary="Workloads are failing far more often than usual.",
        description=(
            "{{ $value | printf \"%.0f\" }} workload failures an hour over the last "
            f"{RATIO_WINDOW}, more than {T.spike_factor:g} times the rate of the last "
            f"{BASELINE_WINDOW}. Something changed: an image, a node pool, the network, quota."
        ),
        anchor="runaiworkloadfailurespike",
    ),
)


def recording_rule(rule: Recording) -> dict[str, Any]:
    return {"record": rule.record, "expr": rule.expr}


def alerting_rule(alert: Alert) -> dict[str, Any]:
    rendered: dict[str, Any] = {"alert": alert.name, "expr": alert.expr}
    if alert.for_:
        rendered["for"] = alert.for_
    rendered["labels"] = {"severity": alert.severity}
    rendered["annotations"] = {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": f"{RUNBOOK_URL}#{alert.anchor}",
        **dict(alert.links),
    }
    return rendered


def rule_groups() -> list[dict[str, Any]]:
    """The rule groups, identical in the plain rules file and in the PrometheusRule.

    Rules of one group run in order and groups run independently, so the failure alerts share
    the group of the recordings they read: each evaluation sees the values just recorded, not
    those of the previous interval.
    """
    reads_recordings = [alert for alert in ALERTS if not alert.name.startswith(_EXPORTER_ALERT)]
    exporter_health = [alert for alert in ALERTS if alert.name.startswith(_EXPORTER_ALERT)]
    return [
        {
            "name": "runai-workload-failures",
            "rules": [recording_rule(rule) for rule in RECORDINGS]
            + [alerting_rule(alert) for alert in reads_recordings],
        },
        {
            "name": "runai-failure-exporter",
            "rules": [alerting_rule(alert) for alert in exporter_health],
        },
    ]


def prometheus_rule() -> dict[str, Any]:
    """The same groups as a Prometheus operator PrometheusRule object."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": RULES_NAME,
            "labels": {
                "app.kubernetes.io/name": RULES_NAME,
                "app.kubernetes.io/component": "alerting",
                "app.kubernetes.io/part-of": RULES_NAME,
            },
        },
        "spec": {"groups": rule_groups()},
    }
