"""The product's real processes for fault and soak tests: sidecar, agent, a DuckDB reader.

    def test_x(processes, make_simulator, tmp_path):
        sim = make_simulator(scale=150)                      # in-thread simulator, clock frozen
        car = processes.sidecar(sim, tmp_path / "h.db")      # python -m exporter, metrics on :0
        car.wait_polls(success=1)                            # first cycle written
        assert file_rows(car.db) == truth_rows(sim.truth())  # exactly the truth
        agent = processes.agent(car.db)                      # python -m agent serve, free ports
        reader = processes.reader(car.db, seconds=5)         # read-only queries in a loop

Every process writes stdout and stderr to a log file under the test's tmp_path (`.logs()`),
so a chatty process never blocks on a full pipe. The fixture stops whatever is still running
at teardown: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.detect.episodes import parse_time
from history.connection import connect
from simulator.kubeconfig import write_kubeconfig
from tests.truth_matching import EPISODE_STAMPS, RUN_STAMPS, pair

REPO = Path(__file__).resolve().parent.parent
# Inherited variables that would change what a child does or which secrets it holds.
_SCRUBBED_PREFIXES = ("RUNAI_", "KUBE", "NVIDIA_", "OPENAI_", "LLM_", "AGENT_", "PROMETHEUS_")
_METRICS_LINE = re.compile(r"Metrics: http://[^:/]+:(\d+)/metrics")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update({"PYTHONUNBUFFERED": "1", "TZ": "UTC"})
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str,
               interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class Process:
    """One child process with its output in a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        code = self.popen.wait(30)
        self._reap_group()
        return code

    def kill9(self) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        return self.popen.wait(30)

    def _reap_group(self) -> None:
        """A wrapper (`unshare sh -c`) that did not exec may leave its child: each process is
        started in a session of its own, so whatever is left of it goes with the group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def wait_exit(self, timeout_s: float = 60.0) -> int:
        return self.popen.wait(timeout_s)


@dataclass
class Sidecar(Process):
    db: Path = field(default=Path())
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_listening(self, timeout_s: float = 60.0) -> Sidecar:
        def found() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited {self.popen.returncode}:\n{self.logs()}")
            match = _METRICS_LINE.search(self.logs())
            if match:
                self.port = int(match.group(1))
            return bool(match)

        wait_until(found, timeout_s, f"{self.name} to serve metrics")
        return self

    def metrics_text(self) -> str:
        response = httpx.get(f"{self.base}/metrics", timeout=10)
        response.raise_for_status()
        return response.text

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of one scrape, keyed by (name, sorted labels); the `cluster` label, the
        same on every series of one sidecar, is left out of the key."""
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for s in family.samples:
                labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "cluster"))
                out[(s.name, labels)] = s.value
        return out

    def sample(self, name: str, **labels: str) -> float:
        """One sample's value; 0 when absent (a counter not yet incremented)."""
        return self.samples().get((name, tuple(sorted(labels.items()))), 0.0)

    def polls(self, result: str) -> float:
        return self.sample("runai_failure_exporter_polls_total", result=result)

    def wait_polls(self, *, success: float | None = None, failure: float | None = None,
                   timeout_s: float = 90.0) -> None:
        """Until at least this many successful (failed) cycles were counted."""
        def reached() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited {self.popen.returncode}:\n{self.logs()}")
            ok = success is None or self.polls("success") >= success
            bad = failure is None or self.polls("failure") >= failure
            return ok and bad

        wait_until(reached, timeout_s, f"{self.name}: polls success>={success} "
                   f"failure>={failure}", interval_s=0.1)

    def settle(self, timeout_s: float = 90.0) -> None:
        """Until two more cycles succeeded and nothing is queued: the file holds what the
        API showed when the later of them began."""
        target = self.polls("success") + 2
        self.wait_polls(success=target, timeout_s=timeout_s)
        wait_until(lambda: self.sample("runai_failure_exporter_pending_writes") == 0,
                   timeout_s, f"{self.name}: pending writes to drain", interval_s=0.1)


@dataclass
class Agent(Process):
    api_port: int = 0
    ui_port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def sidecar_env(sim: Any, folder: Path, secret: str | None = None, **extra: str) -> dict[str, str]:
    """RUNAI_* pointing at the simulator and a kubeconfig for its Kubernetes subset."""
    kubeconfig = write_kubeconfig(folder / "kubeconfig", sim.url, sim.k8s_token)
    return child_env(
        RUNAI_BASE_URL=sim.url, RUNAI_CLIENT_ID=sim.client_id,
        RUNAI_CLIENT_SECRET=sim.client_secret if secret is None else secret,
        KUBECONFIG=str(kubeconfig), **extra)


