"""The exporter's Prometheus metrics: declared once as data, built fresh at every scrape.

The monitor updates a `MetricsState` (in-memory counters under one lock); `StateCollector`
turns a snapshot of it into metric families on each scrape. Labels are bounded: projects,
workload types (history.categories.label_workload_type), categories, kinds, phases, endpoint
templates and status codes, never workload, pod or node names. Counters count what this process
recorded since it started; they never replay history from the database.
"""

from __future__ import annotations

import platform
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from history.categories import CATEGORIES, KINDS, WORKLOAD_TYPES

PHASES: tuple[str, ...] = (
    "Creating", "Initializing", "Resuming", "Pending", "Deleting", "Running", "Updating",
    "Stopped", "Stopping", "Degraded", "Failed", "Completed", "Terminating", "Unknown",
)
POLL_DURATION_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as exposed, without the _total / _bucket suffixes prometheus_client adds
    type: str  # "counter" | "gauge" | "histogram"
    help: str
    labels: tuple[str, ...] = ()


P = "runai_failure_exporter_"
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("runai_workload_failures_total", "counter",
               "Workload failures (Failed episodes) recorded by this process, by root cause.",
               ("project", "workload_type", "category")),
    MetricSpec("runai_workload_episodes_total", "counter",
               "Failure episodes recorded by this process: failed, degraded or long pending.",
               ("project", "workload_type", "kind")),
    MetricSpec("runai_workloads_finished_total", "counter",
               "Workload runs that reached a terminal phase (Completed or Failed) recorded by "
               "this process: the denominator of failure ratios.",
               ("project", "workload_type")),
    MetricSpec("runai_workloads", "gauge",
               "Workloads per phase at the last successful poll.", ("project", "phase")),
    MetricSpec(P + "up", "gauge", "1 if the last poll of the Run:ai API succeeded, else 0."),
    MetricSpec(P + "last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful poll (0 before the first)."),
    MetricSpec(P + "poll_duration_seconds", "histogram",
               "Wall time of one poll cycle: listing, evidence, classification and the write."),
    MetricSpec(P + "polls_total", "counter", "Poll cycles by result.", ("result",)),
    MetricSpec(P + "api_requests_total", "counter",
               "HTTP requests to the Run:ai and Kubernetes APIs, every attempt, by endpoint "
               "template and status code (or timeout, error, invalid_json).",
               ("endpoint", "code")),
    MetricSpec(P + "db_write_errors_total", "counter",
               "Writes to the history file that failed (kept queued and retried)."),
    MetricSpec(P + "pending_writes", "gauge",
               "Records queued for the history file but not yet in it."),
    MetricSpec(P + "build_info", "gauge", "Always 1; the labels say what is running.",
               ("version", "python_version")),
)
SPECS: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}


class MetricsState:
    """What the collector exports; written by the monitor, read at scrape time."""

    def __init__(self, projects: Iterable[str] = (), version: str = "") -> None:
        self._lock = threading.Lock()
        self.version = version or _version()
        self.projects: set[str] = set(projects)
        self.failures: Counter[tuple[str, str, str]] = Counter()
        self.episodes: Counter[tuple[str, str, str]] = Counter()
        self.finished: Counter[tuple[str, str]] = Counter()
        self.workloads: dict[tuple[str, str], int] = {}
        self.up = 0
        self.last_success = 0.0
        self.polls: Counter[str] = Counter({"success": 0, "failure": 0})
        self.api_requests: Counter[tuple[str, str]] = Counter()
        self.db_write_errors = 0
        self.pending_writes = 0
        self.duration_buckets = [0] * len(POLL_DURATION_BUCKETS)
        self.duration_count = 0
        self.duration_sum = 0.0

    # -- written by the monitor and the HTTP clients ---------------------------------------
    def observe_request(self, endpoint: str, code: str) -> None:
        with self._lock:
            self.api_requests[(endpoint, code)] += 1

    def record_failure(self, project: str, workload_type: str, kind: str, category: str) -> None:
        with self._lock:
            self.projects.add(project)
            self.episodes[(project, workload_type, kind)] += 1
            if kind == "failed":
                self.failures[(project, workload_type, category)] += 1

    def record_finished(self, project: str, workload_type: str) -> None:
        with self._lock:
            self.projects.add(project)
            self.finished[(project, workload_type)] += 1

    def poll_succeeded(
        self, phases: dict[tuple[str, str], int], duration_s: float, at: float
    ) -> None:
        with self._lock:
            self.projects.update(project for project, _ in phases)
            self.workloads = dict(phases)
            self.up = 1
            self.last_success = at
            self.polls["success"] += 1
            self._observe_duration(duration_s)

    def poll_failed(self, duration_s: float) -> None:
        with self._lock:
            self.up = 0
            self.polls["failure"] += 1
            self._observe_duration(duration_s)

    def write_result(self, failed: bool, pending: int) -> None:
        with self._lock:
            self.db_write_errors += int(failed)
            self.pending_writes = pending

    def _observe_duration(self, seconds: float) -> None:
        self.duration_count += 1
        self.duration_sum += seconds
        for i, bound in enumerate(POLL_DURATION_BUCKETS):
            if seconds <= bound:
                self.duration_buckets[i] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "projects": sorted(p for p in self.projects if p),
                "failures": dict(self.failures),
                "episodes": dict(self.episodes),
                "finished": dict(self.finished),
                "workloads": dict(self.workloads),
                "up": self.up,
                "last_success": self.last_success,
                "polls": dict(self.polls),
                "api_requests": dict(self.api_requests),
                "db_write_errors": self.db_write_errors,
                "pending_writes": self.pending_writes,
                "duration": (list(self.duration_buckets), self.duration_count, self.duration_sum),
            }


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("runai-failure-analysis")
    except Exception:  # not installed: running from a checkout
        return "0.1.0"


