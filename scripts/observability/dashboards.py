"""The two dashboards: why workloads fail, and whether the exporter that says so is healthy."""

from __future__ import annotations

from history.categories import TABLE
from observability import alert_rules
from observability.config import (
    CLUSTER_LABEL,
    DASHBOARD_TAGS,
    EXPORTER_SELECTOR,
    FAILURES_DASHBOARD_UID,
    HEALTH_DASHBOARD_UID,
    OOM_CATEGORIES,
    RATIO_WINDOW,
    THRESHOLDS,
)
from observability.grafana import (
    Json,
    Query,
    bar_gauge,
    dashboard,
    datasource_variable,
    label_variable,
    row,
    stat,
    table,
    thresholds,
    timeseries,
    value_mapping,
)

T = THRESHOLDS
PER_HOUR = "suffix:/h"

# Selectors: raw series keep the job label; recorded series (sums) have only the kept labels.
# Every selector starts with the cluster (a fleet behind one data source is told apart by it).
_CLUSTER = f'{CLUSTER_LABEL}=~"$cluster"'
_PROJECT = f'{_CLUSTER}, project=~"$project"'
_TYPE = 'workload_type=~"$workload_type"'
_CATEGORY = 'category=~"$category"'
RAW_FAILURES = (
    f"runai_workload_failures_total{{{EXPORTER_SELECTOR}, {_PROJECT}, {_TYPE}, {_CATEGORY}}}"
)
RAW_FINISHED = f"runai_workloads_finished_total{{{EXPORTER_SELECTOR}, {_PROJECT}, {_TYPE}}}"
FAILURE_RATE = f"{alert_rules.FAILURE_RATE}{{{_PROJECT}, {_TYPE}, {_CATEGORY}}}"
FINISHED_RATE = f"{alert_rules.FINISHED_RATE}{{{_PROJECT}, {_TYPE}}}"
EPISODE_RATE = f'{alert_rules.EPISODE_RATE}{{{_PROJECT}, {_TYPE}, kind=~"degraded|pending"}}'
_OOM = "|".join(OOM_CATEGORIES)
# The same colour per category as the agent's web UI: both read the one category table.
CATEGORY_COLOURS = {c.name: c.colour for c in TABLE}


_JOB_WORKLOADS = f"runai_workloads{{{EXPORTER_SELECTOR}}}"
_JOB_CLUSTER_WORKLOADS = f"runai_workloads{{{EXPORTER_SELECTOR}, {_CLUSTER}}}"
_JOB_FINISHED = f"runai_workloads_finished_total{{{EXPORTER_SELECTOR}, {_CLUSTER}}}"
_JOB_FAILURES = f"runai_workload_failures_total{{{EXPORTER_SELECTOR}, {_CLUSTER}}}"
_FAILED = ', phase="Failed"'
_PENDING = ', phase="Pending"'
_FAILED_OR_PENDING = ', phase=~"Failed|Pending"'


def _phases(extra: str = "") -> str:
    return f"runai_workloads{{{EXPORTER_SELECTOR}, {_PROJECT}{extra}}}"


def _in_range(selector: str, by: str) -> str:
    return f"sum by ({by}) (increase({selector}[$__range]))"