READER = r"""
import json, sys, time
import duckdb
from history.connection import connect
from common.errors import StoreLocked
path, seconds = sys.argv[1], float(sys.argv[2])
QUERIES = [
    "SELECT category, count(*) FROM failure_events GROUP BY ALL ORDER BY 2 DESC",
    "SELECT project, count(*) FILTER (WHERE phase = 'Failed'), count(*) FROM workload_runs "
    "GROUP BY ALL",
    "SELECT workload_name, \"timestamp\", kind, category FROM failure_events "
    "ORDER BY \"timestamp\" DESC LIMIT 20",
    "SELECT count(*), count(DISTINCT episode_id) FROM failure_events",
]
done, errors, waits, worst = 0, [], 0, 0.0
end = time.monotonic() + seconds
while time.monotonic() < end:
    t0 = time.monotonic()
    try:
        conn = connect(path, read_only=True, timeout_s=10)
    except StoreLocked as exc:
        errors.append(f"locked: {exc}")
        continue
    except duckdb.Error as exc:
        errors.append(f"open: {exc}")
        time.sleep(0.05)
        continue
    try:
        for sql in QUERIES:
            conn.execute(sql).fetchall()
        done += 1
    except duckdb.Error as exc:
        errors.append(f"query: {exc}")
    finally:
        conn.close()
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.02)
print(json.dumps({"sessions": done, "errors": errors[:20], "error_count": len(errors),
                  "worst_session_s": round(worst, 3)}), flush=True)
"""


