"""History-file fixtures for everyone: record factories and a file with known rows.

`history_db` is a real DuckDB history file (schema at the current version) holding
KNOWN_FAILURES and KNOWN_RUNS, closed so any process may open it:

    def test_something(history_db):
        conn = history.connection.connect(history_db, read_only=True)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from history.records import FailureRecord, RunRecord
from history.store import HistoryStore

BASE_TIME = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def make_failure(
    workload_id: str = "wl-1",
    timestamp: datetime = BASE_TIME,
    *,
    category: str = "gpu_oom",
    kind: str = "failed",
    project: str = "team-a",
    workload_type: str = "training",
    bundle: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> FailureRecord:
    fields: dict[str, Any] = {
        "episode_id": f"{workload_id}@{timestamp.isoformat()}",
        "timestamp": timestamp,
        "workload_id": workload_id,
        "workload_name": f"job-{workload_id}",
        "project": project,
        "department": "research",
        "workload_type": workload_type,
        "kind": kind,
        "category": category,
        "confidence": 0.9,
        "summary": f"{workload_id} ran out of GPU memory.",
        "evidence": "torch.OutOfMemoryError: CUDA out of memory.",
        "evidence_source": "log",
        "recommendation": "Lower the batch size or request a GPU with more memory.",
        "node": "gpu-node-1",
        "pod": f"job-{workload_id}-0",
        "image": "nvcr.io/nvidia/pytorch:24.05-py3",
        "gpus_requested": 1.0,
        "exit_code": 1,
        "details": {"exit_code": 1},
        "logs_available": True,
        "bundle": bundle if bundle is not None else {"logs": "CUDA out of memory", "events": []},
        "cluster_id": None,
    }
    fields.update(overrides)
    return FailureRecord(**fields)


def make_run(
    workload_id: str = "wl-1",
    finished_at: datetime = BASE_TIME,
    *,
    phase: str = "Completed",
    project: str = "team-a",
    workload_type: str = "training",
    **overrides: Any,
) -> RunRecord:
    fields: dict[str, Any] = {
        "run_id": f"{workload_id}@{finished_at.isoformat()}",
        "workload_id": workload_id,
        "workload_name": f"job-{workload_id}",
        "project": project,
        "department": "research",
        "workload_type": workload_type,
        "phase": phase,
        "finished_at": finished_at,
        "created_at": finished_at - timedelta(hours=1),
        "node": "gpu-node-1",
        "image": "nvcr.io/nvidia/pytorch:24.05-py3",
        "gpus_requested": 1.0,
    }
    fields.update(overrides)
    return RunRecord(**fields)


# Three failures over two days in two projects, and five terminal runs (two of them Failed).
KNOWN_FAILURES: tuple[FailureRecord, ...] = (
    make_failure("wl-1", BASE_TIME, category="gpu_oom"),
    make_failure(
        "wl-2",
        BASE_TIME + timedelta(hours=3),
        category="image_pull",
        project="team-b",
        kind="pending",
        exit_code=None,
        details={},
    ),
    make_failure(
        "wl-3", BASE_TIME + timedelta(days=1), category="gpu_oom", workload_type="inference"
    ),
)
KNOWN_RUNS: tuple[RunRecord, ...] = (
    make_run("wl-1", BASE_TIME, phase="Failed"),
    make_run("wl-3", BASE_TIME + timedelta(days=1), phase="Failed", workload_type="inference"),
    make_run("wl-4", BASE_TIME + timedelta(hours=1)),
    make_run("wl-5", BASE_TIME + timedelta(hours=2), project="team-b"),
    make_run("wl-6", BASE_TIME + timedelta(days=1, hours=1)),
)


def unprivileged(command: list[str]) -> list[str]:
    """`command` run so that file modes apply: as root, without the capabilities that bypass
    them (setpriv); skips the test when that is impossible."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]


# A child-process script: commit KNOWN_FAILURES and KNOWN_RUNS to the file at argv[1], then die by
# SIGKILL before closing, so the rows exist only in the write-ahead log.
COMMIT_THEN_DIE = """
import os, signal, sys
from pathlib import Path
from history import connection, row_codec
from tests.fixtures_store import KNOWN_FAILURES, KNOWN_RUNS, BASE_TIME

conn = connection.connect(sys.argv[1], read_only=False)
conn.begin()
db = Path(sys.argv[1])
failures = [row_codec.encode_failure(f, BASE_TIME) for f in KNOWN_FAILURES]
runs = [row_codec.encode_run(r, BASE_TIME) for r in KNOWN_RUNS]
row_codec.insert(conn, row_codec.FAILURE_EVENTS, failures, database=db)
row_codec.insert(conn, row_codec.WORKLOAD_RUNS, runs, database=db)
conn.commit()
os.kill(os.getpid(), signal.SIGKILL)  # committed to the WAL, never checkpointed or closed
"""


@pytest.fixture
def history_path(tmp_path: Path) -> Path:
    """Where a history file would go; nothing is created."""
    return tmp_path / "runai_failure_history.db"


@pytest.fixture
def history_db(history_path: Path) -> Path:
    """A closed history file holding KNOWN_FAILURES and KNOWN_RUNS."""
    store = HistoryStore(history_path)
    store.open()
    store.enqueue(KNOWN_FAILURES, KNOWN_RUNS)
    result = store.flush()
    assert result.error is None and result.pending == 0, result
    return history_path