class StateCollector(Collector):
    """Builds every family in METRICS from a MetricsState snapshot at scrape time."""

    def __init__(self, state: MetricsState) -> None:
        self._state = state

    def describe(self) -> list[Metric]:
        return []  # families are built at collect time; no duplicate-name checks needed

    def collect(self) -> Iterator[Metric]:
        s = self._state.snapshot()
        projects = s["projects"]
        fam = _family("runai_workload_failures_total")
        for key in _grid(s["failures"], projects, WORKLOAD_TYPES, CATEGORIES):
            fam.add_metric(list(key), s["failures"].get(key, 0))
        yield fam
        fam = _family("runai_workload_episodes_total")
        for key in _grid(s["episodes"], projects, WORKLOAD_TYPES, KINDS):
            fam.add_metric(list(key), s["episodes"].get(key, 0))
        yield fam
        fam = _family("runai_workloads_finished_total")
        for key in _grid(s["finished"], projects, WORKLOAD_TYPES):
            fam.add_metric(list(key), s["finished"].get(key, 0))
        yield fam
        fam = _family("runai_workloads")
        for key in _grid(s["workloads"], projects, PHASES):
            fam.add_metric(list(key), s["workloads"].get(key, 0))
        yield fam
        yield _scalar(P + "up", s["up"])
        yield _scalar(P + "last_success_timestamp_seconds", s["last_success"])
        buckets, count, total = s["duration"]
        hist = HistogramMetricFamily(
            P + "poll_duration_seconds", SPECS[P + "poll_duration_seconds"].help,
            buckets=[*((str(b), n) for b, n in zip(POLL_DURATION_BUCKETS, buckets, strict=True)),
                     ("+Inf", count)],
            sum_value=total,
        )
        yield hist
        fam = _family(P + "polls_total")
        for result in sorted(s["polls"]):
            fam.add_metric([result], s["polls"][result])
        yield fam
        fam = _family(P + "api_requests_total")
        for key in sorted(s["api_requests"]):
            fam.add_metric(list(key), s["api_requests"][key])
        yield fam
        yield _scalar(P + "db_write_errors_total", s["db_write_errors"])
        yield _scalar(P + "pending_writes", s["pending_writes"])
        fam = _family(P + "build_info")
        fam.add_metric([self._state.version, platform.python_version()], 1)
        yield fam


def _family(name: str) -> CounterMetricFamily | GaugeMetricFamily:
    spec = SPECS[name]
    if spec.type == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


def _scalar(name: str, value: float) -> Metric:
    fam = _family(name)
    fam.add_metric([], value)
    return fam


def _grid(
    seen: dict[Any, Any], projects: list[str], *dimensions: tuple[str, ...]
) -> list[tuple[str, ...]]:
    """Every known combination (exported as 0 before its first increment), plus any seen."""
    keys: set[tuple[str, ...]] = set(seen)
    combos: list[tuple[str, ...]] = [(p,) for p in projects]
    for values in dimensions:
        combos = [(*c, v) for c in combos for v in values]
    keys.update(combos)
    return sorted(keys)


def make_registry(state: MetricsState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(state))
    return registry
