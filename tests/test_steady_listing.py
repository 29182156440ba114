"""Steady cycles that list only what changed (exporter.listing), against the simulator.

The bar: over a simulated day of failures, recoveries and deletions, a sidecar listing changes
writes the same history (row for row in DuckDB) and shows the same phase gauges as one listing
every workload each cycle; the changes listing sends one `filterBy` with only fields the
version lists; the census survives a restart; older versions, a failed cycle, a backlog and a
due census all list everything.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.detect import sync_state
from exporter.detect.episodes import parse_time
from exporter.http_retry import RetryPolicy
from exporter.kube.client import KubeAccess, KubeClient
from exporter.listing import CHANGES, FULL, ListingSettings
from exporter.metrics import MetricsState, make_registry
from exporter.monitor import Monitor, Settings
from exporter.runai.client import RunaiClient
from history.connection import connect
from history.store import HistoryStore

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, retry_after_cap_s=1.0,
                   timeout_s=10.0)
DAY_STEPS = 24  # one simulated day, an hour a cycle
NEVER = ListingSettings(census_interval_s=0)  # the full listing, every cycle
# Changes every cycle of the day: the census is not due within it.
STEADY = ListingSettings(census_interval_s=2 * 86_400, overlap_s=300)
# Columns that say when this process wrote a row, not what happened.
WRITTEN_AT = {"recorded_at"}


@dataclass
class Car:
    monitor: Monitor
    state: MetricsState
    sent: list[httpx.Request]  # every request the Run:ai client sent

    def cycle(self) -> Any:
        report = self.monitor.run_cycle()
        assert report.ok, report.error
        return report

    def listings(self) -> list[httpx.Request]:
        return [r for r in self.sent if r.url.path == "/api/v1/workloads"
                and r.url.params.get("deleted") != "true"]


@pytest.fixture
def car(tmp_path: Path) -> Iterator[Callable[..., Car]]:
    clients: list[httpx.Client] = []

    def build(sim: Any, name: str, listing: ListingSettings = STEADY, **settings: Any) -> Car:
        sent: list[httpx.Request] = []
        http = httpx.Client(event_hooks={"request": [sent.append]})
        clients.append(http)
        state = MetricsState(hold_new_series_s=0)
        runai = RunaiClient(sim.url, sim.client_id, sim.client_secret, http=http,
                            policy=FAST, observe=state.observe_request)
        kube = KubeClient(KubeAccess(server=sim.url, token=sim.k8s_token), http=http,
                          policy=FAST, observe=state.observe_request)
        db = tmp_path / name / "history.db"
        db.parent.mkdir(exist_ok=True)
        store = HistoryStore(db)
        store.open()

        def now() -> datetime:
            value = parse_time(sim.admin("GET", "/admin/clock")["now"])
            assert value is not None
            return value

        monitor = Monitor(runai, kube, store, state, Settings(listing=listing, **settings),
                          now=now, sync_path=str(db))
        monitor.load_known()
        return Car(monitor, state, sent)

    yield build
    for client in clients:
        client.close()


def rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every history row, without the columns that say when it was written."""
    conn = connect(str(path), read_only=True)
    try:
        out = {}
        for table, key in (("failure_events", "episode_id"), ("workload_runs", "run_id")):
            columns = [c for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", [table]).fetchall() if c not in WRITTEN_AT]
            listed = ", ".join(f'"{c}"' for c in columns)
            out[table] = conn.execute(f"SELECT {listed} FROM {table} ORDER BY {key}").fetchall()
        return out
    finally:
        conn.close()


def gauges(state: MetricsState) -> dict[str, dict[tuple[str, ...], float]]:
    wanted = ("runai_workloads", "runai_workloads_pending_oldest_age_seconds")
    return {m.name: {tuple(sorted(s.labels.items())): s.value for s in m.samples}
            for m in make_registry(state).collect() if m.name in wanted}


def deleted_count(sim: Any) -> int:
    r = httpx.get(f"{sim.url}/api/v1/workloads/count", params={"deleted": "true"},
                  headers=sim.auth_headers())
    return int(r.json()["count"])


def test_a_simulated_day_writes_the_same_history_both_ways(make_simulator, car, tmp_path):
    sim = make_simulator(scale=300, api_version="2.24")
    full, steady = car(sim, "full", NEVER), car(sim, "steady")
    deleted_before = deleted_count(sim)
    modes: list[str] = []
    kinds: set[str] = set()  # of the episodes the changes listing found
    for step in range(DAY_STEPS + 1):
        if step:
            sim.advance(3600)  # failures, resubmissions, completions, deletions
        a, b = full.cycle(), steady.cycle()
        modes.append(b.listing)
        kinds |= {f.kind for f in b.failures} if step else set()
        assert a.listing == FULL
        assert gauges(steady.state) == gauges(full.state), f"cycle {step}"
        assert {f.episode_id for f in b.failures} == {f.episode_id for f in a.failures}
        assert {r.run_id for r in b.runs} == {r.run_id for r in a.runs}
    assert modes[0] == FULL and modes[1:] == [CHANGES] * DAY_STEPS
    # Changes cycles found failures and stuck-Pending episodes (kept Pending workloads too).
    assert {"failed", "pending"} <= kinds
    assert deleted_count(sim) > deleted_before  # the day deleted workloads
    history = rows(tmp_path / "full" / "history.db")
    assert history["failure_events"] and history["workload_runs"]
    assert rows(tmp_path / "steady" / "history.db") == history
    refused = sim.admin("GET", "/admin/requests")["refused"]  # (Kubernetes refuses some logs)
    assert not [r for r in refused if r.startswith("GET /api/v1/workloads")]


def saved_census(tmp_path: Path, name: str) -> sync_state.Census | None:
    return sync_state.load(tmp_path / name / "history.db", history_rows=1).census


@pytest.mark.parametrize("version", ["2.22", "2.24"])
def test_a_changes_listing_sends_one_filter_of_fields_the_version_lists(
    make_simulator, car, tmp_path, version
):
    sim = make_simulator(scale=150, api_version=version)
    c = car(sim, "a")
    assert c.cycle().listing == FULL
    census = saved_census(tmp_path, "a")
    assert census is not None and len(census.workloads) == 150 - deleted_count(sim)
    sim.advance(1800)
    c.sent.clear()
    assert c.cycle().listing == CHANGES
    (listing,) = c.listings()
    assert len(listing.url.params.get_list("filterBy")) == 1
    watermark = parse_time(census.watermark)
    assert watermark is not None
    bound = (watermark - timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster = c.monitor.runai.cluster_id
    assert listing.url.params["filterBy"] == f"clusterId=={cluster},phaseUpdatedAt>={bound}"
    (count,) = [r for r in c.sent if r.url.path == "/api/v1/workloads/count"]
    assert count.url.params.get_list("filterBy") == [f"clusterId=={cluster}"]
    refused = sim.admin("GET", "/admin/requests")["refused"]
    assert not [r for r in refused if r.startswith("GET /api/v1/workloads")]


@pytest.mark.parametrize("version", ["2.18", "2.21"])
def test_older_control_planes_list_every_workload_every_cycle(
    make_simulator, car, tmp_path, version
):
    sim = make_simulator(scale=150, api_version=version)
    c = car(sim, "old")
    for _ in range(3):
        assert c.cycle().listing == FULL
        sim.advance(1800)
    assert not [r for r in c.listings() if "phaseUpdatedAt" in r.url.params.get("filterBy", "")]
    assert not [r for r in c.sent if r.url.path == "/api/v1/workloads/count"]
    assert saved_census(tmp_path, "old") is None
    refused = sim.admin("GET", "/admin/requests")["refused"]
    assert not [r for r in refused if r.startswith("GET /api/v1/workloads")]
    get = make_registry(c.state).get_sample_value
    assert get("runai_failure_exporter_listings_total", {"cluster": "default", "mode": FULL}) == 3
    assert get("runai_failure_exporter_listings_total",
               {"cluster": "default", "mode": CHANGES}) == 0


def test_a_restart_goes_on_listing_changes_from_the_saved_census(make_simulator, car, tmp_path):
    sim = make_simulator(scale=300)
    first = car(sim, "a")
    assert first.cycle().listing == FULL
    sim.advance(3600)
    assert first.cycle().listing == CHANGES
    saved = saved_census(tmp_path, "a")
    assert saved is not None
    sim.advance(3600)

    restarted = car(sim, "a")  # a new process on the same history file
    report = restarted.cycle()
    assert report.listing == CHANGES
    filters = [r.url.params.get("filterBy", "") for r in restarted.listings()]
    assert len(filters) == 2 and any(f.endswith(",phase==Pending") for f in filters)
    reference = car(sim, "reference", NEVER)  # what a full listing shows now
    reference.cycle()
    assert gauges(restarted.state) == gauges(reference.state)
    again = saved_census(tmp_path, "a")
    assert again is not None and again.watermark >= saved.watermark


def test_a_failed_cycle_lists_everything_next(make_simulator, car, caplog):
    sim = make_simulator(scale=150)
    c = car(sim, "a")
    c.cycle()
    sim.advance(1800)
    sim.set_faults(fail_next=3)  # every attempt of the listing's first request
    assert not c.monitor.run_cycle().ok
    caplog.clear()
    with caplog.at_level("INFO", logger="exporter.monitor"):
        assert c.cycle().listing == FULL
    assert "Listing: full (the last cycle failed)" in caplog.messages
    assert c.cycle().listing == CHANGES


def test_a_due_census_and_a_timeline_backlog_list_everything(make_simulator, car):
    sim = make_simulator(scale=150)
    c = car(sim, "a", ListingSettings(census_interval_s=7200), history_per_cycle=20)
    modes = []
    for _ in range(12):
        modes.append(c.cycle().listing)
        if modes[-1] == CHANGES:
            break
    # A first start reads 20 timelines a cycle: until its backlog is read, every cycle lists
    # every workload (only a full listing finds the unread ones again).
    assert modes[:2] == [FULL, FULL] and modes[-1] == CHANGES
    sim.advance(3600)
    assert c.cycle().listing == CHANGES
    sim.advance(3600)  # two hours since the last full listing: the census is due
    assert c.cycle().listing == FULL
    assert c.cycle().listing == CHANGES


def test_a_census_the_count_contradicts_twice_lists_everything(
    make_simulator, car, tmp_path, caplog
):
    sim = make_simulator(scale=150)
    first = car(sim, "a")
    first.cycle()
    path = sync_state.path_for(tmp_path / "a" / "history.db")
    saved = json.loads(path.read_text())
    lost = sorted(saved["census"]["workloads"])[:3]  # a census that missed three workloads
    for wid in lost:
        del saved["census"]["workloads"][wid]
    path.write_text(json.dumps(saved))

    restarted = car(sim, "a")
    with caplog.at_level("WARNING", logger="exporter.listing"):
        assert restarted.cycle().listing == CHANGES  # one disagreement may be a race
        sim.advance(600)
        assert restarted.cycle().listing == CHANGES
    assert [m for m in caplog.messages if m.endswith("the next cycle lists them all")]
    assert restarted.cycle().listing == FULL
    census = saved_census(tmp_path, "a")
    assert census is not None and set(lost) <= set(census.workloads)
    assert restarted.cycle().listing == CHANGES


def test_a_listing_is_held_out_of_the_collectors_sight_for_its_cycle(make_simulator, car):
    """A census's workloads live until its cycle ends and are freed by reference counting:
    the collector would only rescan them (half of a 50,000-workload census cycle; the census
    figures of benchmarks/poll_cycle.py). They are frozen while the cycle works on them and
    handed back when it ends, a failed cycle too."""
    sim = make_simulator(scale=150)
    c = car(sim, "a", NEVER)
    while not c.monitor.timelines.caught_up:  # the first start streams; a census holds all
        c.cycle()
    frozen_while_detecting: list[int] = []
    detect = c.monitor.timelines.detect

    def watched(live: Any, *args: Any, **kwargs: Any) -> Any:
        frozen_while_detecting.append(gc.get_freeze_count())
        return detect(live, *args, **kwargs)

    c.monitor.timelines.detect = watched  # type: ignore[method-assign]
    report = c.cycle()
    assert report.listing == FULL and report.workloads > 100
    # every listed workload is a few objects: all of them were out of the collector's sight
    assert frozen_while_detecting and frozen_while_detecting[0] > 3 * report.workloads
    assert gc.get_freeze_count() == 0  # and its own again after the cycle
    sim.set_faults(fail_next=3)
    assert not c.monitor.run_cycle().ok
    assert gc.get_freeze_count() == 0
