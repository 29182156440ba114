"""A first start killed mid-way (SIGKILL, after some pages were written) resumes on restart:
the history ends exactly as a clean run's, nothing lost, nothing doubled, and the timelines
read before the kill are not read again. (Compared with a clean run's, not the simulator's
truth: at this scale both runs miss the same few past episodes, main's code alike.)

The real sidecar process (`python -m exporter`) against the `large` scenario, streaming its
first start a page (500 workloads) at a time (exporter.monitor).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.detect.sync_state import path_for
from tests.fixtures_processes import (
    Processes,
    Sidecar,
    file_rows,
    sim_start,
    truth_rows,
    wait_until,
)

SCALE = 2000  # four pages of live workloads, and the deleted ones
HISTORY = 'runai_failure_exporter_api_requests_total'


def _progress(db: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path_for(db).read_text())
    except (OSError, ValueError):  # not written yet, or being replaced
        return None
    return data if isinstance(data, dict) else None


def _caught_up(car: Sidecar) -> bool:
    if not car.alive():
        raise AssertionError(f"the sidecar exited:\n{car.logs()}")
    saved = _progress(car.db)
    return bool(saved and saved.get("caught_up"))


def _timeline_reads(car: Sidecar) -> float:
    return car.sample(HISTORY, endpoint="/api/v1/workloads/{id}/history", code="200")


def _first_start(processes: Processes, sim: Any, db: Path) -> tuple[Sidecar, float]:
    """A sidecar run until its first start is over and written; (it, timelines it read)."""
    car = processes.sidecar(sim, db, poll_interval_s=0.5)
    wait_until(lambda: _caught_up(car), 240, "the first start to finish", interval_s=0.1)
    car.settle(timeout_s=120)
    reads = _timeline_reads(car)
    car.stop()
    return car, reads


@pytest.mark.timeout(300)
def test_a_first_start_killed_mid_way_resumes_without_loss_or_duplicates(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scenario="large", scale=SCALE, start=sim_start(days_ago=3))
    truth = sim.truth()
    killed_db = tmp_path / "killed" / "history.db"
    killed_db.parent.mkdir()

    car = processes.sidecar(sim, killed_db, poll_interval_s=0.5)

    def some_pages_written() -> bool:
        if not car.alive():
            raise AssertionError(f"the sidecar exited:\n{car.logs()}")
        saved = _progress(killed_db)
        return bool(saved and saved.get("markers")) and saved.get("caught_up") is False

    wait_until(some_pages_written, 120, "a first page's progress", interval_s=0.01)
    assert car.kill9() == -9
    saved = _progress(killed_db)
    assert saved is not None and saved["caught_up"] is False, "killed too late to tell"
    episodes, runs = file_rows(killed_db, truth)
    assert episodes and max(episodes.values()) == 1 and max(runs.values(), default=1) == 1
    want_episodes, want_runs = truth_rows(truth)
    assert not episodes - want_episodes and not runs - want_runs, "rows that never happened"
    assert episodes != want_episodes, "killed after the whole first start: nothing to resume"
    before_kill = len(saved["markers"])

    resumed, resumed_reads = _first_start(processes, sim, killed_db)
    clean_db = tmp_path / "clean" / "history.db"
    clean_db.parent.mkdir()
    _, clean_reads = _first_start(processes, sim, clean_db)
    episodes, runs = file_rows(killed_db, truth)
    assert (episodes, runs) == file_rows(clean_db, truth)
    assert max(episodes.values()) == 1 and max(runs.values()) == 1
    assert not episodes - want_episodes and not runs - want_runs
    # The restart read only what the killed start had not: its saved progress held.
    assert 0 < resumed_reads <= clean_reads - before_kill + 500, (
        resumed_reads, clean_reads, before_kill)
    assert "First start done" in resumed.logs()
