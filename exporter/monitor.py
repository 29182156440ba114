"""One monitoring cycle: list, detect, gather evidence, classify, record, count.

A cycle either succeeds (every workload listed) or fails as a whole (an API fault outlasted the
retries): a failed cycle records nothing, is counted and logged once, and the next cycle tries
again, so an outage never reads as "no failures". Evidence for new episodes is gathered by a
small thread pool within a per-failure and a per-cycle budget; a failure whose evidence is
incomplete is still recorded, classified from what was gathered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from exporter import sync_state
from exporter.categories import label_workload_type
from exporter.detect import (
    Detection,
    Episode,
    FinishedRun,
    detect,
    from_history,
    parse_time,
)
from exporter.errors import StoreError, UpstreamError
from exporter.evidence import Evidence, from_listing, gather
from exporter.k8s_client import KubeClient
from exporter.metrics import MetricsState
from exporter.model import Classification, FailureRecord, RunRecord
from exporter.records import failure_record, run_record
from exporter.runai_client import RunaiClient
from exporter.sync_state import SyncState

log = logging.getLogger("exporter.monitor")
Classifier = Callable[[dict[str, Any]], Classification]
_LOGGED_FAILURES = 20  # per cycle; the rest are summed up in one line


class FlushOutcome(Protocol):
    @property
    def error(self) -> str | None: ...
    @property
    def pending(self) -> int: ...


class Store(Protocol):
    """The writer side of the history file (exporter.store.HistoryStore)."""

    def known_episode_ids(self) -> set[str]: ...
    def known_run_ids(self) -> set[str]: ...
    def enqueue(
        self, failures: Iterable[FailureRecord] = (), runs: Iterable[RunRecord] = ()
    ) -> None: ...
    def flush(self) -> FlushOutcome: ...
    @property
    def pending(self) -> int: ...
    def prune_if_due(self, now: datetime, retention_days: int) -> object: ...


@dataclass(frozen=True)
class Settings:
    projects: tuple[str, ...] = ()
    poll_interval_s: float = 60.0
    pending_threshold_s: float = 1800.0
    retention_days: int = 90
    evidence_workers: int = 8
    per_failure_budget_s: float = 20.0
    cycle_budget_s: float | None = None  # None: the larger of 60 s and the poll interval
    # Runs needing a node: per-workload GET .../pods (~1.3 ms each) below this share of all
    # workloads, else one paged listing of every pod (~40 us a pod; measured at 10,000
    # workloads: the listing wins from ~430 runs, 4 % of them).
    bulk_node_lookup_share: float = 0.04
    history_per_cycle: int = 2000  # timelines read per cycle; a backlog continues next cycle


@dataclass
class CycleReport:
    number: int
    ok: bool
    started_at: datetime
    duration_s: float = 0.0
    workloads: int = 0
    failures: list[FailureRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    error: str | None = None
    write_error: str | None = None
    interrupted: bool = False


def _default_classifier() -> Classifier:
    from exporter.classifier import classify

    return classify


class Monitor:
    def __init__(
        self,
        runai: RunaiClient,
        kube: KubeClient | None,
        store: Store,
        state: MetricsState,
        settings: Settings,
        *,
        classify: Classifier | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sync_path: str | None = None,  # the history file's path: keep the sync state beside it
    ) -> None:
        self.sync_path = sync_path
        self.runai = runai
        self.kube = kube
        self.store = store
        self.state = state
        self.settings = settings
        self._classify = classify or _default_classifier()
        self._now = now
        self.cycles = 0
        self.known_episodes: set[str] = set()
        self.known_runs: set[str] = set()
        # Workload id -> the phase change its timeline was last read at (this process only).
        self._synced: dict[str, str] = {}
        self._synced_next: dict[str, str] = {}
        self._deleted_mark: str | None = None  # newest deletedAt seen: list deletions since

    def load_known(self) -> None:
        """What the file already holds: those are never recorded or counted again; and which
        workloads' timelines it already reflects, when a sync state was saved beside it."""
        self.known_episodes = self.store.known_episode_ids()
        self.known_runs = self.store.known_run_ids()
        if self.sync_path is not None:
            saved = sync_state.load(
                self.sync_path, len(self.known_episodes) + len(self.known_runs)
            )
            self._synced, self._deleted_mark = saved.markers, saved.deleted_mark

    # -- the cycle ------------------------------------------------------------------------
    def run_cycle(self, stop: threading.Event | None = None) -> CycleReport:
        self.cycles += 1
        started = self._now()
        t0 = time.monotonic()
        report = CycleReport(self.cycles, ok=False, started_at=started)
        log.info("Monitoring check #%d at %s", self.cycles, started.strftime("%H:%M:%S"))
        try:
            live = self.runai.list_workloads(self.settings.projects)
            # Deleted workloads leave the listing; their runs and failures still count.
            gone = self.runai.list_workloads(
                self.settings.projects, deleted=True, deleted_since=self._deleted_mark
            )
            report.workloads = len(live)
            log.info("Found %d workload(s)", len(live))
            live_ids = {w.get("id") for w in live}
            gone = [w for w in gone if w.get("id") not in live_ids]
            found = self._detect(live, gone, _control_plane_now(started, live), stop)
            report.failures = self._failures(found.episodes, t0, stop, report)
            report.runs = self._runs(found, report.failures, len(live) + len(gone))
        except UpstreamError as exc:
            report.duration_s = time.monotonic() - t0
            report.error = str(exc)
            self.state.poll_failed(report.duration_s)
            log.error(
                "Monitoring check #%d failed: %s (next try in %gs)",
                self.cycles, exc, self.settings.poll_interval_s,
            )
            return report
        pending = self._record(report, found)
        before = (self._synced, self._deleted_mark)
        self._synced = self._synced_next
        marks = [str(w["deletedAt"]) for w in gone if w.get("deletedAt")]
        if marks:
            self._deleted_mark = max([*marks, self._deleted_mark or ""], key=_instant)
        if self.sync_path is not None and pending == 0 and not report.interrupted and before != (
            self._synced, self._deleted_mark
        ):  # only what is in the file may be called synced
            sync_state.save(self.sync_path, SyncState(self._synced, self._deleted_mark))
        report.ok = True
        report.duration_s = time.monotonic() - t0
        self.state.poll_succeeded(dict(found.phases), report.duration_s, started.timestamp())
        return report

    def _detect(
        self,
        live: list[dict[str, Any]],
        gone: list[dict[str, Any]],
        now: datetime,
        stop: threading.Event | None = None,
    ) -> Detection:
        """New episodes and runs: from each workload's present phase, and from the timeline of
        every workload that changed (or is new to this process), so none passed unseen.

        A workload seen exactly so (same phase, same phaseUpdatedAt) by the last successful
        cycle has nothing new to say, unless it is Pending and may now cross the threshold:
        skipping the rest keeps a steady cycle over 10,000 workloads close to the bare fetch.
        """
        threshold = timedelta(seconds=self.settings.pending_threshold_s)
        before = self._synced
        synced: dict[str, str] = {}
        changed: list[dict[str, Any]] = []
        for workload in (*live, *gone):
            wid, mark = str(workload.get("id")), _marker(workload)
            if before.get(wid) == mark:
                synced[wid] = mark
                if workload.get("phase") != "Pending":
                    continue
            changed.append(workload)
        found = detect(changed, now=now, pending_threshold=threshold,
                       known_episodes=self.known_episodes, known_runs=self.known_runs)
        found.phases = Counter(
            (str(w.get("projectName") or ""), str(w.get("phase") or "Unknown")) for w in live
        )
        stale = [w for w in changed if str(w.get("id")) not in synced]
        stale.sort(key=lambda w: str(w.get("id")) not in before)  # changed ones first
        todo = stale[: self.settings.history_per_cycle]
        episode_ids = {e.episode_id for e in found.episodes}
        run_ids = {r.run_id for r in found.runs}
        timelines: list[list[dict[str, Any]] | None] = []
        errors: list[str] = []
        if todo:
            with ThreadPoolExecutor(self.settings.evidence_workers) as pool:
                timelines = list(
                    pool.map(lambda w: self._history_or_none(w, errors, stop), todo)
                )
        if errors:  # one line per cycle, however many failed
            log.warning(
                "%d workload timeline(s) not read, retried next cycle (first error: %s)",
                len(errors), errors[0],
            )
        for workload, records in zip(todo, timelines, strict=True):
            if records is None:
                continue  # not synced: tried again next cycle
            synced[str(workload.get("id"))] = _marker(workload)
            episodes, runs = from_history(
                workload, records, now=now, pending_threshold=threshold
            )
            for e in episodes:
                if e.episode_id not in self.known_episodes and e.episode_id not in episode_ids:
                    episode_ids.add(e.episode_id)
                    found.episodes.append(e)
            for r in runs:
                if r.run_id not in self.known_runs and r.run_id not in run_ids:
                    run_ids.add(r.run_id)
                    found.runs.append(r)
        # Nothing older than the retention window: it would be pruned, and after a prune and a
        # restart it must not come back from a timeline.
        horizon = now - timedelta(days=self.settings.retention_days)
        found.episodes = [e for e in found.episodes if e.timestamp >= horizon]
        found.runs = [r for r in found.runs if r.finished_at >= horizon]
        self._synced_next = synced
        return found

    def _history_or_none(
        self, workload: dict[str, Any], errors: list[str], stop: threading.Event | None
    ) -> list[dict[str, Any]] | None:
        if stop is not None and stop.is_set():
            return None  # stopping: not synced, read after the restart
        try:
            return self.runai.history(str(workload.get("id")))
        except UpstreamError as exc:
            errors.append(str(exc))  # list.append is atomic: safe from the pool's threads
            return None

    def _failures(
        self,
        episodes: list[Episode],
        t0: float,
        stop: threading.Event | None,
        report: CycleReport,
    ) -> list[FailureRecord]:
        if not episodes:
            return []
        budget = self.settings.cycle_budget_s or max(60.0, self.settings.poll_interval_s)
        cycle_deadline = t0 + budget

        def one(episode: Episode) -> FailureRecord | None:
            if stop is not None and stop.is_set():
                return None  # not recorded: found again after the restart
            now = time.monotonic()
            if now >= cycle_deadline:
                evidence = from_listing(episode.workload, "all evidence: cycle time budget spent")
            else:
                deadline = min(now + self.settings.per_failure_budget_s, cycle_deadline)
                evidence = gather(
                    episode.workload, self.runai, self.kube, deadline=deadline,
                    detail=episode.kind == "pending",  # only it needs pendingSchedulingMessages
                )
            return failure_record(episode, evidence, self._classify_safely(evidence))

        workers = max(1, min(self.settings.evidence_workers, len(episodes)))
        with ThreadPoolExecutor(workers, thread_name_prefix="evidence") as pool:
            results = list(pool.map(one, episodes))
        report.interrupted = any(r is None for r in results)
        recorded = [r for r in results if r is not None]
        partial = sum(1 for r in recorded if r.details.get("evidence_gaps"))
        if partial:
            log.info("%d of %d new episode(s) recorded with incomplete evidence (see "
                     "details.evidence_gaps)", partial, len(recorded))
        return recorded

    def _classify_safely(self, evidence: Evidence) -> Classification:
        try:
            return self._classify(evidence.bundle)
        except Exception as exc:  # the classifier promises not to raise; never lose a failure
            log.exception("classifier raised on one bundle; recorded as unknown")
            return Classification(
                category="unknown", confidence=0.0, evidence="", evidence_source="none",
                summary="The classifier could not read this failure's evidence.",
                recommendation="Read the stored evidence bundle.",
                details={"classifier_error": type(exc).__name__},
            )

    def _runs(
        self, found: Detection, failures: list[FailureRecord], workloads: int
    ) -> list[RunRecord]:
        """New terminal runs with the node each ran on (hot-node rates need every run's node)."""
        nodes: dict[str, str | None] = {f.workload_id: f.node for f in failures}
        missing = [r for r in found.runs if nodes.get(str(r.workload.get("id"))) is None]
        deferred: set[str] = set()
        if missing:
            try:
                nodes.update(self._nodes_of(missing, workloads))
            except UpstreamError as exc:
                # Record the failures now; runs without their node wait for the next cycle.
                deferred = {r.run_id for r in missing}
                for r in missing:  # look at these workloads afresh next cycle
                    self._synced_next.pop(str(r.workload.get("id")), None)
                log.warning(
                    "Node lookup failed (%s); %d finished run(s) deferred to the next cycle",
                    exc, len(deferred),
                )
        return [
            run_record(r, nodes.get(str(r.workload.get("id"))))
            for r in found.runs
            if r.run_id not in deferred
        ]

    def _nodes_of(self, runs: list[FinishedRun], workloads: int) -> dict[str, str | None]:
        wanted = {str(r.workload.get("id")) for r in runs}
        if len(wanted) < max(25, self.settings.bulk_node_lookup_share * workloads):
            with ThreadPoolExecutor(self.settings.evidence_workers) as pool:
                pods = dict(zip(wanted, pool.map(self.runai.pods, wanted), strict=True))
            return {wid: _node_of(p) for wid, p in pods.items()}
        found: dict[str, list[dict[str, Any]]] = {}
        for deleted in (False, True):
            for pod in self.runai.all_pods(deleted=deleted):
                wid = str(pod.get("workloadId"))
                if wid in wanted:
                    found.setdefault(wid, []).append(pod)
            if wanted <= {w for w, p in found.items() if _node_of(p)}:
                break
        return {wid: _node_of(found.get(wid, [])) for wid in wanted}

    def _record(self, report: CycleReport, found: Detection) -> int:
        """Queue, count and write this cycle's records; returns how many are still queued."""
        self.store.enqueue(report.failures, report.runs)
        for f in report.failures:
            self.known_episodes.add(f.episode_id)
            self.state.record_failure(f.project, f.workload_type, f.kind, f.category)
        for r in report.runs:
            self.known_runs.add(r.run_id)
            self.state.record_finished(r.project, label_workload_type(r.workload_type))
        self._log_failures(report.failures)
        outcome = self.store.flush()
        report.write_error = outcome.error
        self.state.write_result(outcome.error is not None, outcome.pending)
        if outcome.error:
            log.error(
                "Could not write the history file (%s); %d record(s) kept for the next try",
                outcome.error, outcome.pending,
            )
        try:
            self.store.prune_if_due(report.started_at, self.settings.retention_days)
        except StoreError as exc:
            log.warning("Retention pruning skipped this cycle: %s", exc)
        return outcome.pending

    def _log_failures(self, failures: list[FailureRecord]) -> None:
        for f in failures[:_LOGGED_FAILURES]:
            what = "New failure" if f.kind == "failed" else f"New {f.kind} episode"
            log.info(
                "%s: %s/%s (%s) -> %s", what, f.project, f.workload_name, f.workload_type,
                f.category,
                extra={"project": f.project, "category": f.category, "kind": f.kind},
            )
        if len(failures) > _LOGGED_FAILURES:
            log.info("... and %d more new episode(s)", len(failures) - _LOGGED_FAILURES)


def _control_plane_now(local: datetime, workloads: list[dict[str, Any]]) -> datetime:
    """Our clock, unless the API already reported a later instant: the control plane cannot
    have stamped its own future, so its newest phaseUpdatedAt is a lower bound of its now.
    Corrects a local clock that runs behind (and the demo's accelerated simulator)."""
    stamps = [s for w in workloads if isinstance(s := w.get("phaseUpdatedAt"), str)]
    newest = parse_time(max(stamps)) if stamps else None  # ISO-8601 UTC sorts as text
    return max(local, newest) if newest is not None else local


def _marker(workload: dict[str, Any]) -> str:
    return f"{workload.get('phase')}@{workload.get('phaseUpdatedAt')}"


def _instant(text: str) -> datetime:
    return parse_time(text) or datetime.min.replace(tzinfo=UTC)


def _node_of(pods: list[dict[str, Any]]) -> str | None:
    """The node of the workload's latest pod that was scheduled somewhere."""
    placed = [p for p in pods if p.get("nodeName")]
    if not placed:
        return None
    latest = max(placed, key=lambda p: parse_time(p.get("createdAt")) or datetime.min.replace(
        tzinfo=UTC))
    return str(latest["nodeName"])
