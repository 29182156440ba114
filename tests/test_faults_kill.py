"""kill -9 of the real sidecar at random moments of a write, 20 times, restarting it each time.

Before each start simulated time moves on, so every start has new failures and runs to write.
The kill comes at a seeded moment of one of three kinds: while the store's scratch ingest file
exists (rows on their way into the file), while the write-ahead log exists (a transaction
being written or not yet checkpointed), or after a random delay anywhere in start-up, cycle
and write. After every kill the file opens as the next start opens it, everything committed
before is still there, nothing is doubled and nothing is invented; after the last, one more
cycle makes the file exactly the simulator's truth.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from history.row_codec import scratch_files
from history.store import HistoryStore
from tests.fixtures_processes import (
    Processes,
    Sidecar,
    assert_file_is_truth,
    file_rows,
    sim_start,
    truth_rows,
)

KILLS = 20
SEED = 20261126
SCALE = 400
STEP_S = 4 * 3600  # simulated time between starts: new failures for every start


def _wait_for(car: Sidecar, seen: Callable[[], bool], timeout_s: float) -> bool:
    """Poll as fast as Python can for a file that lives for a few milliseconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if seen():
            return True
        if not car.alive():
            return False
    return False


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_kill_9_at_random_moments_of_a_write_loses_and_doubles_nothing(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    sim = make_simulator(scale=SCALE, start=sim_start(days_ago=6))
    db = tmp_path / "history.db"
    wal = db.with_name(db.name + ".wal")
    committed: tuple[Counter[Any], Counter[Any]] = (Counter(), Counter())
    moments: Counter[str] = Counter()
    for kill in range(KILLS):
        sim.advance(STEP_S)
        now_truth = sim.truth()
        truth = truth_rows(now_truth)
        car = processes.sidecar(sim, db, poll_interval_s=0.2, wait=False)
        mode = ("scratch", "wal", "delay")[kill % 3]
        if mode == "scratch":
            hit = _wait_for(car, lambda: bool(scratch_files(db)), 20)
        elif mode == "wal":
            hit = _wait_for(car, wal.exists, 20)
        else:
            time.sleep(rng.uniform(0.2, 3.0))
            hit = True
        if hit and mode != "delay":
            time.sleep(rng.uniform(0, 0.03))  # somewhere inside that write, not at its start
        assert car.alive(), f"the sidecar ended before kill {kill}:\n{car.logs()}"
        assert car.kill9() == -9
        moments[mode if hit else f"{mode} (not seen)"] += 1

        HistoryStore(db).open()  # what the next start does: it must accept the file
        episodes, runs = file_rows(db, now_truth)
        assert max(episodes.values(), default=1) == 1 and max(runs.values(), default=1) == 1
        assert not committed[0] - episodes, f"kill {kill} ({mode}) lost committed episodes"
        assert not committed[1] - runs, f"kill {kill} ({mode}) lost committed runs"
        assert not episodes - truth[0] and not runs - truth[1], "rows that never happened"
        committed = (episodes, runs)

    done = processes.sidecar_once(sim, db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_file_is_truth(db, sim.truth())
    assert scratch_files(db) == []
    # The moments really were inside writes: most kills found the write they waited for.
    assert moments["scratch"] + moments["wal"] >= 8, moments
    episodes, runs = file_rows(db)
    print(f"kill moments: {dict(moments)}; at the end {episodes.total()} episodes, "
          f"{runs.total()} runs")
