"""The monitoring cycle against the simulator over real HTTP, writing a real DuckDB file.

The bar: after any number of cycles and restarts the file holds exactly the simulator's truth
(every episode and every finished run, nothing more), API faults are retried or fail the cycle
as a whole, and the metrics count what was recorded.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from freezegun import freeze_time

from exporter.detect.episodes import parse_time
from exporter.http_retry import RetryPolicy
from exporter.kube.client import KubeAccess, KubeClient
from exporter.metrics import MetricsState, make_registry
from exporter.monitor import LIVE_SLACK, Monitor, Settings, live_since
from exporter.runai import client as client_module
from exporter.runai.client import RunaiClient
from history.connection import connect
from history.identity import SAME_ENTRY_TOLERANCE
from history.store import HistoryStore
from tests.truth_matching import EPISODE_STAMPS, RUN_STAMPS, pair, recorded_triple

FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05, retry_after_cap_s=1.0,
                   timeout_s=10.0)
SCALE = 150  # workloads: enough for every kind of episode, small enough for a fast test
C = {"cluster": "default"}  # every series carries the cluster label


@dataclass
class Sidecar:
    monitor: Monitor
    state: MetricsState
    runai: RunaiClient
    http: httpx.Client


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Callable[..., Sidecar]]:
    """Build the sidecar's parts as cli.main does (a call = a process start)."""
    clients: list[httpx.Client] = []

    def build(sim: Any, *, kube: bool = True, projects: tuple[str, ...] = (),
              now: Callable[[], datetime] | None = None, lock_timeout_s: float = 5.0,
              sync: bool = True, policy: RetryPolicy = FAST, **settings: Any) -> Sidecar:
        http = httpx.Client()
        clients.append(http)
        state = MetricsState(projects, hold_new_series_s=0)  # born at zero: test_metrics
        runai = RunaiClient(sim.url, sim.client_id, sim.client_secret, http=http,
                            policy=policy, observe=state.observe_request)
        kube_client = KubeClient(KubeAccess(server=sim.url, token=sim.k8s_token), http=http,
                                 policy=FAST, observe=state.observe_request) if kube else None
        store = HistoryStore(tmp_path / "history.db", lock_timeout_s=lock_timeout_s)
        store.open()
        monitor = Monitor(runai, kube_client, store, state,
                          Settings(projects=projects, **settings),
                          now=now or sim_now(sim),
                          sync_path=str(tmp_path / "history.db") if sync else None)
        monitor.load_known()
        return Sidecar(monitor, state, runai, http)

    yield build
    for client in clients:
        client.close()


def sim_now(sim: Any) -> Callable[[], datetime]:
    """The monitor's clock follows the simulator's (frozen, advanced by hand) clock."""
    def now() -> datetime:
        value = parse_time(sim.admin("GET", "/admin/clock")["now"])
        assert value is not None
        return value
    return now


def ids_in_file(
    path: Path, truth: dict[str, Any] | None = None
) -> tuple[set[tuple[str, str]], set[str]]:
    """The recorded (episode id, kind) and run ids; with `truth`, each named as the true entry
    it is (tests/truth_matching.py: the stamps of one phase change differ), so an extra or a
    doubled record shows as an id the truth lacks."""
    conn = connect(str(path), read_only=True)
    try:
        episodes = conn.execute("SELECT episode_id, kind FROM failure_events").fetchall()
        runs = conn.execute("SELECT run_id, phase FROM workload_runs").fetchall()
    finally:
        conn.close()
    if truth is None:
        return set(episodes), {r for r, _ in runs}
    true_episodes, true_runs = truth["episodes"], truth["runs"]
    named = pair([recorded_triple(i, k) for i, k in episodes], true_episodes, "kind",
                 EPISODE_STAMPS)
    named_runs = pair([recorded_triple(i, p) for i, p in runs], true_runs, "phase", RUN_STAMPS)
    return (
        {(_true_id(true_episodes[named[n]], "timestamp") if n in named else i, k)
         for n, (i, k) in enumerate(episodes)},
        {_true_id(true_runs[named_runs[n]], "finished_at") if n in named_runs else r
         for n, (r, _) in enumerate(runs)},
    )


def _true_id(entry: dict[str, Any], field: str) -> str:
    at = parse_time(entry[field])
    assert at is not None
    return f"{entry['workload_id']}@{at.isoformat()}"


