"""The exporter's Prometheus metrics: declared once as data, built fresh at every scrape.

The monitor updates a `MetricsState` (in-memory counters under one lock); `StateCollector`
turns a snapshot of it into metric families on each scrape. Labels are bounded: the cluster,
projects, workload types (history.categories.label_workload_type), categories, kinds, phases,
nodes (bounded by the cluster's size), Xid codes, endpoint templates and status codes; never
workload or pod names. Counters count what this process recorded since it started; they never
replay history from the database.

Two rules keep the series honest and few:
- Live or backfilled. A failure found long after it happened (the first poll of a fresh
  install, or after an outage) is history, not news: it goes into the database and the
  `…_backfilled_total` counters, never into the live counters that alerts read.
- Born at zero. A counter's new label set is first exposed at 0 and its increment shown from
  the next scrape on, so `increase()` sees the first failure on a node or in a project (a
  series born at 1 has no earlier sample to rise from). Nothing is exposed for label sets
  that never happened: no pre-filled grid of zeros.
"""

from __future__ import annotations

import platform
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from history.categories import NODE_CATEGORIES, label_workload_type
from history.records import FailureRecord

PHASES: tuple[str, ...] = (
    "Creating", "Initializing", "Resuming", "Pending", "Deleting", "Running", "Updating",
    "Stopped", "Stopping", "Degraded", "Failed", "Completed", "Terminating", "Unknown",
)
POLL_DURATION_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)
# Time to failure spans seconds (a bad image) to weeks (a long training run).
TIME_TO_FAILURE_BUCKETS: tuple[float, ...] = (
    60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400,
)
# Failure to record: a poll interval plus evidence gathering, or far longer when backfilled.
RECORDING_DELAY_BUCKETS: tuple[float, ...] = (15, 30, 60, 120, 300, 600, 1800, 3600)
# A project gone from the listing and quiet this long loses its series (its counters would
# otherwise live until the next restart).
VANISHED_PROJECT_GRACE_S = 6 * 3600.0
# Without a scrape for this long, a new series' increment is shown anyway (nobody scrapes).
BORN_AT_ZERO_MAX_HOLD_S = 300.0


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as exposed, without the _total / _bucket suffixes prometheus_client adds
    type: str  # "counter" | "gauge" | "histogram"
    help: str
    labels: tuple[str, ...] = ()  # besides `cluster`, which every series carries


P = "runai_failure_exporter_"
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("runai_workload_failures_total", "counter",
               "Workload failures (Failed episodes) recorded live by this process, by root "
               "cause; failures found long after they happened count as backfilled instead.",
               ("project", "workload_type", "category")),
    MetricSpec("runai_workload_episodes_total", "counter",
               "Failure episodes recorded live by this process: failed, degraded or long "
               "pending.",
               ("project", "workload_type", "kind")),
    MetricSpec("runai_workloads_finished_total", "counter",
               "Workload runs that reached a terminal phase (Completed or Failed) recorded live "
               "by this process: the denominator of failure ratios.",
               ("project", "workload_type")),
    MetricSpec("runai_workload_failures_backfilled_total", "counter",
               "Failure episodes recorded by this process that were found long after they "
               "happened (first poll, or after an outage): history, not news; alerts ignore it.",
               ("project", "kind")),
    MetricSpec("runai_workloads_finished_backfilled_total", "counter",
               "Finished runs recorded by this process long after they ended (first poll, or "
               "after an outage).",
               ("project",)),
    MetricSpec("runai_node_failures_total", "counter",
               "Live workload failures a node can cause (GPU hardware, node failure, eviction, "
               "storage, CUDA driver, NCCL), by the node they ran on.",
               ("node", "category")),
    MetricSpec("runai_node_gpu_xid_failures_total", "counter",
               "Live workload failures whose evidence names an NVIDIA Xid, by node and Xid code.",
               ("node", "xid")),
    MetricSpec("runai_workload_failure_gpu_seconds_total", "counter",
               "GPU time lost to live failures: GPUs requested times the run's time from "
               "creation to failure, in GPU-seconds.",
               ("project",)),
    MetricSpec("runai_workload_time_to_failure_seconds", "histogram",
               "Time from a workload's creation to its live failure, by root cause.",
               ("category",)),
    MetricSpec("runai_workloads", "gauge",
               "Workloads per phase at the last successful poll (phases with none are absent).",
               ("project", "phase")),
    MetricSpec("runai_workloads_pending_oldest_age_seconds", "gauge",
               "Age of the longest-waiting Pending workload per project at the last "
               "successful poll.",
               ("project",)),
    MetricSpec(P + "up", "gauge", "1 if the last poll of the Run:ai API succeeded, else 0."),
    MetricSpec(P + "last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful poll (0 before the first)."),
    MetricSpec(P + "poll_duration_seconds", "histogram",
               "Wall time of one poll cycle: listing, evidence, classification and the write."),
    MetricSpec(P + "recording_delay_seconds", "histogram",
               "Time from a live failure (its phase change) to its recording by this process."),
    MetricSpec(P + "polls_total", "counter", "Poll cycles by result.", ("result",)),
    MetricSpec(P + "listings_total", "counter",
               "Workload listings by mode: full (every workload) or changes (only those whose "
               "phase changed since the last cycle, on control planes 2.22 and later).",
               ("mode",)),
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
# The counters whose label sets are born at zero (see the module docstring).
_BORN_AT_ZERO = (
    "runai_workload_failures_total", "runai_workload_episodes_total",
    "runai_workloads_finished_total", "runai_workload_failures_backfilled_total",
    "runai_workloads_finished_backfilled_total", "runai_node_failures_total",
    "runai_node_gpu_xid_failures_total", "runai_workload_failure_gpu_seconds_total",
)


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    buckets: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        if not self.buckets:
            self.buckets = [0] * len(self.bounds)
        self.count += 1
        self.total += value
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.buckets[i] += 1

    def copy(self) -> _Histogram:
        return _Histogram(self.bounds, list(self.buckets), self.count, self.total)