@dataclass
class Processes:
    folder: Path
    started: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, argv: Sequence[str], env: dict[str, str],
               prefix: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = self.folder / f"{name}-{len(self.started)}.log"
        with open(log_path, "wb") as out:
            popen = subprocess.Popen([*prefix, *argv], cwd=REPO, env=env, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        return popen, log_path

    def sidecar(self, sim: Any, db: Path, *, args: Sequence[str] = (),
                poll_interval_s: float = 0.5, secret: str | None = None,
                env: dict[str, str] | None = None, prefix: Sequence[str] = (),
                wait: bool = True) -> Sidecar:
        """`python -m exporter` against `sim`, writing `db`, metrics on a port of its own
        choosing (read from its banner)."""
        argv = [sys.executable, "-m", "exporter", "--db", str(db), "--listen", "127.0.0.1:0",
                "--poll-interval", f"{poll_interval_s:g}", *NO_PENDING_ARGS, *args]
        environment = env if env is not None else sidecar_env(sim, self.folder, secret)
        popen, log_path = self._spawn("sidecar", argv, environment, prefix)
        car = Sidecar("sidecar", popen, log_path, db=db)
        self.started.append(car)
        if wait:
            car.wait_listening()
        return car

    def sidecar_once(self, sim: Any, db: Path, *, args: Sequence[str] = (),
                     secret: str | None = None, env: dict[str, str] | None = None,
                     prefix: Sequence[str] = (), timeout_s: float = 120.0
                     ) -> subprocess.CompletedProcess[str]:
        """`python -m exporter --once`, run to its end."""
        argv = [sys.executable, "-m", "exporter", "--once", "--db", str(db), *NO_PENDING_ARGS,
                *args]
        environment = env if env is not None else sidecar_env(sim, self.folder, secret)
        return subprocess.run([*prefix, *argv], cwd=REPO, env=environment,
                              capture_output=True, text=True, timeout=timeout_s)

    def agent(self, db: Path, *, env: dict[str, str] | None = None,
              args: Sequence[str] = ()) -> Agent:
        """`python -m agent serve` on two free loopback ports; returns once /healthz answers."""
        for _ in range(5):  # a free port can be taken by someone else before the agent binds it
            api_port, ui_port = free_port(), free_port()
            argv = [sys.executable, "-m", "agent", "serve", "--host", "127.0.0.1",
                    "--api-port", str(api_port), "--ui-port", str(ui_port), "--db", str(db),
                    *args]
            popen, log_path = self._spawn("agent", argv, env if env is not None else child_env())
            agent = Agent("agent", popen, log_path, api_port=api_port, ui_port=ui_port)
            self.started.append(agent)
            if self._healthy(agent):
                return agent
            if "cannot listen" not in agent.logs():
                raise AssertionError(f"the agent did not start:\n{agent.logs()}")
        raise AssertionError("the agent found no free ports in 5 tries")

    @staticmethod
    def _healthy(agent: Agent, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not agent.alive():
                return False
            try:
                if httpx.get(f"{agent.base}/healthz", timeout=5).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the agent did not answer /healthz in {timeout_s:g}s")

    def reader(self, db: Path, seconds: float) -> Process:
        """A person's read-only DuckDB session, repeated: open, four queries, close. Prints one
        JSON summary line at the end (see reader_summary)."""
        argv = [sys.executable, "-c", READER, str(db), f"{seconds:g}"]
        popen, log_path = self._spawn("reader", argv, child_env())
        process = Process("reader", popen, log_path)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop(timeout_s=10)  # also reaps what a wrapper left in its group


def reader_summary(process: Process, timeout_s: float = 60.0) -> dict[str, Any]:
    code = process.wait_exit(timeout_s)
    lines = [line for line in process.logs().splitlines() if line.startswith("{")]
    assert code == 0 and lines, f"the reader failed ({code}):\n{process.logs()}"
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start real sidecar/agent/reader processes; whatever is still running is stopped after."""
    manager = Processes(tmp_path)
    try:
        yield manager
    finally:
        manager.stop_all()


# ---- the file against the simulator's truth ----------------------------------------------
Episode = tuple[str, str, str]  # (workload_id, timestamp ISO UTC, kind)
Run = tuple[str, str, str]  # (workload_id, finished_at ISO UTC, phase)


def _iso(value: datetime | str) -> str:
    parsed = parse_time(value) if isinstance(value, str) else value
    assert parsed is not None, value
    return parsed.isoformat()


# The sidecar judges "pending too long" by its own wall clock, which is not the simulator's
# frozen clock; so these tests start the scenario in the past and run the sidecar with a
# threshold no episode reaches, and compare failed and degraded episodes exactly. (Pending
# episodes against the simulated clock: tests/test_monitor.py, where the monitor takes it.)
NO_PENDING_ARGS = ("--pending-threshold", str(400 * 86400))
COMPARED_KINDS = ("failed", "degraded")


def sim_start(days_ago: int = 3) -> datetime:
    """A scenario start in the past, so simulated time stays behind the sidecar's clock."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=days_ago)


def truth_rows(truth: dict[str, Any]) -> tuple[Counter[Episode], Counter[Run]]:
    episodes = Counter((e["workload_id"], _iso(e["timestamp"]), e["kind"])
                       for e in truth["episodes"] if e["kind"] in COMPARED_KINDS)
    runs = Counter((r["workload_id"], _iso(r["finished_at"]), r["phase"]) for r in truth["runs"])
    return episodes, runs


def file_rows(
    db: Path, truth: dict[str, Any] | None = None, timeout_s: float = 30.0
) -> tuple[Counter[Episode], Counter[Run]]:
    """The file's episodes and runs as multisets, so a doubled row shows as a count of 2. With
    `truth`, each row is named by the true entry it is (tests/truth_matching.py: the stamps of
    one phase change differ by milliseconds to seconds); an unmatched row keeps its own."""
    conn = connect(db, read_only=True, timeout_s=timeout_s)
    try:
        episodes = [(str(w), t, str(k)) for w, t, k in conn.execute(
            'SELECT workload_id, "timestamp", kind FROM failure_events').fetchall()]
        runs = [(str(w), t, str(p)) for w, t, p in conn.execute(
            "SELECT workload_id, finished_at, phase FROM workload_runs").fetchall()]
    finally:
        conn.close()
    if truth is None:
        return (Counter((w, _iso(t), k) for w, t, k in episodes),
                Counter((w, _iso(t), p) for w, t, p in runs))
    named = pair([(w, k, t) for w, t, k in episodes], truth["episodes"], "kind", EPISODE_STAMPS)
    named_runs = pair([(w, p, t) for w, t, p in runs], truth["runs"], "phase", RUN_STAMPS)
    true_episodes, true_runs = truth["episodes"], truth["runs"]
    return (
        Counter((w, _iso(true_episodes[named[n]]["timestamp"]) if n in named else _iso(t), k)
                for n, (w, t, k) in enumerate(episodes)),
        Counter((w, _iso(true_runs[named_runs[n]]["finished_at"]) if n in named_runs
                 else _iso(t), p) for n, (w, t, p) in enumerate(runs)),
    )


def assert_file_is_truth(db: Path, truth: dict[str, Any]) -> None:
    """No failure or run lost, none doubled, nothing invented."""
    want_episodes, want_runs = truth_rows(truth)
    got_episodes, got_runs = file_rows(db, truth)
    doubled = [k for k, n in got_episodes.items() if n > 1]
    assert not doubled, f"doubled episodes: {doubled[:5]}"
    lost = want_episodes - got_episodes
    extra = got_episodes - want_episodes
    assert not lost and not extra, f"lost {sorted(lost)[:5]} ({len(lost)}), " \
        f"extra {sorted(extra)[:5]} ({len(extra)})"
    assert got_runs == want_runs, f"runs: lost {len(want_runs - got_runs)}, " \
        f"extra {len(got_runs - want_runs)}"
