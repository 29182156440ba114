"""`make demo` (scripts/demo.py) brings the whole product up, every printed URL answers, and
Ctrl-C (SIGTERM here) stops every process it started."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from history.reader import open_history

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.prometheus]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until(check: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout_s}s (last: {last!r})")


def test_demo_starts_everything_prints_urls_and_stops_cleanly(tmp_path: Path) -> None:
    sim, exporter, prom, api, ui = free_ports(5)
    demo = subprocess.Popen(
        [sys.executable, "scripts/demo.py", "--state-dir", str(tmp_path),
         "--simulator-port", str(sim), "--exporter-port", str(exporter),
         "--prometheus-port", str(prom), "--api-port", str(api), "--ui-port", str(ui),
         "--poll-interval", "2", "--speed", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(output)
        assert "The demo is up" in text, text
        for url in (f"http://127.0.0.1:{sim}", f"http://127.0.0.1:{exporter}/metrics",
                    f"http://127.0.0.1:{prom}", f"http://127.0.0.1:{ui}",
                    f"http://127.0.0.1:{api}/api/chat"):
            assert url in text, f"{url} not printed:\n{text}"

        token = httpx.post(
            f"http://127.0.0.1:{sim}/api/v2/token",
            data={"grant_type": "client_credentials", "client_id": "runai-sim-client",
                  "client_secret": "runai-sim-demo-secret"},
        )
        assert token.status_code == 200, token.text

        metrics_url = f"http://127.0.0.1:{exporter}/metrics"
        wait_until(
            lambda: re.search(
                r'^runai_failure_exporter_polls_total\{[^}]*result="success"[^}]*\} [1-9]',
                httpx.get(metrics_url).text, re.M),
            60, "a successful poll",
        )
        failures = wait_until(
            lambda: [line for line in httpx.get(metrics_url).text.splitlines()
                     if line.startswith("runai_workload_failures_total{")
                     and not line.endswith(" 0.0")],
            60, "failures counted by the exporter",
        )
        assert failures

        def exporter_target_up() -> bool:
            targets = httpx.get(f"http://127.0.0.1:{prom}/api/v1/targets").json()
            return any(t["labels"]["job"] == "runai-failure-exporter" and t["health"] == "up"
                       for t in targets["data"]["activeTargets"])

        wait_until(exporter_target_up, 60, "Prometheus scraping the exporter")

        answer = httpx.post(f"http://127.0.0.1:{api}/api/chat",
                            json={"question": "Show me failure statistics"}, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["mode"] == "deterministic"
        assert "|" in body["markdown"]  # a table of real numbers, not the "nothing yet" answer

        # The simulator's clock runs ahead of the wall clock (60x; here pushed 6 h on at once):
        # its newest failures are "in the future", and the agent (--clock history) must still
        # include them in windowed answers.
        moved = httpx.post(f"http://127.0.0.1:{sim}/admin/clock", json={"advance_seconds": 21600})
        assert moved.status_code == 200, moved.text

        def newest_in_the_future() -> datetime | None:
            with open_history(str(tmp_path / "runai_failure_history.db")) as conn:
                row = conn.execute('SELECT max("timestamp") FROM failure_events').fetchone()
            found = row[0] if row else None
            return found if found is not None and found > datetime.now(UTC) else None

        newest = wait_until(newest_in_the_future, 60, "a failure stamped by the simulated clock")
        assert isinstance(newest, datetime)
        listed = httpx.get(f"http://127.0.0.1:{api}/api/failures",
                           params={"window": "last 24 hours", "limit": "1"}, timeout=30).json()
        assert listed["status"] == "ok", listed
        shown = datetime.fromisoformat(listed["data"]["failures"][0]["timestamp"])
        assert shown >= newest

        page = httpx.get(f"http://127.0.0.1:{ui}/")
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            rest, _ = demo.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            rest, _ = demo.communicate()
        output.append(rest or "")
    assert demo.returncode == 0, "".join(output)
    for port in (sim, exporter, prom, api, ui):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served"
    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.glob("*.log")}
    assert set(logs) == {"simulator.log", "exporter.log", "prometheus.log", "agent.log"}
    assert json.dumps(logs).count("Traceback") == 0, logs