def truth_ids(truth: dict[str, Any], projects: tuple[str, ...] = ()
              ) -> tuple[set[tuple[str, str]], set[str]]:
    def stamp(text: str) -> str:
        value = parse_time(text)
        assert value is not None
        return value.isoformat()

    episodes = {(f"{e['workload_id']}@{stamp(e['timestamp'])}", e["kind"])
                for e in truth["episodes"] if not projects or e["project"] in projects}
    runs = {f"{r['workload_id']}@{stamp(r['finished_at'])}" for r in truth["runs"]}
    return episodes, runs  # runs carry no project in the truth: compare them unfiltered only


def test_cycles_and_restarts_record_exactly_the_truth(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    first = sidecar(sim)
    report = first.monitor.run_cycle()
    assert report.ok and report.failures and report.runs
    again = first.monitor.run_cycle()
    assert again.ok and not again.failures and not again.runs
    truth = sim.truth()
    assert ids_in_file(tmp_path / "history.db", truth) == truth_ids(truth)

    restarted = sidecar(sim)  # a new process: known ids come from the file
    report = restarted.monitor.run_cycle()
    assert report.ok and not report.failures and not report.runs
    assert ids_in_file(tmp_path / "history.db", truth) == truth_ids(truth)

    sim.advance(8 * 3600)  # new failures, resubmissions, completions, deletions
    report = restarted.monitor.run_cycle()
    assert report.ok and report.failures
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_phases_passed_through_between_polls_are_not_lost(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    assert car.monitor.run_cycle().ok
    for _ in range(3):  # long gaps: workloads fail, get resubmitted and fail again unseen
        sim.advance(12 * 3600)
        assert car.monitor.run_cycle().ok
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def _sum(state: MetricsState, family: str) -> float:
    return sum(s.value for m in make_registry(state).collect() if m.name == family
               for s in m.samples if s.name.endswith("_total"))


def test_metrics_count_live_failures_and_backfill_the_past(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar]
) -> None:
    """A fresh sidecar's first poll finds days of history: it is recorded, and counted as
    backfilled, never in the live counters that alerts read. What happens after is live."""
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    report = car.monitor.run_cycle()
    first_now = parse_time(sim.truth()["now"])
    assert first_now is not None
    truth_failed = [e for e in sim.truth()["episodes"] if e["kind"] == "failed"]
    recent = [e for e in truth_failed if parse_time(e["timestamp"]) >= first_now - LIVE_SLACK]
    assert len(truth_failed) > len(recent)  # the scenario has history to backfill
    assert _sum(car.state, "runai_workload_failures") == len(recent)
    assert _sum(car.state, "runai_workload_failures_backfilled") + _sum(
        car.state, "runai_workload_episodes") == len(report.failures)
    assert _sum(car.state, "runai_workloads_finished") + _sum(
        car.state, "runai_workloads_finished_backfilled") == len(report.runs)
    get = make_registry(car.state).get_sample_value
    assert get("runai_failure_exporter_up", {"cluster": "default"}) == 1
    assert get("runai_failure_exporter_polls_total",
               {"cluster": "default", "result": "success"}) == 1
    assert (get("runai_failure_exporter_api_requests_total",
                {"cluster": "default", "endpoint": "/api/v1/workloads", "code": "200"})
            or 0) >= 2

    # Time moves on: what fails between two polls is news.
    before = _sum(car.state, "runai_workload_failures")
    new_failures: list[Any] = []
    for _ in range(12):
        sim.advance(1200)
        later = car.monitor.run_cycle()
        new_failures += [f for f in later.failures if f.kind == "failed"]
    assert new_failures, "the scenario should fail something within four hours"
    assert _sum(car.state, "runai_workload_failures") == before + len(new_failures)
    by_label: dict[tuple[str, str, str], int] = {}
    for f in new_failures:
        key = (f.project, f.workload_type, f.category)
        by_label[key] = by_label.get(key, 0) + 1
    registry = make_registry(car.state)
    for (project, wtype, category), count in by_label.items():
        assert (registry.get_sample_value("runai_workload_failures_total", {
            "cluster": "default", "project": project, "workload_type": wtype,
            "category": category}) or 0) >= count

    # A restart does not count history again.
    restarted = sidecar(sim)
    restarted.monitor.run_cycle()
    assert _sum(restarted.state, "runai_workload_failures") == 0
    assert _sum(restarted.state, "runai_workload_failures_backfilled") == 0


def test_live_since_covers_the_gap_since_the_previous_poll_up_to_an_hour() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert live_since(now, None) == now - LIVE_SLACK  # a fresh start: only the last minutes
    assert live_since(now, now - timedelta(minutes=1)) == now - timedelta(minutes=11)
    # a slow cycle: everything since the previous poll began is still news
    assert live_since(now, now - timedelta(minutes=40)) == now - timedelta(minutes=50)
    # after a long outage, the outage's failures are history
    assert live_since(now, now - timedelta(hours=6)) == now - timedelta(hours=1)


def test_project_filter(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    projects = ("llm-pretrain", "recsys")
    car = sidecar(sim, projects=projects)
    report = car.monitor.run_cycle()
    assert report.ok and report.failures
    episodes, _ = ids_in_file(tmp_path / "history.db", sim.truth())
    assert episodes == truth_ids(sim.truth(), projects)[0]
    conn = connect(str(tmp_path / "history.db"), read_only=True)
    try:
        seen = {r[0] for r in conn.execute("SELECT DISTINCT project FROM workload_runs "
                                           "UNION SELECT DISTINCT project FROM failure_events"
                                           ).fetchall()}
    finally:
        conn.close()
    assert seen == set(projects)


@pytest.mark.parametrize(
    "faults",
    [{"fail_next": 3}, {"rate_limit_next": 2, "retry_after_s": 1}, {"malformed_next": 2},
     {"truncate_next": 2}, {"page_drift": True}],
    ids=["5xx", "429", "malformed", "truncated", "page-drift"],
)
def test_transient_faults_are_retried_and_nothing_is_lost(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path,
    faults: dict[str, Any],
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    sim.set_faults(**faults)
    report = car.monitor.run_cycle()
    assert report.ok, report.error
    sim.set_faults(page_drift=False)
    assert car.monitor.run_cycle().ok
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_an_outage_fails_the_cycle_and_never_reads_as_no_failures(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    car.runai.authenticate()
    sim.set_faults(error_rate=1.0)
    report = car.monitor.run_cycle()
    assert not report.ok and "HTTP 503" in (report.error or "")
    assert not report.failures
    registry = make_registry(car.state)
    assert registry.get_sample_value("runai_failure_exporter_up", C) == 0
    assert registry.get_sample_value("runai_failure_exporter_polls_total",
                                     {**C, "result": "failure"}) == 1
    last = registry.get_sample_value("runai_failure_exporter_last_success_timestamp_seconds", C)
    assert last == 0
    # The cycle's first request (the clusters discovery, then the listing) is retried 4 times.
    assert sum(n for (_, code), n in car.state.api_requests.items() if code == "503") == 4
    sim.set_faults(error_rate=0.0)
    assert car.monitor.run_cycle().ok
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())
    assert make_registry(car.state).get_sample_value("runai_failure_exporter_up", C) == 1


def test_expired_token_is_refreshed_once_on_401(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar]
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    assert car.monitor.run_cycle().ok
    assert car.runai.token_requests == 1
    sim.expire_tokens()
    assert car.monitor.run_cycle().ok
    assert car.runai.token_requests == 2


def test_token_refreshed_before_it_expires(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar]
) -> None:
    with freeze_time("2026-11-26 12:00:00", real_asyncio=True) as frozen:
        sim = make_simulator(scale=SCALE, token_ttl_s=600)
        car = sidecar(sim)
        assert car.monitor.run_cycle().ok
        frozen.tick(500)  # before the refresh point (600 s lifetime less 60 s)
        assert car.monitor.run_cycle().ok
        assert car.runai.token_requests == 1
        frozen.tick(60)  # past it, still inside the lifetime: refreshed before any 401
        assert car.monitor.run_cycle().ok
        assert car.runai.token_requests == 2
        assert make_registry(car.state).get_sample_value(
            "runai_failure_exporter_api_requests_total",
            {**C, "endpoint": "/api/v1/workloads", "code": "401"}) is None


def test_v1_token_fallback(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar]
) -> None:
    sim = make_simulator(scale=SCALE, faults={"v1_token_only": True})
    car = sidecar(sim)
    assert car.monitor.run_cycle().ok
    assert make_registry(car.state).get_sample_value(
        "runai_failure_exporter_api_requests_total",
        {**C, "endpoint": "/api/v1/token", "code": "200"}) == 1


def test_without_kubernetes_failures_are_classified_from_runai_evidence(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim, kube=False)
    report = car.monitor.run_cycle()
    assert report.ok and report.failures
    assert all(not f.logs_available and f.bundle["logs"] == "" for f in report.failures)
    assert all(f.bundle["events"] or f.bundle["workload"] for f in report.failures)
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_with_kubernetes_the_bundle_has_statuses_and_logs(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar]
) -> None:
    sim = make_simulator(scale=SCALE)
    report = sidecar(sim).monitor.run_cycle()
    failed = [f for f in report.failures if f.kind == "failed"]
    assert sum(1 for f in failed if f.bundle["logs"]) > len(failed) // 2
    present = [f for f in failed if "moved on" not in str(f.details.get("evidence_gaps"))]
    assert present and all(f.logs_available for f in present)
    assert all(not f.logs_available for f in failed if f not in present)
    assert any(p["status"].get("containerStatuses") for f in failed for p in f.bundle["pods"])
    assert all(f.node for f in failed if f.bundle["pods"])


