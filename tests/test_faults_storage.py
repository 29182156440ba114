"""The real sidecar on bad storage: a corrupt file, a full disk, a read-only volume.

At start-up (exporter/cli.py opens the history before anything is served) each is one
`ERROR: ...` line on stderr and exit 1, with the file byte for byte as it was. At run time
(the file corrupted, the disk filling up or the volume turning read-only while the sidecar
runs) the process keeps serving /metrics and /healthz, counts each failed write in
runai_failure_exporter_db_write_errors_total, logs one clear error per cycle, keeps the records
queued (runai_failure_exporter_pending_writes) and never writes over the file; once the storage
is fixed the queued records are written once and the file is exactly the simulator's truth.

Full disk and read-only volume need root (mounts in a private mount namespace made with
`unshare --mount`, gone with the process; the test reaches into it through /proc/<pid>/root and
`nsenter`); they are skipped with that reason otherwise.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_processes import (
    Processes,
    Sidecar,
    assert_file_is_truth,
    sim_start,
    wait_until,
)

SCALE = 150
NEW_FAILURES_S = 6 * 3600


def _can_mount_privately() -> bool:
    """Root in a container without CAP_SYS_ADMIN cannot mount: probe once, in a throwaway
    namespace, on a throwaway folder."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs -o size=1m probe {folder}"],
            capture_output=True, timeout=30)
    return probe.returncode == 0


ROOT_MOUNTS = pytest.mark.skipif(
    not _can_mount_privately(),
    reason="needs root allowed to mount (unshare --mount, nsenter) for a small or read-only "
    "volume in a private mount namespace",
)


def garbage(size: int = 256 * 1024) -> bytes:
    return random.Random(5).randbytes(size)


def one_error_line(output: str) -> str:
    """The start-up refusal: one ERROR line, the last thing the process says, no traceback.

    (A file whose header and catalog are intact but whose data is cut off passes the open check
    and is refused when the known ids are read, after the banner: still one line, exit 1.)"""
    lines = output.strip().splitlines()
    errors = [line for line in lines if line.startswith("ERROR")]
    assert errors == lines[-1:] and "Traceback" not in output, output
    return errors[0]


def assert_serving_while_writes_fail(car: Sidecar, message: str) -> None:
    """Writes fail and are counted, records stay queued, metrics and health keep answering."""
    wait_until(lambda: car.sample("runai_failure_exporter_db_write_errors_total") >= 2, 60,
               "two failed writes to be counted", interval_s=0.1)
    assert car.sample("runai_failure_exporter_pending_writes") > 0
    assert httpx.get(f"{car.base}/healthz", timeout=5).text == "ok\n"
    assert car.sample("runai_failure_exporter_up") == 1  # the API side is fine
    errors = [line for line in car.logs().splitlines()
              if line.startswith("ERROR: Could not write the history file")]
    assert errors and all(message in line for line in errors), errors[:3]
    assert all("Traceback" not in line for line in car.logs().splitlines())
    assert car.alive()


# ---- a corrupt file --------------------------------------------------------------------------
def _half_of_a_real_file(tmp_path: Path, sim: Any, processes: Processes) -> bytes:
    source = tmp_path / "source" / "history.db"
    source.parent.mkdir()
    done = processes.sidecar_once(sim, source)
    assert done.returncode == 0, done.stderr
    data = source.read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize("kind", ["random-bytes", "truncated-duckdb", "empty"])