def failures_dashboard() -> Json:
    overview = [
        row("Overview of the selected range"),
        stat(
            "Failures",
            "Workloads that entered the Failed phase in the selected range.",
            Query(f"sum(increase({RAW_FAILURES}[$__range]))"),
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        stat(
            "Failure ratio",
            "Failed workloads over finished workloads (Completed + Failed) in the selected range."
            " The category filter narrows the failures only.",
            Query(
                f"sum(increase({RAW_FAILURES}[$__range])) / sum(increase({RAW_FINISHED}[$__range]))"
            ),
            unit="percentunit",
            steps=thresholds((None, "green"), (0.2, "orange"), (T.project_failure_ratio, "red")),
        ),
        stat(
            "Failed now",
            "Workloads in the Failed phase at the exporter's last successful poll.",
            Query(f"sum({_phases(_FAILED)})"),
            steps=thresholds((None, "green"), (1, "red")),
        ),
        stat(
            "Pending now",
            "Workloads in the Pending phase at the exporter's last successful poll: waiting for"
            " GPUs, quota or a node that fits.",
            Query(f"sum({_phases(_PENDING)})"),
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        stat(
            "GPU hardware failures",
            "Failures caused by faulty GPUs (Xid, ECC, GPU fallen off the bus) in the selected"
            " range. Any is worth draining the node for.",
            Query(
                f"sum(increase(runai_workload_failures_total{{{EXPORTER_SELECTOR}, {_PROJECT}, "
                f'{_TYPE}, category="gpu_hardware"}}[$__range]))'
            ),
            steps=thresholds((None, "green"), (1, "red")),
        ),
        stat(
            "Out-of-memory failures",
            "Failures from host memory (OOMKilled) or GPU memory (CUDA out of memory) in the"
            " selected range.",
            Query(
                f"sum(increase(runai_workload_failures_total{{{EXPORTER_SELECTOR}, {_PROJECT}, "
                f'{_TYPE}, category=~"{_OOM}"}}[$__range]))'
            ),
            steps=thresholds((None, "green"), (1, "orange")),
        ),
    ]
    over_time = [
        row("Failures over time"),
        timeseries(
            "Failures by category",
            "Failure rate by root-cause category, stacked; the classifier's category of each"
            f" Failed workload. Rate over {alert_rules.SHORT_WINDOW}, per hour.",
            Query(f"3600 * sum by (category) ({FAILURE_RATE})", "{{category}}"),
            unit=PER_HOUR,
            stacked=True,
            colours=CATEGORY_COLOURS,
            width=24,
            height=9,
        ),
        timeseries(
            "Failures by project",
            "Failure rate by Run:ai project, stacked, per hour.",
            Query(f"3600 * sum by (project) ({FAILURE_RATE})", "{{project}}"),
            unit=PER_HOUR,
            stacked=True,
        ),
        timeseries(
            "Failures by workload type",
            "Failure rate by workload type (training, workspace, distributed, inference), stacked,"
            " per hour.",
            Query(f"3600 * sum by (workload_type) ({FAILURE_RATE})", "{{workload_type}}"),
            unit=PER_HOUR,
            stacked=True,
        ),
        timeseries(
            f"Failure ratio by project, trailing {RATIO_WINDOW}",
            f"Failed over finished workloads of each project over the trailing {RATIO_WINDOW};"
            " the dashed line is the alert threshold. Gaps mean nothing finished. The category"
            " filter does not apply.",
            Query(
                f"sum by (project) ({alert_rules.FAILURE_RATE_LONG}{{{_PROJECT}, {_TYPE}}})"
                f" / sum by (project) ({alert_rules.FINISHED_RATE_LONG}{{{_PROJECT}, {_TYPE}}})",
                "{{project}}",
            ),
            unit="percentunit",
            line_at=T.project_failure_ratio,
            max_value=1,
        ),
        timeseries(
            "Finished workloads by project",
            "Workloads that reached Completed or Failed, per hour: the denominator of the"
            " failure ratio. The category filter does not apply.",
            Query(f"3600 * sum by (project) ({FINISHED_RATE})", "{{project}}"),
            unit=PER_HOUR,
            stacked=True,
        ),
    ]
    ranking = [
        row("Where failures concentrate in the selected range"),
        bar_gauge(
            "Top categories",
            "The root causes with the most failures in the selected range.",
            Query(f"topk(10, {_in_range(RAW_FAILURES, 'category')})", "{{category}}"),
            colours=CATEGORY_COLOURS,
        ),
        bar_gauge(
            "Top projects",
            "The projects with the most failures in the selected range.",
            Query(f"topk(10, {_in_range(RAW_FAILURES, 'project')})", "{{project}}"),
        ),
        bar_gauge(
            "Failure ratio by project",
            "Failed over finished workloads per project in the selected range (the category"
            " filter narrows the failures only).",
            Query(
                f"{_in_range(RAW_FAILURES, 'project')} / {_in_range(RAW_FINISHED, 'project')}",
                "{{project}}",
            ),
            unit="percentunit",
        ),
    ]
    current = [
        row("Workloads now"),
        timeseries(
            "Workloads by phase",
            "Workloads per Run:ai phase at each successful poll.",
            Query(f"sum by (phase) ({_phases()})", "{{phase}}"),
            stacked=True,
            width=8,
        ),
        timeseries(
            "Failed and pending workloads by project",
            "Workloads sitting in Failed or Pending, per project: the backlog a project owner"
            " sees.",
            Query(
                f"sum by (project, phase) ({_phases(_FAILED_OR_PENDING)})",
                "{{project}} {{phase}}",
            ),
            width=8,
        ),
        timeseries(
            "Degraded and long-pending episodes",
            "Workloads that became Degraded (running, but not as specified) or stayed Pending"
            " past the exporter's threshold, per hour.",
            Query(f"3600 * sum by (kind) ({EPISODE_RATE})", "{{kind}}"),
            unit=PER_HOUR,
            stacked=True,
            width=8,
        ),
    ]
    hardware = [
        row("GPU hardware and memory: what a cluster owner checks first"),
        timeseries(
            "GPU hardware failures by node",
            f"GPU hardware failures per node over the trailing {RATIO_WINDOW}, as the"
            " RunaiGPUHardwareFailures alert sees them: drain the node, then ask the agent why"
            " it failed. Only the cluster filter applies.",
            Query(
                f'{alert_rules.NODE_INCREASE}{{{_CLUSTER}, category="gpu_hardware"}}',
                "{{node}}",
            ),
            line_at=1,
        ),
        timeseries(
            "Failures a node can cause, by node",
            f"Failures whose cause lies with the node (node failure, eviction, storage, CUDA"
            f" driver, NCCL) per node over the trailing {RATIO_WINDOW}; the dashed line is the"
            " RunaiNodeFailuresRecurring threshold. Only the cluster filter applies.",
            Query(
                f'sum by (node) ({alert_rules.NODE_INCREASE}{{{_CLUSTER}, '
                f'category!="gpu_hardware"}})',
                "{{node}}",
            ),
            line_at=T.node_failures,
        ),
        timeseries(
            "Out-of-memory failures by project",
            f"Host (oom_killed) and GPU (gpu_oom) memory failures over the trailing {RATIO_WINDOW}"
            "; the dashed line is the RunaiOOMKillsRecurring threshold. The workload type and"
            " category filters do not apply.",
            Query(
                f'{alert_rules.CATEGORY_INCREASE}{{{_PROJECT}, category=~"{_OOM}"}}',
                "{{project}} {{category}}",
            ),
            line_at=T.oom_failures,
        ),
    ]
    variables = [
        datasource_variable(),
        label_variable("cluster", "Cluster", _JOB_WORKLOADS, CLUSTER_LABEL),
        label_variable("project", "Project", _JOB_CLUSTER_WORKLOADS, "project"),
        label_variable("workload_type", "Workload type", _JOB_FINISHED, "workload_type"),
        label_variable("category", "Category", _JOB_FAILURES, "category"),
    ]
    return dashboard(
        uid=FAILURES_DASHBOARD_UID,
        title="Run:ai workload failures",
        description="Why Run:ai workloads fail, how often, where; from the failure exporter.",
        tags=DASHBOARD_TAGS,
        variables=variables,
        panels=overview + hardware + over_time + ranking + current,
        time_from="now-24h",
        refresh="1m",
    )


_INSTANCE = f'{EXPORTER_SELECTOR}, instance=~"$instance"'
LAST_SUCCESS = "runai_failure_exporter_last_success_timestamp_seconds"
_NOT_2XX = ', code!~"2.."'


def _exporter(metric: str, extra: str = "") -> str:
    return f"{metric}{{{_INSTANCE}{extra}}}"


def _quantile(q: float) -> Query:
    buckets = _exporter("runai_failure_exporter_poll_duration_seconds_bucket")
    return Query(
        f"histogram_quantile({q}, sum by (le) (rate({buckets}[$__rate_interval])))", f"p{q * 100:g}"
    )


def health_dashboard() -> Json:
    status = [
        row("Status"),
        stat(
            "Scrape",
            "Prometheus' own `up` for the exporter: can the metrics endpoint be scraped at all.",
            Query(f"min(up{{{_INSTANCE}}})"),
            steps=thresholds((None, "red"), (1, "green")),
            mappings=(value_mapping(0, "DOWN", "red"), value_mapping(1, "UP", "green")),
        ),
        stat(
            "Last poll",
            "Did the exporter's last poll of the Run:ai API succeed.",
            Query(f"min({_exporter('runai_failure_exporter_up')})"),
            steps=thresholds((None, "red"), (1, "green")),
            mappings=(value_mapping(0, "FAILED", "red"), value_mapping(1, "OK", "green")),
        ),
        stat(
            "Since last successful poll",
            "Time since the last successful poll; red past the RunaiFailureExporterPollsStale"
            " threshold.",
            Query(f"time() - max({_exporter(LAST_SUCCESS)})"),
            unit="s",
            steps=thresholds((None, "green"), (T.poll_stale_seconds, "red")),
        ),
        stat(
            "Pending writes",
            "Records waiting in memory for the history file; they are lost if the pod restarts.",
            Query(f"sum({_exporter('runai_failure_exporter_pending_writes')})"),
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        table(
            "Build",
            "Exporter version and Python version of each instance.",
            Query(_exporter("runai_failure_exporter_build_info")),
            width=8,
            height=4,
        ),
    ]
    polling = [
        row("Polling the Run:ai API"),
        timeseries(
            "Poll duration",
            "How long one poll cycle takes (paging every workload, gathering evidence for new"
            " failures, writing the history file).",
            _quantile(0.5),
            _quantile(0.95),
            _quantile(0.99),
            unit="s",
        ),
        timeseries(
            "Polls by result",
            "Poll cycles per second that succeeded or failed.",
            Query(
                "sum by (result) "
                f"(rate({_exporter('runai_failure_exporter_polls_total')}[$__rate_interval]))",
                "{{result}}",
            ),
            unit="ops",
            stacked=True,
        ),
        timeseries(
            "Time since last successful poll",
            "Seconds since the last successful poll, per instance; the dashed line is the stale"
            " alert threshold.",
            Query(
                f"time() - {_exporter(LAST_SUCCESS)}",
                "{{instance}}",
            ),
            unit="s",
            line_at=T.poll_stale_seconds,
        ),
        timeseries(
            "API requests by status code",
            "Requests to the Run:ai and Kubernetes APIs by HTTP status code (or timeout/error).",
            Query(
                "sum by (code) "
                f"(rate({_exporter('runai_failure_exporter_api_requests_total')}"
                "[$__rate_interval]))",
                "{{code}}",
            ),
            unit="reqps",
            stacked=True,
        ),
        timeseries(
            "API requests by endpoint",
            "Requests by endpoint path template.",
            Query(
                "sum by (endpoint) "
                f"(rate({_exporter('runai_failure_exporter_api_requests_total')}"
                "[$__rate_interval]))",
                "{{endpoint}}",
            ),
            unit="reqps",
            stacked=True,
        ),
        timeseries(
            "API error ratio",
            "Share of API requests that did not return 2xx (4xx, 5xx, timeouts, errors).",
            # `or vector(0)`: no failed request yet is a ratio of 0, not "No data".
            Query(
                "(sum(rate("
                f"{_exporter('runai_failure_exporter_api_requests_total', _NOT_2XX)}"
                "[$__rate_interval])) or vector(0)) / sum(rate("
                f"{_exporter('runai_failure_exporter_api_requests_total')}[$__rate_interval]))",
                "errors",
            ),
            unit="percentunit",
            max_value=1,
        ),
    ]
    database = [
        row("History database"),
        timeseries(
            "DB write errors",
            "Failed writes to the DuckDB history file; the RunaiFailureExporterDBWriteErrors"
            " alert fires when they persist.",
            Query(
                "sum by (instance) (increase("
                f"{_exporter('runai_failure_exporter_db_write_errors_total')}[$__rate_interval]))",
                "{{instance}}",
            ),
            bars=True,
        ),
        timeseries(
            "Pending writes over time",
            "Records queued in memory, not yet in the history file.",
            Query(_exporter("runai_failure_exporter_pending_writes"), "{{instance}}"),
        ),
    ]
    variables = [
        datasource_variable(),
        label_variable(
            "instance", "Instance", f"runai_failure_exporter_up{{{EXPORTER_SELECTOR}}}", "instance"
        ),
    ]
    return dashboard(
        uid=HEALTH_DASHBOARD_UID,
        title="Failure exporter health",
        description="Is the Run:ai failure exporter polling, fast, and writing its history?",
        tags=DASHBOARD_TAGS,
        variables=variables,
        panels=status + polling + database,
        time_from="now-6h",
        refresh="30s",
    )


def all_dashboards() -> dict[str, Json]:
    """File name (without .json) to dashboard."""
    return {
        "runai-workload-failures": failures_dashboard(),
        "runai-failure-exporter": health_dashboard(),
    }