@dataclass(frozen=True)
class FailureObservation:
    """What the metrics take from one recorded failure episode."""

    project: str
    workload_type: str
    kind: str
    category: str
    node: str | None = None
    xid: int | None = None
    gpu_seconds: float | None = None
    time_to_failure_s: float | None = None
    recording_delay_s: float | None = None

    @classmethod
    def of(cls, record: FailureRecord, recorded_at: datetime) -> FailureObservation:
        created = _created_at(record)
        lifetime = (record.timestamp - created).total_seconds() if created else None
        if lifetime is not None and lifetime < 0:
            lifetime = None
        xid = record.details.get("xid")
        return cls(
            project=record.project,
            workload_type=label_workload_type(record.workload_type),
            kind=record.kind,
            category=record.category,
            node=record.node,
            xid=xid if isinstance(xid, int) and not isinstance(xid, bool) else None,
            gpu_seconds=(record.gpus_requested * lifetime
                         if record.gpus_requested and lifetime is not None else None),
            time_to_failure_s=lifetime,
            recording_delay_s=max(0.0, (recorded_at - record.timestamp).total_seconds()),
        )


def _created_at(record: FailureRecord) -> datetime | None:
    workload = record.bundle.get("workload") if isinstance(record.bundle, Mapping) else None
    stamp = workload.get("createdAt") if isinstance(workload, Mapping) else None
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