@pytest.mark.parametrize(("share", "endpoint"), [
    (0.0, "/api/v1/workloads/pods"),  # many new runs: one paged listing of every pod
    (1.0, "/api/v1/workloads/{id}/pods"),  # few: each workload's own pods
])
def test_every_finished_run_names_its_node(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], share: float,
    endpoint: str,
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim, bulk_node_lookup_share=share)
    report = car.monitor.run_cycle()
    with_node = [r for r in report.runs if r.node]
    assert len(with_node) >= 0.9 * len(report.runs) > 0
    assert car.state.api_requests[(endpoint, "200")] > 0
    if share == 0.0:
        assert car.state.api_requests[(endpoint, "200")] <= 4  # pages, not one per run


def test_a_write_failure_keeps_records_queued_and_counts(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim, lock_timeout_s=0.5)
    db = tmp_path / "history.db"
    holder = subprocess.Popen(  # another process holds the file: DuckDB locks per process
        [sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        report = car.monitor.run_cycle()
    finally:
        holder.communicate("", timeout=30)
    assert report.ok and report.write_error
    assert make_registry(car.state).get_sample_value(
        "runai_failure_exporter_db_write_errors_total", C) == 1
    assert car.state.pending_writes == len(report.failures) + len(report.runs) > 0
    assert car.monitor.run_cycle().ok
    assert car.state.pending_writes == 0
    assert ids_in_file(db, sim.truth()) == truth_ids(sim.truth())


HOLD_LOCK = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
conn.close()
"""


def history_reads(state: MetricsState) -> int:
    return sum(n for (endpoint, _), n in state.api_requests.items()
               if endpoint == "/api/v1/workloads/{id}/history")


def test_a_restart_reads_no_timeline_again(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    first = sidecar(sim)
    assert first.monitor.run_cycle().ok
    assert history_reads(first.state) > 0
    assert (tmp_path / "history.db.sync.json").exists()
    restarted = sidecar(sim)
    assert restarted.monitor.run_cycle().ok
    assert history_reads(restarted.state) == 0
    sim.advance(6 * 3600)
    assert restarted.monitor.run_cycle().ok
    assert 0 < history_reads(restarted.state) < SCALE  # only the workloads that changed
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_without_the_sync_state_a_restart_rereads_and_adds_nothing(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    assert sidecar(sim).monitor.run_cycle().ok
    (tmp_path / "history.db.sync.json").write_text("{not json")
    restarted = sidecar(sim)
    report = restarted.monitor.run_cycle()
    assert report.ok and not report.failures and not report.runs
    assert history_reads(restarted.state) > 0
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_history_older_than_retention_is_not_recorded(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)  # a week of history
    car = sidecar(sim, retention_days=2)
    assert car.monitor.run_cycle().ok
    now = sim_now(sim)()
    episodes, runs = ids_in_file(tmp_path / "history.db", sim.truth())
    truth_episodes, truth_runs = truth_ids(sim.truth())
    recent = {(i, k) for i, k in truth_episodes
              if (parse_time(i.split("@", 1)[1]) or now) >= now - timedelta(days=2)}
    assert episodes == recent and 0 < len(recent) < len(truth_episodes)
    assert runs < truth_runs


def test_a_first_start_reads_nothing_older_than_retention(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long-lived tenant: no timeline of a workload unchanged since before the retention
    window, and deleted workloads listed only from its start."""
    sim = make_simulator(scale=SCALE)  # a week of history
    car = sidecar(sim, retention_days=2)
    read: list[str] = []
    deleted_since: list[str | None] = []
    history, listing, pages = (car.runai.history, car.runai.list_workloads,
                               car.runai.workload_pages)

    def reading(workload_id: str) -> list[dict[str, Any]]:
        read.append(workload_id)
        return history(workload_id)

    def pages_since(*args: Any, **kwargs: Any) -> Any:  # a first start streams the listing
        if kwargs.get("deleted"):
            deleted_since.append(kwargs.get("deleted_since"))
        return pages(*args, **kwargs)

    monkeypatch.setattr(car.runai, "history", reading)
    monkeypatch.setattr(car.runai, "workload_pages", pages_since)
    assert car.monitor.run_cycle().ok
    [since] = deleted_since
    now = sim_now(sim)()
    horizon = now - timedelta(days=2)
    workloads = {w.id: w for w in listing(()) + listing((), deleted=True)}
    old = {wid for wid, w in workloads.items()
           if w.phase_updated_at is not None and w.phase_updated_at < horizon}
    assert old and read and not old & set(read)
    assert since is not None and abs(
        (parse_time(since) or now) - horizon) < timedelta(minutes=1)
    # and what is recorded is still everything within the window
    episodes, _ = ids_in_file(tmp_path / "history.db", sim.truth())
    recent = {(i, k) for i, k in truth_ids(sim.truth())[0]
              if (parse_time(i.split("@", 1)[1]) or now) >= horizon}
    assert episodes == recent


def test_a_local_clock_behind_the_control_plane_still_sees_long_pending(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    sim.advance(10 * 3600)  # the control plane is now 10 h ahead of this process's clock
    car = sidecar(sim, now=lambda: datetime.now(UTC))
    assert car.monitor.run_cycle().ok
    episodes, _ = ids_in_file(tmp_path / "history.db")
    assert any(kind == "pending" for _, kind in episodes)
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_api_timeouts_fail_the_cycle_then_it_recovers(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim, policy=RetryPolicy(attempts=2, base_delay_s=0.01, timeout_s=0.2))
    car.runai.authenticate()
    sim.set_faults(latency_ms=600)
    report = car.monitor.run_cycle()
    assert not report.ok and "timed out after 0.2s after 2 attempt(s)" in (report.error or "")
    assert sum(n for (_, code), n in car.state.api_requests.items() if code == "timeout") == 2
    sim.set_faults(latency_ms=0)
    assert car.monitor.run_cycle().ok
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_a_spent_cycle_budget_still_records_every_failure(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    assert car.monitor.run_cycle().ok and car.monitor.timelines.caught_up  # the first start
    # no time for any evidence beyond the listing
    car.monitor.settings = dataclasses.replace(car.monitor.settings, cycle_budget_s=1e-9)
    sim.advance(8 * 3600)
    report = car.monitor.run_cycle()
    assert report.ok and report.failures and not report.streamed
    assert all(f.details.get("evidence_gaps") == ["all evidence: cycle time budget spent"]
               for f in report.failures)
    assert all(f.category for f in report.failures)  # classified from the workload alone
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


def test_a_first_start_past_its_budget_defers_pages_and_never_cuts_evidence(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Streamed, a spent budget stops judging pages (one a cycle at least), counts the rest
    for the gauges, and leaves them to the next cycle with their whole evidence."""
    monkeypatch.setattr(client_module, "PAGE_LIMIT", 40)  # several pages out of 150
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim, cycle_budget_s=1e-9)
    reports = []
    while not car.monitor.timelines.caught_up:
        reports.append(car.monitor.run_cycle())
        assert reports[-1].ok and reports[-1].streamed and len(reports) < 20
    assert len(reports) > 3  # a page a cycle
    listed = len(car.runai.list_workloads())
    assert all(r.workloads == listed for r in reports)  # the gauges saw every page
    failures = [f for r in reports for f in r.failures]
    assert failures and not any(
        "cycle time budget spent" in str(f.details.get("evidence_gaps")) for f in failures)
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth_ids(sim.truth())


class RejectingStore(HistoryStore):
    """The real store, told to refuse one workload's failure records as it refuses one DuckDB
    cannot hold (by workload: the record's id is whichever stamp the sidecar saw first)."""

    reject: str = ""

    def enqueue(self, failures: Any = (), runs: Any = ()) -> None:
        failures, runs = list(failures), list(runs)
        if any(f.workload_id == self.reject for f in failures):
            raise ValueError(f"a record of {self.reject} cannot be stored")
        super().enqueue(failures, runs)


def test_a_record_the_store_refuses_does_not_keep_the_others_out(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar], tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    store = RejectingStore(tmp_path / "history.db")
    truth = truth_ids(sim.truth())
    store.reject = sorted(truth[0])[0][0].split("@")[0]
    car.monitor.store = store
    report = car.monitor.run_cycle()
    assert report.ok
    episodes, _ = ids_in_file(tmp_path / "history.db", sim.truth())
    refused = {i for i, _ in truth[0] if i.startswith(f"{store.reject}@")}
    assert refused and {i for i, _ in truth[0]} - {i for i, _ in episodes} == refused
    assert car.state.db_write_errors == 1
    store.reject = ""  # fixed: the next cycle records it
    assert car.monitor.run_cycle().ok
    assert ids_in_file(tmp_path / "history.db", sim.truth()) == truth


def test_an_internal_error_fails_the_cycle_and_monitoring_goes_on(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar]
) -> None:
    sim = make_simulator(scale=SCALE)
    clock = {"now": datetime(2026, 11, 26, 12)}  # naive: a bug in the clock
    car = sidecar(sim, now=lambda: clock["now"])
    report = car.monitor.run_cycle()
    assert not report.ok and (report.error or "").startswith("internal error: TypeError")
    assert car.state.polls["failure"] == 1 and car.state.up == 0
    clock["now"] = sim_now(sim)()
    assert car.monitor.run_cycle().ok


def test_each_episode_is_judged_by_its_own_attempt(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar]
) -> None:
    """Resubmitted workloads pile up events and pods across attempts: none may leak into
    another attempt's bundle, and a past episode shows no pod of a later attempt."""
    sim = make_simulator(scale=SCALE)
    car = sidecar(sim)
    report = car.monitor.run_cycle()
    assert report.ok
    world = sim.app.state.sim.world
    by_id = {spec.id: spec for spec in world.specs}
    checked = 0
    for failure in report.failures:
        spec = by_id[failure.workload_id]
        stamp = failure.timestamp.timestamp()  # a stamp of the step, ms to seconds before it
        step = min(spec.steps, key=lambda s: abs(s.at - stamp))
        assert abs(step.at - stamp) <= SAME_ENTRY_TOLERANCE.total_seconds()
        attempt = step.attempt
        starts = [s.at for s in spec.steps if s.attempt == attempt]
        later = [s.at for s in spec.steps if s.attempt > attempt]
        begin, end = starts[0], (later[0] if later else float("inf"))
        for event in failure.bundle["events"]:
            at = parse_time(event["createdAt"])
            assert at is not None and begin <= at.timestamp() < end, (failure.episode_id, event)
        checked += bool(later)
    assert checked >= 3  # resubmitted workloads were among them


def test_a_rejected_kubernetes_token_is_said_once_per_cycle(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = make_simulator(scale=SCALE)
    wrong = types.SimpleNamespace(url=sim.url, client_id=sim.client_id,
                                  client_secret=sim.client_secret, k8s_token="not-the-token",
                                  admin=sim.admin)
    with caplog.at_level(logging.WARNING, logger="exporter.monitor"):
        report = sidecar(wrong).monitor.run_cycle()
    assert report.ok and report.failures  # recorded from Run:ai evidence all the same
    gaps = [r.getMessage() for r in caplog.records if "Evidence gap" in r.getMessage()]
    assert gaps and any("401" in message for message in gaps), gaps
    assert len(gaps) == len(set(gaps)) <= 5  # distinct reasons, bounded, not one per episode
    assert not any("not-the-token" in r.getMessage() for r in caplog.records)


def test_expected_gaps_are_not_warned_about(
    make_simulator: Callable[..., Any], sidecar: Callable[..., Sidecar],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = make_simulator(scale=SCALE)
    with caplog.at_level(logging.WARNING, logger="exporter.monitor"):
        assert sidecar(sim, kube=False).monitor.run_cycle().ok
    assert not [r for r in caplog.records if "Evidence gap" in r.getMessage()]
