"""One monitoring cycle: list, detect, gather evidence, classify, record, count.

A cycle either succeeds (every workload listed) or fails as a whole (an API fault outlasted the
retries): a failed cycle records nothing, is counted and logged once, and the next cycle tries
again, so an outage never reads as "no failures". Evidence for new episodes is gathered by a
small thread pool within a per-failure and a per-cycle budget; a failure whose evidence is
incomplete is still recorded, classified from what was gathered.

A first start (until every listed workload's timeline was read once) streams instead: one page
of the listing at a time is judged, its evidence gathered, its records written and the sync
state saved, then the page is dropped. Memory holds one page, not the tenant, and a sidecar
killed mid-way loses at most the page in hand: the restart skips what the sync state and the
file already hold. Once the cycle's budget is spent, or a write failed, the remaining pages are
only counted (the gauges stay whole) and wait for the next cycle. A streamed cycle that fails
keeps the pages it wrote: they are true, and the next cycle goes on from them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from common.errors import ConfigError, StoreError, UpstreamError
from exporter.detect.episodes import Detection, Episode
from exporter.detect.identity import KnownEntries
from exporter.detect.nodes import CycleNodes, nodes_of
from exporter.detect.timelines import Timelines, control_plane_now, phase_counts
from exporter.evidence import Evidence, namespace_of, within_budget
from exporter.kube.batch import KubeBatch, KubeReads
from exporter.kube.client import KubeClient
from exporter.listing import FULL, Listing, ListingSettings
from exporter.metrics import MetricsState
from exporter.model import Classification, Workload
from exporter.records import failure_record, run_record
from exporter.runai.client import RunaiClient
from history.categories import label_workload_type
from history.records import FailureRecord, RunRecord

log = logging.getLogger("exporter.monitor")
Classifier = Callable[[dict[str, Any]], Classification]
_LOGGED_FAILURES = 20  # per cycle; the rest are summed up in one line


class FlushOutcome(Protocol):
    @property
    def error(self) -> str | None: ...
    @property
    def pending(self) -> int: ...


class Store(Protocol):
    """The writer side of the history file (history.store.HistoryStore)."""

    def known_episodes(self) -> dict[str, str]: ...  # episode_id -> kind
    def known_runs(self) -> dict[str, str]: ...  # run_id -> phase
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
    bulk_node_lookup_share: float = 0.04  # exporter.detect.nodes: when one paged pod listing pays
    history_per_cycle: int = 2000  # timelines read per cycle; a backlog continues next cycle
    listing: ListingSettings = field(default_factory=ListingSettings)  # exporter.listing
    # Keep each cycle's records in its report (tests and tools read them); the sidecar does
    # not, so a first start holds one page's records at a time, not the tenant's.
    report_records: bool = True


@dataclass
class CycleReport:
    number: int
    ok: bool
    started_at: datetime
    duration_s: float = 0.0
    workloads: int = 0
    failures: list[FailureRecord] = field(default_factory=list)  # when report_records
    runs: list[RunRecord] = field(default_factory=list)  # when report_records
    recorded: Counter[str] = field(default_factory=Counter)  # by episode kind, and "runs"
    streamed: bool = False  # a first-start cycle, a page at a time
    error: str | None = None
    write_error: str | None = None
    interrupted: bool = False
    listing: str | None = None  # exporter.listing: "full" or "changes"
    # The control plane's clock at this cycle (timelines.control_plane_now)
    now: datetime | None = None


# Is a failure news (live counters, which alerts read) or history (backfilled)? News is what
# happened since the previous successful poll began, give or take LIVE_SLACK for clocks and
# evidence gathering; the first poll of a fresh install, and anything older than LIVE_MAX
# (after a long outage), is history: three-day-old failures must not page anyone.
LIVE_SLACK = timedelta(minutes=10)
LIVE_MAX = timedelta(hours=1)


def live_since(now: datetime, previous_poll: datetime | None) -> datetime:
    """The earliest phase change that still counts as news at `now` (control-plane time)."""
    if previous_poll is None:
        return now - LIVE_SLACK
    return now - min(max(now - previous_poll, timedelta(0)) + LIVE_SLACK, LIVE_MAX)


@dataclass
class Gauges:
    """What a successful cycle sets the per-phase gauges to, page by page when streamed."""

    phases: Counter[tuple[str, str]] = field(default_factory=Counter)
    pending_oldest: dict[str, float] = field(default_factory=dict)

    def add(self, workloads: list[Workload], now: datetime) -> None:
        self.phases.update(phase_counts(workloads))
        pending_oldest_ages(workloads, now, self.pending_oldest)


def pending_oldest_ages(
    workloads: list[Workload], now: datetime, oldest: dict[str, float] | None = None
) -> dict[str, float]:
    """Per project, how long its longest-waiting Pending workload has waited (seconds);
    added to `oldest` when given."""
    oldest = {} if oldest is None else oldest
    for w in workloads:
        if w.phase != "Pending":
            continue
        since, project = w.phase_updated_at, w.project
        if since is None or not project:
            continue
        age = max(0.0, (now - since).total_seconds())
        oldest[project] = max(age, oldest.get(project, 0.0))
    return oldest


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
        self.runai = runai
        self.kube = kube
        self.store = store
        self.state = state
        self.settings = settings
        self._classify = classify or _default_classifier()
        self._now = now
        self.cycles = 0
        self._previous_poll: datetime | None = None  # control-plane time of the last good cycle
        # Matched by workload, kind and phase entry within a tolerance, not by exact id.
        self.known_episodes = KnownEntries()
        self.known_runs = KnownEntries()
        self.timelines = Timelines(
            runai, per_cycle=settings.history_per_cycle, workers=settings.evidence_workers,
            sync_path=sync_path,
        )
        self.listing = Listing(runai, settings.listing)

    def load_known(self) -> None:
        """What the file already holds: those are never recorded or counted again; and which
        workloads' timelines it already reflects, when a sync state was saved beside it."""
        self.known_episodes = KnownEntries(self.store.known_episodes())
        self.known_runs = KnownEntries(self.store.known_runs())
        saved = self.timelines.load(len(self.known_episodes) + len(self.known_runs))
        self.listing.resume(saved.census)

    # -- the cycle ------------------------------------------------------------------------
    def run_cycle(self, stop: threading.Event | None = None) -> CycleReport:
        self.cycles += 1
        started = self._now()
        t0 = time.monotonic()
        report = CycleReport(self.cycles, ok=False, started_at=started)
        log.info("Monitoring check #%d at %s", self.cycles, started.strftime("%H:%M:%S"))
        try:
            if self.timelines.caught_up:
                gauges = self._whole_cycle(report, t0, stop)
            else:
                gauges = self._streamed_cycle(report, t0, stop)
            self._prune(report.started_at)
        except (UpstreamError, ConfigError) as exc:  # ConfigError: the cluster scope, settled
            return self._failed(report, t0, str(exc))  # late when Run:ai was down at start
        except Exception as exc:  # a bug or an answer nobody foresaw: fail this cycle, loudly,
            # and keep monitoring; crashing would only crash again on the same data
            log.exception("Monitoring check #%d hit an internal error", self.cycles)
            return self._failed(report, t0, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.listing.release()  # the listing held for the cycle: exporter.listing
        report.ok = True
        self._previous_poll = report.now
        report.duration_s = time.monotonic() - t0
        self.state.poll_succeeded(
            dict(gauges.phases), report.duration_s, started.timestamp(),
            pending_oldest=gauges.pending_oldest,
        )
        return report

    def _whole_cycle(
        self, report: CycleReport, t0: float, stop: threading.Event | None
    ) -> Gauges:
        """Every workload, or those changed since the last cycle (exporter.listing), listed
        at once, then judged, recorded and written (steady cycles)."""
        started = report.started_at
        # Deleted workloads leave the listing; their runs and failures still count. Only
        # those deleted since the last look, or on a first start within the retention
        # window (a long-lived tenant has deleted many more that could not be recorded).
        listed = self.listing.fetch(
            self.settings.projects, started, deleted_since=self._deleted_since(started),
        )
        live, gone = listed.look, listed.gone
        report.workloads, report.listing = listed.workloads, listed.mode
        self.state.listed(listed.mode)
        log.info("Found %d workload(s)", listed.workloads)
        log.info("Listing: %s", f"full ({listed.why})" if listed.complete else
                 f"changes only, {listed.listed} workload(s) changed")
        _log_checking(live)
        report.now = control_plane_now(started, live)
        found = self._detect(live, gone, report.now, stop, complete=listed.complete)
        deadline = t0 + self._cycle_budget()
        pending = self._record_found(found, report, deadline, stop, listed.workloads + len(gone))
        census = self.listing.settled(
            all_read=self.timelines.all_read and not report.interrupted
        )
        self.timelines.commit(save=pending == 0 and not report.interrupted, census=census)
        self._log_more(report)
        return Gauges(listed.phases, pending_oldest_ages(listed.pending, report.now))

    def _streamed_cycle(
        self, report: CycleReport, t0: float, stop: threading.Event | None
    ) -> Gauges:
        """A first-start cycle: one page of the listing at a time, judged, recorded, written
        and its progress saved before the next page is fetched (see the module's doc)."""
        report.streamed, report.listing = True, FULL
        self.state.listed(FULL)
        started = report.started_at
        deadline = t0 + self._cycle_budget()
        gauges, listed, live_ids = Gauges(), set[str](), set[str]()
        timelines_left, complete, written, judged = self.timelines.per_cycle, True, True, 0
        nodes = CycleNodes()
        report.now = started
        log.info("First start: the listing is read and recorded a page at a time "
                 "(%d workload timeline(s) known)", len(self.timelines.synced))
        self.timelines.start_pass()
        self.listing.stream_full(started)
        for live, gone in self._pages(started, live_ids):
            if stop is not None and stop.is_set():
                report.interrupted = True
                return gauges  # not a whole listing: the next start resumes from the file
            listed.update(w.id for w in (*live, *gone))
            _log_checking(live)
            report.workloads += len(live)
            report.now = control_plane_now(report.now, live)
            gauges.add(live, report.now)
            self.listing.add(live)
            fresh = not self.timelines.all_synced([*live, *gone])
            if fresh and (not written or (judged and time.monotonic() >= deadline)):
                # Counted, not judged: the next cycle takes them (each judges one page at
                # least). After a failed write the queue would only grow: memory stays bounded.
                complete = False
                continue
            judged += fresh
            found = self._detect(live, gone, report.now, stop, chunk=True,
                                 limit=timelines_left)
            timelines_left -= self.timelines.timelines_read
            # The budget decides whether another page starts, never cuts a page's evidence.
            pending = self._record_found(found, report, math.inf, stop,
                                         len(live) + len(gone), nodes)
            complete = complete and self.timelines.all_read  # after a refused record too
            saved = pending == 0 and not report.interrupted
            written = written and saved
            self.timelines.commit(save=saved)
        log.info("Found %d workload(s)", report.workloads)
        self.timelines.finish_pass(listed, caught_up=complete and written)
        census = self.listing.settled(all_read=complete and written)
        self.timelines.commit(save=written, census=census)
        if self.timelines.caught_up:
            log.info("First start done: every workload's timeline is read and recorded")
        self._log_more(report)
        return gauges

    def _pages(
        self, started: datetime, live_ids: set[str]
    ) -> Iterator[tuple[list[Workload], list[Workload]]]:
        """(live, deleted) pages: every live page first, so that a deleted workload listed
        live too (deleted meanwhile, or resubmitted under its id) is told apart."""
        projects = self.settings.projects
        for page in self.runai.workload_pages(projects):
            live_ids.update(w.id for w in page)
            yield page, []
        for page in self.runai.workload_pages(
            projects, deleted=True, deleted_since=self._deleted_since(started)
        ):
            yield [], [w for w in page if w.id not in live_ids]

    def _deleted_since(self, started: datetime) -> str:
        retention = timedelta(days=self.settings.retention_days)
        return self.timelines.deleted_mark or _iso(started - retention)

    def _cycle_budget(self) -> float:
        return self.settings.cycle_budget_s or max(60.0, self.settings.poll_interval_s)

    def _detect(
        self, live: list[Workload], gone: list[Workload], now: datetime,
        stop: threading.Event | None, **chunk: Any,
    ) -> Detection:
        return self.timelines.detect(
            live, gone, now=now,
            pending_threshold=timedelta(seconds=self.settings.pending_threshold_s),
            retention=timedelta(days=self.settings.retention_days),
            known_episodes=self.known_episodes, known_runs=self.known_runs, stop=stop,
            **chunk,
        )

    def _record_found(
        self, found: Detection, report: CycleReport, deadline: float,
        stop: threading.Event | None, workloads: int, nodes: CycleNodes | None = None,
    ) -> int:
        """Evidence (within `deadline`, monotonic), records and the write of what `found`
        holds; how many stay queued."""
        failures = self._failures(found.episodes, deadline, stop, report)
        runs = self._runs(found, failures, workloads, nodes)
        return self._record(report, failures, runs)

    def _failed(self, report: CycleReport, t0: float, error: str) -> CycleReport:
        self.listing.failed()
        report.duration_s = time.monotonic() - t0
        report.error = error
        self.state.poll_failed(report.duration_s)
        log.error(
            "Monitoring check #%d failed: %s (next try in %gs)",
            self.cycles, error, self.settings.poll_interval_s,
        )
        return report

    def _failures(
        self,
        episodes: list[Episode],
        cycle_deadline: float,
        stop: threading.Event | None,
        report: CycleReport,
    ) -> list[FailureRecord]:
        if not episodes:
            return []

        # One pod and one event listing per namespace for the batch (exporter.kube.batch)
        kube = self.kube and KubeBatch(self.kube, [
            (namespace_of(e.workload), e.workload.name) for e in episodes
            if self._kube_for(e.workload) is not None])
        record = partial(self._failure_record, kube=kube, cycle_deadline=cycle_deadline,
                         stop=stop)
        workers = max(1, min(self.settings.evidence_workers, len(episodes)))
        with ThreadPoolExecutor(workers, thread_name_prefix="evidence") as pool:
            results = list(pool.map(record, episodes))
        report.interrupted = report.interrupted or any(r is None for r in results)
        recorded = [r for r in results if r is not None]
        incomplete = sum(1 for r in recorded if r.details.get("evidence_gaps"))
        if incomplete:
            log.info("%d of %d new episode(s) recorded with incomplete evidence (see "
                     "details.evidence_gaps)", incomplete, len(recorded))
            _log_unexpected_gaps(recorded)
        return recorded

    def _failure_record(
        self, episode: Episode, *, kube: KubeReads | None, cycle_deadline: float,
        stop: threading.Event | None,
    ) -> FailureRecord | None:
        """One episode's record (run on an evidence worker); None when stopping: not recorded,
        found again after the restart."""
        if stop is not None and stop.is_set():
            return None
        evidence = within_budget(
            episode, self.runai, kube if self._kube_for(episode.workload) else None,
            cycle_deadline=cycle_deadline, per_failure_s=self.settings.per_failure_budget_s,
        )
        return failure_record(episode, evidence, self._classify_safely(evidence))

    def _kube_for(self, workload: Workload) -> KubeClient | None:
        """The local Kubernetes API only for workloads of the cluster this sidecar runs in:
        another cluster's pod of the same name here would be someone else's evidence."""
        local = self.runai.cluster_id
        if local and workload.cluster_id not in (None, local):
            return None
        return self.kube

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
        self, found: Detection, failures: list[FailureRecord], workloads: int,
        cycle_nodes: CycleNodes | None = None,
    ) -> list[RunRecord]:
        """New terminal runs with the node each ran on (hot-node rates need every run's node)."""
        nodes: dict[str, str | None] = {f.workload_id: f.node for f in failures}
        missing = [r for r in found.runs if nodes.get(r.workload.id) is None]
        deferred: set[str] = set()
        if missing:
            try:
                nodes.update(nodes_of(
                    self.runai, {r.workload.id for r in missing},
                    workloads=workloads, listing_share=self.settings.bulk_node_lookup_share,
                    workers=self.settings.evidence_workers, cycle=cycle_nodes,
                ))
            except UpstreamError as exc:
                # Record the failures now; runs without their node wait for the next cycle.
                deferred = {r.run_id for r in missing}
                self.timelines.forget({r.workload.id for r in missing})
                log.warning(
                    "Node lookup failed (%s); %d finished run(s) deferred to the next cycle",
                    exc, len(deferred),
                )
        return [
            run_record(r, nodes.get(r.workload.id))
            for r in found.runs
            if r.run_id not in deferred
        ]

    def _record(
        self, report: CycleReport, failures: list[FailureRecord], runs: list[RunRecord]
    ) -> int:
        """Queue, count and write these records; returns how many are still queued."""
        failures, runs = self._enqueue(failures, runs)
        now = report.now or report.started_at
        news = live_since(now, self._previous_poll)
        for f in failures:
            self.known_episodes.add(f.episode_id, f.kind)
            self.state.record(f, recorded_at=now, live=f.timestamp >= news)
        for r in runs:
            self.known_runs.add(r.run_id, r.phase)
            self.state.record_finished(
                r.project, label_workload_type(r.workload_type), live=r.finished_at >= news
            )
        self._log_failures(failures, already=sum(report.recorded.values())
                           - report.recorded["runs"])
        report.recorded.update(f.kind for f in failures)
        report.recorded.update({"runs": len(runs)} if runs else {})
        if self.settings.report_records:
            report.failures.extend(failures)
            report.runs.extend(runs)
        outcome = self.store.flush()
        report.write_error = outcome.error
        self.state.write_result(outcome.error is not None, outcome.pending)
        if outcome.error:
            log.error(
                "Could not write the history file (%s); %d record(s) kept for the next try",
                outcome.error, outcome.pending,
            )
        return outcome.pending

    def _prune(self, started: datetime) -> None:
        try:
            self.store.prune_if_due(started, self.settings.retention_days)
        except StoreError as exc:
            log.warning("Retention pruning skipped this cycle: %s", exc)

    def _enqueue(
        self, failures: list[FailureRecord], runs: list[RunRecord]
    ) -> tuple[list[FailureRecord], list[RunRecord]]:
        """Queue record by record: one the file cannot hold (the store says which) must not
        keep the others out. It is logged, not marked known, and tried again next cycle."""
        rejected: list[str] = []
        workloads: set[str] = set()
        kept_failures: list[FailureRecord] = []
        kept_runs: list[RunRecord] = []
        for failure in failures:
            try:
                self.store.enqueue(failures=[failure])
                kept_failures.append(failure)
            except ValueError as exc:
                rejected.append(f"{failure.episode_id}: {exc}")
                workloads.add(failure.workload_id)
        for run in runs:
            try:
                self.store.enqueue(runs=[run])
                kept_runs.append(run)
            except ValueError as exc:
                rejected.append(f"{run.run_id}: {exc}")
                workloads.add(run.workload_id)
        if rejected:
            self.timelines.forget(workloads)
            self.state.write_result(True, self.store.pending)
            log.error("%d record(s) could not be stored, tried again next cycle (first: %s)",
                      len(rejected), rejected[0])
        return kept_failures, kept_runs

    def _log_failures(self, failures: list[FailureRecord], *, already: int) -> None:
        """The cycle's first few new episodes, one line each (`already`: logged or not, the
        cycle's episodes recorded before these)."""
        for f in failures[: max(0, _LOGGED_FAILURES - already)]:
            what = "New failure" if f.kind == "failed" else f"New {f.kind} episode"
            log.info(
                "%s: %s/%s (%s) -> %s", what, f.project, f.workload_name, f.workload_type,
                f.category,
                extra={"project": f.project, "category": f.category, "kind": f.kind},
            )

    def _log_more(self, report: CycleReport) -> None:
        episodes = sum(report.recorded.values()) - report.recorded["runs"]
        if episodes > _LOGGED_FAILURES:
            log.info("... and %d more new episode(s)", episodes - _LOGGED_FAILURES)


def _log_checking(live: list[Workload]) -> None:
    if log.isEnabledFor(logging.DEBUG):  # 50,000 workloads: no line built when off
        for w in live:
            log.debug("Checking: %s (project=%s, phase=%s)", w.name, w.project, w.phase)


def _iso(when: datetime) -> str:
    """An instant as the API writes them (RFC 3339, UTC, Z)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Gaps that are the design, not a fault: a past episode's pods are gone, or no cluster access
# was configured (said once at start-up).
_EXPECTED_GAPS = ("logs: the workload has moved on", "logs: no Kubernetes access")


def _log_unexpected_gaps(recorded: list[FailureRecord], most: int = 5) -> None:
    """Say once per cycle why evidence was missing (a 401 from Kubernetes, a timeout), so an
    operator need not dig through details.evidence_gaps to find a misconfigured RBAC."""
    reasons = Counter(
        gap
        for record in recorded
        for gap in record.details.get("evidence_gaps", ())
        if not gap.startswith(_EXPECTED_GAPS)
    )
    for reason, count in reasons.most_common(most):
        log.warning("Evidence gap in %d episode(s): %s", count, reason)