def test_a_corrupt_file_at_start_up_is_one_error_and_left_untouched(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path, kind: str
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    content = {
        "random-bytes": garbage,
        "truncated-duckdb": lambda: _half_of_a_real_file(tmp_path, sim, processes),
        "empty": lambda: b"",
    }[kind]()
    db = tmp_path / "history.db"
    db.write_bytes(content)
    car = processes.sidecar(sim, db, wait=False)
    assert car.wait_exit(60) == 1
    line = one_error_line(car.logs())
    assert str(db) in line and "left untouched" in line, line
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("history")) == [
        "history.db"]  # no WAL, no sync state, nothing new beside it


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["random-bytes", "emptied"])
def test_a_file_corrupted_while_running_is_never_overwritten(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path, kind: str
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    db = tmp_path / "history.db"
    car = processes.sidecar(sim, db)
    car.wait_polls(success=1)
    car.settle()  # steady cycles with nothing new do not open the file
    good = db.read_bytes()
    bad = garbage(len(good)) if kind == "random-bytes" else b""
    with open(db, "r+b") as handle:  # the disk went bad under the same inode
        handle.write(bad)
        handle.truncate(len(bad))
    sim.advance(NEW_FAILURES_S)
    assert_serving_while_writes_fail(car, f"(left untouched): {db}")
    assert db.read_bytes() == bad
    assert not db.with_name(db.name + ".wal").exists()

    db.write_bytes(good)  # the operator restores the last good copy
    car.settle()
    assert_file_is_truth(db, sim.truth())
    assert car.sample("runai_failure_exporter_pending_writes") == 0


# ---- a read-only volume -------------------------------------------------------------------------
def private_bind(folder: Path, *options: str) -> list[str]:
    """Run the command with `folder` bind-mounted on itself in a new mount namespace."""
    remount = f" && mount -o remount,bind,{','.join(options)} {folder} {folder}" if options else ""
    script = f"mount --bind {folder} {folder}{remount} && exec \"$@\""
    return ["unshare", "--mount", "sh", "-c", script, "sh"]


def remount(pid: int, folder: Path, mode: str) -> None:
    subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "-o", f"remount,bind,{mode}",
                    str(folder), str(folder)], check=True, capture_output=True, timeout=30)


