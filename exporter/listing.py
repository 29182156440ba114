"""Which workloads a cycle looks at: every one, or only those that changed since the last cycle.

A full listing costs a request per 500 workloads whatever changed: 100 requests a minute at
50,000. On control planes whose listing filters by `phaseUpdatedAt` (2.22 and later) a steady
cycle lists only the workloads whose phase changed since the watermark (`phaseUpdatedAt>=`,
less an overlap), and keeps what the full listing fed from a census held between cycles:

- the census: every current workload's project and phase, so the per-phase gauges stay whole;
  the changed workloads update it, the deleted listing (which every cycle reads anyway)
  removes from it. The Pending ones are kept whole: they are looked at every cycle (the
  pending threshold) and feed the pending-age gauges.
- the watermark: the newest `phaseUpdatedAt` seen. It is the control plane's own stamp, so
  our clock's skew plays no part; the overlap covers a change the control plane shows a
  little after it stamped it (a cluster syncing late). Overlap duplicates are harmless: a
  workload seen as it was is skipped by its marker.
- a drift check: one `GET /workloads/count` per cycle; when it and the census disagree two
  cycles running (one may be a creation between the two requests), the next cycle is full.
- a full listing again every `census_interval_s` (the safety net: a workload that left
  without a deletion record), after a failed cycle, after one that left workloads unread
  (a first start's backlog), and always on older control planes.

A changes listing is only ever taken from a census whose every workload's timeline was read,
so it finds exactly what a full listing would (tests/test_steady_listing.py compares both).
The census and watermark are saved with the workload markers (exporter.detect.sync_state):
a restart goes on listing changes, after one request for the Pending workloads.

A listing is held whole for its cycle, out of the cyclic garbage collector's sight. A full
listing builds a few dozen dicts and lists per workload from JSON (millions of objects at
50,000 workloads); all live until the cycle ends and none is in a reference cycle, so
reference counting frees them and the collector never can. Every collection their
allocation triggers would rescan them to free nothing, and so would the first collections
after the listing, the full ones above all: at 50,000 workloads that was half of a census
cycle (2.0-2.6 s against 1.2 s; the census figures of benchmarks/poll_cycle.py). So `fetch`
decodes with the collector paused, then freezes what is alive (`gc.freeze`: left out of
every collection) until the cycle ends and the monitor calls `release`.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exporter.detect.stamps import parse_time
from exporter.detect.sync_state import Census
from exporter.model import Workload
from exporter.runai.client import RunaiClient

log = logging.getLogger("exporter.listing")
FULL, CHANGES = "full", "changes"  # the `mode` label of the listings metric
FILTER_FIELD = "phaseUpdatedAt"
DRIFT_CYCLES = 2  # count and census disagreeing this many cycles running: list everything


@dataclass(frozen=True)
class ListingSettings:
    census_interval_s: float = 1800.0  # a full listing at least this often; 0: every cycle
    overlap_s: float = 300.0  # changes are listed from the watermark less this


@dataclass
class Listed:
    """What one cycle listed."""

    mode: str  # FULL or CHANGES
    why: str  # why a full listing (for the log); "" for a changes listing
    look: list[Workload]  # to look at: every current workload, or the changed and Pending ones
    gone: list[Workload]  # deleted since the deleted mark
    phases: Counter[tuple[str, str]]  # (project, phase) -> current workloads
    pending: list[Workload]  # every current Pending workload
    listed: int  # workloads the listing returned

    @property
    def complete(self) -> bool:
        return self.mode == FULL

    @property
    def workloads(self) -> int:
        return sum(self.phases.values())


@dataclass
class _Staged:
    workloads: dict[str, tuple[str, str]]
    pending: dict[str, Workload]
    newest: str | None  # newest phaseUpdatedAt listed (RFC 3339 UTC sorts as text)
    taken_at: datetime | None  # set by a full listing


class Listing:
    def __init__(self, runai: RunaiClient, settings: ListingSettings | None = None) -> None:
        self.runai = runai
        self.settings = settings or ListingSettings()
        self._workloads: dict[str, tuple[str, str]] | None = None  # the census
        self._pending: dict[str, Workload] | None = None  # None: to be listed (a restart)
        self._watermark: str | None = None
        self._taken_at: datetime | None = None
        self._why = "first cycle"  # why the next cycle lists everything, when it must
        self._drift = 0
        self._staged: _Staged | None = None

    def resume(self, census: Census | None) -> None:
        """Go on from a saved census (exporter.detect.sync_state), when there is one."""
        taken_at = parse_time(census.taken_at) if census is not None else None
        if census is None or taken_at is None or parse_time(census.watermark) is None:
            return
        self._workloads, self._pending = dict(census.workloads), None
        self._watermark, self._taken_at = census.watermark, taken_at

    def fetch(self, projects: Sequence[str], started: datetime, deleted_since: str) -> Listed:
        """What this cycle looks at; held out of the collector's sight until `release`."""
        self.runai.scope_filters()  # a token and the cluster: what the control plane takes
        why = self._why_full(started)
        with _held_whole():
            if why:
                return self._full(projects, started, deleted_since, why)
            return self._changes(projects, deleted_since)

    @staticmethod
    def release() -> None:
        """The cycle is over: what `fetch` froze is the collector's again (its oldest
        generation); by now most of it is freed."""
        gc.unfreeze()

    def stream_full(self, started: datetime) -> None:
        """A full listing taken a page at a time by the caller (a first start streams:
        exporter.monitor); each page goes to `add`, and `settled` adopts the census as a
        full listing's."""
        self._staged = _Staged({}, {}, None, started)
        self._drift = 0

    def add(self, live: list[Workload]) -> None:
        """One page of a streamed full listing."""
        staged = self._staged
        assert staged is not None, "stream_full first"
        staged.workloads.update((w.id, _entry(w)) for w in live)
        staged.pending.update((w.id, w) for w in live if w.phase == "Pending")
        staged.newest = max(filter(None, (staged.newest, _newest(live))), key=_instant,
                            default=None)

    def settled(self, *, all_read: bool) -> Census | None:
        """The cycle succeeded: adopt what it listed. Returns the census to save beside the
        markers, or None when the next cycle lists everything anyway."""
        staged, self._staged = self._staged, None
        if staged is None:
            return None
        if not self._may_list_changes():
            self._workloads = self._pending = None
            return None
        self._workloads, self._pending = staged.workloads, staged.pending
        if staged.taken_at is not None:  # a full listing: its newest stamp, whatever was before
            self._taken_at, self._watermark = staged.taken_at, staged.newest
        else:
            self._watermark = max(filter(None, (self._watermark, staged.newest)), default=None)
        if self._watermark is None:
            self._why = f"no {FILTER_FIELD} listed yet to list changes from"
        if not all_read:
            self._why, self._watermark = "workloads left unread for a later cycle", None
        if self._watermark is None or self._taken_at is None:
            self._workloads = self._pending = None
            return None
        return Census(self._watermark, _iso(self._taken_at), dict(self._workloads))

    def failed(self) -> None:
        """The cycle failed: the next one lists everything."""
        self._staged = None
        self._watermark, self._why = None, "the last cycle failed"

    # -- inside ---------------------------------------------------------------------------
    def _may_list_changes(self) -> bool:
        return self.settings.census_interval_s > 0 and self.runai.filters_by(FILTER_FIELD)

    def _why_full(self, started: datetime) -> str:
        if self.settings.census_interval_s <= 0:
            return "changes listing off"
        if not self.runai.filters_by(FILTER_FIELD):
            return f"control plane {self.runai.control_plane.label()} lists no changes"
        if self._watermark is None or self._workloads is None or self._taken_at is None:
            return self._why
        if started - self._taken_at >= timedelta(seconds=self.settings.census_interval_s):
            return "census due"
        if self._drift >= DRIFT_CYCLES:
            return "the count differs from the census"
        return ""

    def _full(
        self, projects: Sequence[str], started: datetime, deleted_since: str, why: str
    ) -> Listed:
        live = self.runai.list_workloads(projects)
        gone = self._gone(projects, deleted_since, {w.id for w in live})
        census = {w.id: _entry(w) for w in live}
        pending = {w.id: w for w in live if w.phase == "Pending"}
        self._staged = _Staged(census, pending, _newest(live), started)
        self._drift = 0
        return Listed(FULL, why, live, gone, Counter(census.values()), list(pending.values()),
                      len(live))

    def _changes(self, projects: Sequence[str], deleted_since: str) -> Listed:
        assert self._watermark is not None and self._workloads is not None
        since = parse_time(self._watermark)
        assert since is not None
        bound = _iso(since - timedelta(seconds=self.settings.overlap_s))
        changed = self.runai.list_workloads(projects, where=[f"{FILTER_FIELD}>={bound}"])
        ids = {w.id for w in changed}
        if self._pending is None:  # resumed from the file, which keeps no workload whole
            changed += [w for w in self.runai.list_workloads(projects, where=["phase==Pending"])
                        if w.id not in ids]
            ids = {w.id for w in changed}
        gone = self._gone(projects, deleted_since, ids)
        census, pending = dict(self._workloads), dict(self._pending or {})
        for w in changed:
            census[w.id] = _entry(w)
            if w.phase == "Pending":
                pending[w.id] = w
            else:
                pending.pop(w.id, None)
        for w in gone:
            census.pop(w.id, None)
            pending.pop(w.id, None)
        count = self.runai.count_workloads(projects)
        self._drift = self._drift + 1 if count != len(census) else 0
        if self._drift:
            log.warning("The control plane counts %d workload(s), the census %d%s", count,
                        len(census), "; the next cycle lists them all"
                        if self._drift >= DRIFT_CYCLES else "")
        self._staged = _Staged(census, pending, _newest(changed), None)
        look = changed + [w for wid, w in pending.items() if wid not in ids]
        return Listed(CHANGES, "", look, gone, Counter(census.values()), list(pending.values()),
                      len(changed))

    def _gone(self, projects: Sequence[str], since: str, live: set[str]) -> list[Workload]:
        """Deleted since `since`: their runs and failures still count."""
        gone = self.runai.list_workloads(projects, deleted=True, deleted_since=since)
        return [w for w in gone if w.id not in live]


@contextmanager
def _held_whole() -> Iterator[None]:
    """The collector paused while a listing is decoded, and what is alive frozen after it
    (see the module's doc)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _entry(workload: Workload) -> tuple[str, str]:
    return workload.project, workload.phase or "Unknown"


def _newest(workloads: list[Workload]) -> str | None:
    stamps = [s for w in workloads if isinstance(s := w.raw.get(FILTER_FIELD), str)]
    newest = max(stamps, key=_instant) if stamps else None
    return _iso(_instant(newest)) if newest else None


def _instant(text: str) -> datetime:
    return parse_time(text) or datetime.min.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    """An instant as the spec's filter example writes it (RFC 3339, UTC, whole seconds, Z):
    floored, so a filter from it takes in the rest of that second too."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
