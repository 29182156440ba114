"""What changed since the last cycle, and what the changed workloads went through meanwhile.

The listing shows each workload's present phase only. A workload that failed, was resubmitted
and is Running again between two polls (or before the sidecar started) shows none of it; its
timeline (GET /workloads/{id}/history) does. Reading every timeline each cycle would cost a
request per workload, so a marker per workload (phase and phaseUpdatedAt when its timeline was
last read) says which changed: only those are read, at most `per_cycle` a cycle (a first start
on a large cluster works through its backlog over a few cycles). The markers are saved beside
the history file (exporter.detect.sync_state) so a restart reads nothing it already recorded.

Until every listed workload's timeline was read once (`caught_up`), the monitor streams its
cycles a page at a time (exporter.monitor): `detect(..., chunk=True)` then judges one page and
adds its markers to those of the pages before, and `finish_pass` closes the cycle.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from common.errors import UpstreamError
from exporter.detect import sync_state
from exporter.detect.episodes import (
    Detection,
    Episode,
    detect,
    episode_key,
    from_history,
    parse_time,
    run_key,
)
from exporter.detect.identity import Key, KnownEntries, nearest_pairs
from exporter.model import Workload
from exporter.runai.client import RunaiClient

log = logging.getLogger("exporter.detect.timelines")
T = TypeVar("T")


def marker(workload: Workload) -> str:
    # The API's own text, not the parsed instant: markers are saved beside the history file
    # and must read the same after an upgrade.
    return f"{workload.raw.get('phase')}@{workload.raw.get('phaseUpdatedAt')}"


def control_plane_now(local: datetime, workloads: list[Workload]) -> datetime:
    """Our clock, unless the API already reported a later instant: the control plane cannot
    have stamped its own future, so its newest phaseUpdatedAt is a lower bound of its now.
    Corrects a local clock that runs behind (and the demo's accelerated simulator)."""
    stamps = [s for w in workloads if isinstance(s := w.raw.get("phaseUpdatedAt"), str)]
    newest = parse_time(max(stamps)) if stamps else None  # ISO-8601 UTC sorts as text
    return max(local, newest) if newest is not None else local


def phase_counts(workloads: list[Workload]) -> Counter[tuple[str, str]]:
    """(project, phase) -> how many: what the per-phase gauges show."""
    return Counter((w.project, w.phase or "Unknown") for w in workloads)


class Timelines:
    def __init__(
        self, runai: RunaiClient, *, per_cycle: int = 2000, workers: int = 8,
        sync_path: str | None = None,
    ) -> None:
        self.runai = runai
        self.per_cycle = per_cycle
        self.workers = workers
        self.sync_path = sync_path
        self.synced: dict[str, str] = {}  # workload id -> marker its timeline was read at
        self.deleted_mark: str | None = None  # newest deletedAt seen: list deletions since
        self.caught_up = False  # every listed workload's timeline read once: steady cycles
        self._saved_caught_up = False
        self._pass_mark: str | None = None
        self.timelines_read = 0  # by the last detect
        self._next: dict[str, str] = {}
        self._next_mark: str | None = None
        # Workloads this cycle looked at but left unread (beyond per_cycle, a failed read, or
        # forgotten): only a full listing finds them again, so no cycle may list changes only.
        self._unread: set[str] = set()
        self._saved_census: sync_state.Census | None = None

    def load(self, history_rows: int) -> sync_state.SyncState:
        """The saved state (empty without a sync path): markers adopted, the census returned."""
        if self.sync_path is None:
            return sync_state.SyncState()
        saved = sync_state.load(self.sync_path, history_rows)
        self.synced, self.deleted_mark = saved.markers, saved.deleted_mark
        self._saved_census = saved.census
        self.caught_up = self._saved_caught_up = saved.caught_up
        return saved

    @property
    def all_read(self) -> bool:
        """Every workload the cycle looked at is synced (its timeline is read or not needed)."""
        return not self._unread

    def detect(
        self,
        live: list[Workload],
        gone: list[Workload],
        *,
        now: datetime,
        pending_threshold: timedelta,
        retention: timedelta,
        known_episodes: KnownEntries | Set[str],
        known_runs: KnownEntries | Set[str],
        stop: threading.Event | None = None,
        complete: bool = True,
        chunk: bool = False,
        limit: int | None = None,
    ) -> Detection:
        """New episodes and runs: from each changed workload's present phase and timeline.

        A workload seen exactly so by the last committed cycle has nothing new to say, unless
        it is Pending and may now cross the threshold; skipping the rest keeps a steady cycle
        over 10,000 workloads close to the bare fetch. `complete`: `live` is every current
        workload (a full listing); else only those that changed (and the Pending ones), and
        the others keep their markers. At most `limit` timelines are read (default
        per_cycle). `chunk`: these are one page of the listing; their markers are added to the
        others', and the deleted mark waits for finish_pass.
        """
        before = self.synced
        synced: dict[str, str] = {} if complete else dict(before)
        changed: list[Workload] = []
        for workload in (*live, *gone):
            wid, mark = workload.id, marker(workload)
            if before.get(wid) == mark:
                synced[wid] = mark
                if workload.phase != "Pending":
                    continue
            else:
                synced.pop(wid, None)
            changed.append(workload)
        known_e, known_r = KnownEntries.of(known_episodes), KnownEntries.of(known_runs)
        found = detect(changed, now=now, pending_threshold=pending_threshold,
                       known_episodes=known_e, known_runs=known_r)
        found.phases = phase_counts(live)
        stale = [w for w in changed if w.id not in synced]
        # A workload unchanged since before the retention window has nothing in its timeline
        # that may be recorded (it would be pruned): on a long-lived tenant's first start that
        # is most of them, and reading them all would take hours.
        horizon = now - retention
        for workload in stale:
            if workload.phase_updated_at is not None and workload.phase_updated_at < horizon:
                synced[workload.id] = marker(workload)
        stale = [w for w in stale if w.id not in synced]
        stale.sort(key=lambda w: w.id not in before)  # changed ones first
        cap = self.per_cycle if limit is None else max(0, limit)
        # Beyond the cap, a workload the listing shows in an episode has its timeline read all
        # the same: that episode's evidence needs it this cycle (exporter.evidence would read
        # it), and read here it syncs the workload, which the next cycle would read again.
        in_episode = {e.workload.id for e in found.episodes}
        todo = stale[:cap] + [w for w in stale[cap:] if w.id in in_episode]
        listed_episodes = _by_workload(found.episodes, episode_key)
        listed_runs = _by_workload(found.runs, run_key)
        for workload, records in zip(todo, self._read(todo, stop), strict=True):
            if records is None:
                continue  # not synced: read again next cycle
            synced[workload.id] = marker(workload)
            episodes, runs = from_history(
                workload, records, now=now, pending_threshold=pending_threshold
            )
            wid = workload.id
            found.episodes.extend(known_e.new(_merge_listed(
                found.episodes, listed_episodes.get(wid, []), episodes, episode_key,
                _with_timeline,
            ), episode_key))
            found.runs.extend(known_r.new(_merge_listed(
                found.runs, listed_runs.get(wid, []), runs, run_key, lambda listed, _: listed
            ), run_key))
        # Nothing older than the retention window: it would be pruned, and after a prune and a
        # restart it must not come back from a timeline.
        found.episodes = [e for e in found.episodes if e.timestamp >= horizon]
        found.runs = [r for r in found.runs if r.finished_at >= horizon]
        self._unread = {w.id for w in changed if w.id not in synced}
        self.timelines_read = len(todo)
        marks = [str(w.raw["deletedAt"]) for w in gone if w.raw.get("deletedAt")]
        newest = max(marks, key=_instant) if marks else None
        if chunk:
            self._next = {**self.synced, **synced}
            self._next_mark = self.deleted_mark
            self._pass_mark = _newest(self._pass_mark, newest)
        else:
            self._next = synced
            self._next_mark = _newest(self.deleted_mark, newest)
        return found

    def all_synced(self, workloads: list[Workload]) -> bool:
        """Each workload's timeline was read as it is listed now: a page with nothing to do."""
        return all(self.synced.get(w.id) == marker(w) for w in workloads)

    def start_pass(self) -> None:
        """A streamed cycle begins: no deleted mark seen yet."""
        self._pass_mark = None

    def finish_pass(self, listed: Set[str], *, caught_up: bool) -> None:
        """A streamed cycle went through every page: forget workloads no longer listed, adopt
        the newest deletion seen, and say whether the first start is over (saved only when
        every chunk's records were written: see commit)."""
        self._next = {wid: mark for wid, mark in self.synced.items() if wid in listed}
        self._next_mark = _newest(self.deleted_mark, self._pass_mark)
        self.caught_up = caught_up

    def forget(self, workload_ids: Set[str]) -> None:
        """Look at these workloads afresh next cycle (their records were not all made)."""
        for wid in workload_ids:
            self._next.pop(wid, None)
        self._unread.update(workload_ids)

    def commit(self, *, save: bool, census: sync_state.Census | None = None) -> None:
        """The cycle's records are queued: adopt its markers; `save` once they are in the file
        (only what the file holds may be called synced), with the census of this moment."""
        changed = (self._next, self._next_mark, census, self.caught_up) != (
            self.synced, self.deleted_mark, self._saved_census, self._saved_caught_up)
        self.synced, self.deleted_mark = self._next, self._next_mark
        if save and changed and self.sync_path is not None:
            sync_state.save(self.sync_path, sync_state.SyncState(
                self.synced, self.deleted_mark, census, caught_up=self.caught_up))
            self._saved_census, self._saved_caught_up = census, self.caught_up

    def _read(
        self, todo: list[Workload], stop: threading.Event | None
    ) -> list[list[dict[str, Any]] | None]:
        if not todo:
            return []
        errors: list[str] = []

        def one(workload: Workload) -> list[dict[str, Any]] | None:
            if stop is not None and stop.is_set():
                return None  # stopping: not synced, read after the restart
            try:
                return self.runai.history(workload.id)
            except UpstreamError as exc:
                errors.append(str(exc))  # list.append is atomic: safe from pool threads
                return None

        with ThreadPoolExecutor(self.workers, thread_name_prefix="timelines") as pool:
            results = list(pool.map(one, todo))
        if errors:  # one line per cycle, however many failed
            log.warning(
                "%d workload timeline(s) not read, retried next cycle (first error: %s)",
                len(errors), errors[0],
            )
        return results


def _by_workload(items: list[T], key: Callable[[T], Key]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        found.setdefault(key(item)[0], []).append(index)
    return found


def _merge_listed(
    listed: list[T], positions: list[int], timeline: list[T], key: Callable[[T], Key],
    merge: Callable[[T, T], T],
) -> list[T]:
    """The timeline's entries (one workload's) that are not the listing's own (same kind, the
    nearest within the tolerance, one-to-one; `positions`: that workload's in `listed`); each
    listed twin becomes merge(listed, twin) in place: the listing's stamp names it, the
    timeline adds what it knows."""
    rest = list(range(len(timeline)))
    for kind in {key(t)[1] for t in timeline}:
        mine = [i for i in positions if key(listed[i])[1] == kind]
        theirs = [i for i in rest if key(timeline[i])[1] == kind]
        pairs = nearest_pairs(
            [key(listed[i])[2] for i in mine], [key(timeline[j])[2] for j in theirs]
        )
        for a, b in pairs:
            listed[mine[a]] = merge(listed[mine[a]], timeline[theirs[b]])
            rest.remove(theirs[b])
    return [timeline[i] for i in rest]


def _with_timeline(listed: Episode, twin: Episode) -> Episode:
    return replace(listed, timeline=twin.timeline)


def _newest(a: str | None, b: str | None) -> str | None:
    return max((m for m in (a, b) if m), key=_instant, default=None)


def _instant(text: str) -> datetime:
    return parse_time(text) or datetime.min.replace(tzinfo=UTC)