@ROOT_MOUNTS
def test_a_read_only_volume_at_start_up_is_one_error(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "history.db"
    assert processes.sidecar_once(sim, db).returncode == 0
    before = db.read_bytes()
    car = processes.sidecar(sim, db, prefix=private_bind(folder, "ro"), wait=False)
    assert car.wait_exit(60) == 1
    assert one_error_line(car.logs()) == f"ERROR: Read-only file system: {db}"
    assert db.read_bytes() == before


@pytest.mark.slow
@ROOT_MOUNTS
def test_a_volume_turning_read_only_while_running_keeps_serving_and_catches_up(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "history.db"
    car = processes.sidecar(sim, db, prefix=private_bind(folder))
    car.wait_polls(success=1)
    car.settle()
    before = db.read_bytes()
    remount(car.pid, folder, "ro")
    sim.advance(NEW_FAILURES_S)
    assert_serving_while_writes_fail(car, f"Read-only file system: {db}")
    assert db.read_bytes() == before

    remount(car.pid, folder, "rw")
    car.settle()
    assert_file_is_truth(db, sim.truth())


# ---- a full disk ----------------------------------------------------------------------------
def fill(folder: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    chunk = b"\0" * (64 * 1024)
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


@ROOT_MOUNTS
def test_a_full_disk_at_start_up_is_one_error_and_leaves_nothing_half_made(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "history.db"
    # In a private namespace: a small tmpfs, filled up; the sidecar, to create its history
    # there; then what is left in the folder (the tmpfs goes with the namespace).
    script = (
        f"mount -t tmpfs -o size=8m runai-faults {folder} && "
        f"(cat /dev/zero > {folder}/filler 2>/dev/null; true) && \"$@\"; code=$?; "
        f"echo LEFT: $(ls -A {folder}); exit $code"
    )
    car = processes.sidecar(sim, db, prefix=["unshare", "--mount", "sh", "-c", script, "sh"],
                            wait=False)
    code = car.wait_exit(60)
    output = car.logs()
    left = next(line for line in output.splitlines() if line.startswith("LEFT: "))
    assert code == 1, output
    error = one_error_line(output.replace(left, "").strip())
    assert error == f"ERROR: No space left on device: {db}", error
    assert left == "LEFT: filler", left  # no half-made history, staging file or WAL


@pytest.mark.slow
@ROOT_MOUNTS
def test_an_existing_history_on_a_full_disk_starts_serves_and_queues(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "history.db"
    seed = tmp_path / "seed.db"
    assert processes.sidecar_once(sim, seed).returncode == 0
    sim.advance(NEW_FAILURES_S)  # new failures to write at the first cycle
    script = (
        f"mount -t tmpfs -o size=8m runai-faults {folder} && cp {seed} {db} && "
        f"(cat /dev/zero > {folder}/filler 2>/dev/null; true) && exec \"$@\""
    )
    car = processes.sidecar(sim, db, prefix=["unshare", "--mount", "sh", "-c", script, "sh"])
    inside = Path(f"/proc/{car.pid}/root") / folder.relative_to("/")
    assert_serving_while_writes_fail(car, f"No space left on device: {db}")
    (inside / "filler").unlink()
    car.settle()
    assert_file_is_truth(copy_out(inside, tmp_path / "copy"), sim.truth())


def copy_out(inside: Path, folder: Path) -> Path:
    """A copy of the history (and its WAL, if any) to read here: DuckDB resolves the
    /proc/<pid>/root path to ours. Taken between writes (after settle), so it is consistent."""
    folder.mkdir()
    for name in ("history.db", "history.db.wal"):
        if (inside / name).exists():
            shutil.copyfile(inside / name, folder / name)
    return folder / "history.db"


@pytest.mark.slow
@ROOT_MOUNTS
def test_a_full_disk_keeps_serving_queues_and_writes_once_space_is_freed(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "history.db"
    mount = f"mount -t tmpfs -o size=24m,mode=0755 runai-faults {folder} && exec \"$@\""
    car = processes.sidecar(sim, db, prefix=["unshare", "--mount", "sh", "-c", mount, "sh"])
    inside = Path(f"/proc/{car.pid}/root") / folder.relative_to("/")  # the sidecar's view
    car.wait_polls(success=1)
    car.settle()
    assert not db.exists() and (inside / "history.db").exists()  # it really is on the tmpfs
    assert_file_is_truth(copy_out(inside, tmp_path / "copy-1"), sim.truth())

    filler = fill(inside)
    sim.advance(NEW_FAILURES_S)
    assert_serving_while_writes_fail(car, f"No space left on device: {db}")
    queued = car.sample("runai_failure_exporter_pending_writes")

    filler.unlink()
    car.settle()
    assert_file_is_truth(copy_out(inside, tmp_path / "copy-2"), sim.truth())
    assert queued > 0 and car.sample("runai_failure_exporter_pending_writes") == 0


# ---- issue 18: the scratch file of a failed write never stays behind -----------------------
SCRATCH_ON_A_FULL_DISK = r"""
import json, os, sys
from datetime import timedelta
from pathlib import Path
from tests.fixtures_store import BASE_TIME, make_failure, make_run
from history.store import HistoryStore

folder = Path(sys.argv[1])
store = HistoryStore(folder / "history.db")
store.open()
with open(folder / "filler", "wb") as filler:  # every free byte, down to ENOSPC
    try:
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()
    except OSError:
        pass
rounds = []
for n in range(3):
    store.enqueue([make_failure(f"wl-{n}-{i}", BASE_TIME + timedelta(minutes=i),
                                bundle={"logs": "x" * 20000, "events": []}) for i in range(40)],
                  [make_run(f"wl-{n}-{i}") for i in range(40)])
    result = store.flush()
    rounds.append({"error": result.error, "pending": store.pending,
                   "left": sorted(os.listdir(folder))})
(folder / "filler").unlink()
result = store.flush()
print(json.dumps({"rounds": rounds, "after": {"error": result.error, "pending": store.pending,
                  "written": result.failures_written,
                  "left": sorted(os.listdir(folder))}}))
"""


@ROOT_MOUNTS
def test_a_failed_write_on_a_full_disk_leaves_no_scratch_file(tmp_path: Path) -> None:
    """A 4 MiB tmpfs, filled: three flushes fail with ENOSPC, each leaves the folder as it was
    (the history and the filler, no `.history.db.*.ingest.ndjson`), and once space is freed
    the queued records are written and only the history remains."""
    folder = tmp_path / "data"
    folder.mkdir()
    script = f'mount -t tmpfs -o size=4m runai-scratch {folder} && exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", sys.executable, "-c",
         SCRATCH_ON_A_FULL_DISK, str(folder)],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for n, one in enumerate(report["rounds"], start=1):
        assert "No space left on device" in one["error"], one
        assert one["pending"] == 80 * n, one  # nothing lost: every record stays queued
        assert one["left"] == ["filler", "history.db"], one
    assert report["after"]["error"] is None and report["after"]["pending"] == 0
    assert report["after"]["written"] == 120
    assert report["after"]["left"] == ["history.db"], report["after"]
