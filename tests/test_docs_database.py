"""The commands and queries of docs/database.md, run for real while a real sidecar writes.

Each `kubectl ... exec ... -- runai-failure-exporter db ...` line of the guide is run as what it
runs in the container (`python -m exporter db ...`), with /data a temporary folder, while a
sidecar process polls a simulator whose clock runs fast (so it keeps writing). Each SQL block is
run read-only through the same lock-retrying connect every reader uses. The restore's file swap
runs with the sidecar stopped, as the guide says, and the restored file is checked.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from history import connection
from simulator.kubeconfig import write_kubeconfig

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "database.md"
DB_NAME = "runai_failure_history.db"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def in_container(line: str) -> list[str]:
    """What a `kubectl exec ... -- CMD` line runs inside the container."""
    words = shlex.split(line)
    return words[words.index("--") + 1:]


def db_commands() -> list[list[str]]:
    return [in_container(line) for block in blocks("sh") for line in block.splitlines()
            if " -- runai-failure-exporter db " in line]


def local(argv: list[str], data: Path) -> list[str]:
    assert argv[0] == "runai-failure-exporter"
    return [sys.executable, "-m", "exporter",
            *(a.replace("/data", str(data)) for a in argv[1:])]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def stats(data: Path, name: str = DB_NAME) -> dict[str, Any]:
    result = run([sys.executable, "-m", "exporter", "db", "stats", "--json", str(data / name)])
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture
def sidecar(
    tmp_path: Path, make_simulator: Callable[..., Any]
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    sim = make_simulator(speed=1800.0)  # half a simulated hour per second: failures keep coming
    data = tmp_path / "data"
    data.mkdir()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", sim.url, sim.k8s_token)
    env = {**os.environ, "RUNAI_BASE_URL": sim.url, "RUNAI_CLIENT_ID": sim.client_id,
           "RUNAI_CLIENT_SECRET": sim.client_secret, "KUBECONFIG": str(kubeconfig)}
    log = (tmp_path / "sidecar.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--listen", "127.0.0.1:0", "--poll-interval", "1",
         "--db", str(data / DB_NAME)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "sidecar.log").read_text()[-2000:]
            if (data / DB_NAME).exists():
                result = run([sys.executable, "-m", "exporter", "db", "stats", "--json",
                              str(data / DB_NAME)])
                if result.returncode == 0 and json.loads(result.stdout)["tables"][
                        "failure_events"]["rows"] > 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the sidecar wrote no failure in 120 s")
        yield data, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        log.close()


def test_the_guide_shows_each_db_command() -> None:
    verbs = [c[2] for c in db_commands()]
    assert {"stats", "backup", "prune"} <= set(verbs)


@pytest.mark.slow
def test_db_commands_and_queries_work_while_the_sidecar_writes(
    sidecar: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    data, process = sidecar
    before = stats(data)["tables"]["failure_events"]["rows"]
    for argv in db_commands():
        if "/data/restore.db" in argv:
            continue  # the restore's check: test_restore_swaps_in_the_backup
        result = run(local(argv, data))
        assert result.returncode == 0, f"{argv}: {result.stderr}"
        if argv[2] == "stats" and "--json" in argv:
            assert json.loads(result.stdout)["schema_version"] >= 1
        if argv[2] == "backup":
            assert "backed up" in result.stdout
            backup = Path(argv[-1].replace("/data", str(data)))
            assert stats(data, backup.name)["tables"]["failure_events"]["rows"] >= before
        if argv[2] == "prune":
            assert re.match(r"deleted \d+ failure events and \d+ runs", result.stdout)

    # The guide's queries, read-only, as the duckdb CLI would run them, while writes go on.
    for sql in blocks("sql"):
        conn = connection.connect(str(data / DB_NAME), read_only=True)
        try:
            conn.execute("SET TimeZone = 'UTC'")
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
        if "my-training-job" not in sql and "HAVING" not in sql:
            assert rows, sql
    cli_line = next(line for block in blocks("sh") for line in block.splitlines()
                    if "duckdb -readonly" in line)
    # The recipe retries a lock conflict (a reader without retries meets the sidecar's writes).
    assert re.match(r"for try in 1( \d)+; do duckdb -readonly .* && break; sleep \d; done$",
                    cli_line), cli_line
    words = shlex.split(cli_line.split("; do ", 1)[1])
    query = words[words.index("-c") + 1]
    conn = connection.connect(str(data / DB_NAME), read_only=True)
    try:
        assert conn.execute(query).fetchall()
    finally:
        conn.close()

    # The sidecar kept writing through all of it.
    time.sleep(3)
    assert process.poll() is None
    assert stats(data)["tables"]["failure_events"]["rows"] > before


@pytest.mark.slow
def test_restore_swaps_in_the_backup(sidecar: tuple[Path, subprocess.Popen[bytes]]) -> None:
    data, process = sidecar
    backup = data / "restore.db"
    result = run([sys.executable, "-m", "exporter", "db", "backup", str(data / DB_NAME),
                  str(backup)])
    assert result.returncode == 0, result.stderr
    expected = stats(data, "restore.db")["tables"]
    check = next(c for c in db_commands() if "/data/restore.db" in c)
    result = run(local(check, data))  # the guide's look at the copy before the swap
    assert result.returncode == 0 and "failure_events" in result.stdout, result.stderr
    process.terminate()  # the guide scales the product to 0 first
    assert process.wait(timeout=30) == 0
    swap = next(line for block in blocks("sh") for line in block.splitlines()
                if "sh -c" in line and "mv restore.db" in line)
    script = shlex.split(swap)[shlex.split(swap).index("-c") + 1].replace("/data", str(data))
    subprocess.run(["sh", "-c", script], check=True, timeout=30)
    assert stats(data)["tables"] == expected
    assert (data / "replaced" / DB_NAME).is_file()
    assert not backup.exists()