class MetricsState:
    """What the collector exports; written by the monitor, read at scrape time."""

    def __init__(
        self,
        projects: Iterable[str] = (),
        version: str = "",
        *,
        cluster: str = "default",
        hold_new_series_s: float = BORN_AT_ZERO_MAX_HOLD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self.version = version or _version()
        self.cluster = cluster
        self._clock = clock
        self._hold_s = hold_new_series_s
        # project -> when it was last seen (listing or record); drives the vanished-grace drop
        self._projects: dict[str, float] = {p: clock() for p in projects if p}
        self._counters: dict[str, Counter[tuple[str, ...]]] = {n: Counter() for n in _BORN_AT_ZERO}
        self._exposed: set[tuple[str, tuple[str, ...]]] = set()
        self._held: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self._held_since: dict[tuple[str, tuple[str, ...]], float] = {}
        self.workloads: dict[tuple[str, str], int] = {}
        self.pending_oldest: dict[str, float] = {}
        self.up = 0
        self.last_success = 0.0
        self.polls: Counter[str] = Counter({"success": 0, "failure": 0})
        self.listings: Counter[str] = Counter({"full": 0, "changes": 0})
        self.api_requests: Counter[tuple[str, str]] = Counter()
        self.db_write_errors = 0
        self.pending_writes = 0
        self.duration = _Histogram(POLL_DURATION_BUCKETS)
        self.recording_delay = _Histogram(RECORDING_DELAY_BUCKETS)
        self.time_to_failure: dict[str, _Histogram] = {}

    # -- written by the monitor and the HTTP clients ---------------------------------------
    def observe_request(self, endpoint: str, code: str) -> None:
        with self._lock:
            self.api_requests[(endpoint, code)] += 1

    def record(self, record: FailureRecord, *, recorded_at: datetime, live: bool) -> None:
        """One recorded failure episode, live or backfilled."""
        self.observe_failure(FailureObservation.of(record, recorded_at), live=live)

    def record_failure(
        self, project: str, workload_type: str, kind: str, category: str, *, live: bool = True
    ) -> None:
        self.observe_failure(FailureObservation(project, workload_type, kind, category), live=live)

    def observe_failure(self, seen: FailureObservation, *, live: bool) -> None:
        with self._lock:
            self._saw_project(seen.project)
            if not live:
                self._inc("runai_workload_failures_backfilled_total", (seen.project, seen.kind))
                return
            self._inc("runai_workload_episodes_total",
                      (seen.project, seen.workload_type, seen.kind))
            if seen.kind != "failed":
                return
            self._inc("runai_workload_failures_total",
                      (seen.project, seen.workload_type, seen.category))
            if seen.node and seen.category in NODE_CATEGORIES:
                self._inc("runai_node_failures_total", (seen.node, seen.category))
            if seen.node and seen.xid is not None:
                self._inc("runai_node_gpu_xid_failures_total", (seen.node, str(seen.xid)))
            if seen.gpu_seconds:
                self._inc("runai_workload_failure_gpu_seconds_total", (seen.project,),
                          seen.gpu_seconds)
            if seen.time_to_failure_s is not None:
                self.time_to_failure.setdefault(
                    seen.category, _Histogram(TIME_TO_FAILURE_BUCKETS)
                ).observe(seen.time_to_failure_s)
            if seen.recording_delay_s is not None:
                self.recording_delay.observe(seen.recording_delay_s)

    def record_finished(self, project: str, workload_type: str, *, live: bool = True) -> None:
        with self._lock:
            self._saw_project(project)
            if live:
                self._inc("runai_workloads_finished_total", (project, workload_type))
            else:
                self._inc("runai_workloads_finished_backfilled_total", (project,))

    def poll_succeeded(
        self,
        phases: dict[tuple[str, str], int],
        duration_s: float,
        at: float,
        *,
        pending_oldest: Mapping[str, float] | None = None,
    ) -> None:
        with self._lock:
            for project, _ in phases:
                self._saw_project(project)
            self.workloads = {key: n for key, n in phases.items() if n}
            self.pending_oldest = dict(pending_oldest or {})
            self.up = 1
            self.last_success = at
            self.polls["success"] += 1
            self.duration.observe(duration_s)
            self._drop_vanished_projects()

    def listed(self, mode: str) -> None:
        with self._lock:
            self.listings[mode] += 1

    def poll_failed(self, duration_s: float) -> None:
        with self._lock:
            self.up = 0
            self.polls["failure"] += 1
            self.duration.observe(duration_s)

    def write_result(self, failed: bool, pending: int) -> None:
        with self._lock:
            self.db_write_errors += int(failed)
            self.pending_writes = pending

    def last_success_at(self) -> float:
        """For /readyz: unlike a scrape (snapshot), it exposes and releases nothing."""
        with self._lock:
            return self.last_success

    # -- inside the lock -------------------------------------------------------------------
    def _saw_project(self, project: str) -> None:
        if project:
            self._projects[project] = self._clock()

    def _inc(self, name: str, key: tuple[str, ...], amount: float = 1.0) -> None:
        if (name, key) in self._exposed or self._hold_s <= 0:
            self._counters[name][key] += amount  # type: ignore[assignment]
            self._exposed.add((name, key))
            return
        self._held[(name, key)] += amount  # type: ignore[assignment]
        self._held_since.setdefault((name, key), self._clock())

    def _drop_vanished_projects(self) -> None:
        cutoff = self._clock() - VANISHED_PROJECT_GRACE_S
        gone = {p for p, seen in self._projects.items() if seen < cutoff}
        if not gone:
            return
        for p in gone:
            del self._projects[p]
        for name, counter in self._counters.items():
            if name in ("runai_node_failures_total", "runai_node_gpu_xid_failures_total"):
                continue  # nodes outlive projects
            for key in [k for k in counter if k[0] in gone]:
                del counter[key]
                self._exposed.discard((name, key))

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy for one scrape. Held increments of series a previous scrape
        exposed at zero are released now; new series are exposed at zero by this scrape."""
        with self._lock:
            now = self._clock()
            for item in list(self._held):
                if item in self._exposed or now - self._held_since[item] > self._hold_s:
                    name, key = item
                    self._counters[name][key] += self._held.pop(item)
                    del self._held_since[item]
                    self._exposed.add(item)
            counters = {name: dict(c) for name, c in self._counters.items()}
            for name, key in self._held:
                counters[name].setdefault(key, 0)
                self._exposed.add((name, key))
            return {
                "counters": counters,
                "workloads": dict(self.workloads),
                "pending_oldest": dict(self.pending_oldest),
                "up": self.up,
                "last_success": self.last_success,
                "polls": dict(self.polls),
                "listings": dict(self.listings),
                "api_requests": dict(self.api_requests),
                "db_write_errors": self.db_write_errors,
                "pending_writes": self.pending_writes,
                "duration": self.duration.copy(),
                "recording_delay": self.recording_delay.copy(),
                "time_to_failure": {c: h.copy() for c, h in self.time_to_failure.items()},
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
        cluster = self._state.cluster
        for name, values in s["counters"].items():
            fam = _family(name)
            for key in sorted(values):
                fam.add_metric([cluster, *key], values[key])
            yield fam
        fam = _family("runai_workloads")
        for key in sorted(s["workloads"]):
            fam.add_metric([cluster, *key], s["workloads"][key])
        yield fam
        fam = _family("runai_workloads_pending_oldest_age_seconds")
        for project in sorted(s["pending_oldest"]):
            fam.add_metric([cluster, project], s["pending_oldest"][project])
        yield fam
        yield _scalar(P + "up", cluster, s["up"])
        yield _scalar(P + "last_success_timestamp_seconds", cluster, s["last_success"])
        yield _histogram(P + "poll_duration_seconds", {(): s["duration"]}, cluster)
        yield _histogram(P + "recording_delay_seconds", {(): s["recording_delay"]}, cluster)
        yield _histogram(
            "runai_workload_time_to_failure_seconds",
            {(c,): h for c, h in sorted(s["time_to_failure"].items())},
            cluster,
        )
        fam = _family(P + "polls_total")
        for result in sorted(s["polls"]):
            fam.add_metric([cluster, result], s["polls"][result])
        yield fam
        fam = _family(P + "listings_total")
        for mode in sorted(s["listings"]):
            fam.add_metric([cluster, mode], s["listings"][mode])
        yield fam
        fam = _family(P + "api_requests_total")
        for key in sorted(s["api_requests"]):
            fam.add_metric([cluster, *key], s["api_requests"][key])
        yield fam
        yield _scalar(P + "db_write_errors_total", cluster, s["db_write_errors"])
        yield _scalar(P + "pending_writes", cluster, s["pending_writes"])
        fam = _family(P + "build_info")
        fam.add_metric([cluster, self._state.version, platform.python_version()], 1)
        yield fam


def _family(name: str) -> CounterMetricFamily | GaugeMetricFamily:
    spec = SPECS[name]
    labels = ["cluster", *spec.labels]
    if spec.type == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=labels)


def _scalar(name: str, cluster: str, value: float) -> Metric:
    fam = _family(name)
    fam.add_metric([cluster], value)
    return fam


def _histogram(name: str, series: Mapping[tuple[str, ...], _Histogram], cluster: str) -> Metric:
    spec = SPECS[name]
    fam = HistogramMetricFamily(spec.name, spec.help, labels=["cluster", *spec.labels])
    for key, h in series.items():
        counts = h.buckets or [0] * len(h.bounds)
        fam.add_metric(
            [cluster, *key],
            buckets=[*((floatToGoString(b), n) for b, n in zip(h.bounds, counts, strict=True)),
                     ("+Inf", h.count)],
            sum_value=h.total,
        )
    return fam


def make_registry(state: MetricsState) -> CollectorRegistry:
    """Our families plus the library's process_* and python_info: the sidecar's known
    failure mode is memory, so its resident size is a first-class series."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(state))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
