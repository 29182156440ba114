"""A real Prometheus server for tests: `/usr/bin/prometheus` on a free loopback port.

    def test_x(make_prometheus):
        prom = make_prometheus({"global": {...}, "scrape_configs": [...]})
        prom.query("up")  # -> the `result` list of an instant query; raises on an API error

Each server has its own temporary storage and config directory and is stopped at teardown.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

PROMETHEUS_BIN = "prometheus"
READY_TIMEOUT_S = 30.0
START_ATTEMPTS = 3  # a port found free can be taken before Prometheus binds it


class PrometheusQueryError(AssertionError):
    """Prometheus answered a query with status error (bad PromQL, timeout)."""


@dataclass
class PrometheusServer:
    url: str
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; the `data` member of a success, PrometheusQueryError otherwise."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10.0)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusQueryError(
                f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def query(self, expr: str, **params: Any) -> list[dict[str, Any]]:
        """An instant query's result: a list of {"metric": {...}, "value": [ts, "v"]}."""
        data = self.api("query", query=expr, **params)
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(
        self, expr: str, *, timeout_s: float = 60.0, interval_s: float = 0.5
    ) -> list[dict[str, Any]]:
        """Poll an instant query until it returns at least one series."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"no series for {expr!r} within {timeout_s:.0f} s")
            time.sleep(interval_s)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(server: PrometheusServer) -> bool:
    """True once /-/ready answers 200; False if the process exits first."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"Prometheus not ready within {READY_TIMEOUT_S:.0f} s:\n{server.log()}")


def start_prometheus(config: dict[str, Any], workdir: Path) -> PrometheusServer:
    """Write `config` to workdir/prometheus.yml and start Prometheus on a free loopback port.

    Relative `rule_files` resolve against workdir, so pass absolute paths for files elsewhere.
    """
    binary = shutil.which(PROMETHEUS_BIN)
    if binary is None:
        pytest.fail("the prometheus binary is missing: run `make system-deps` (Debian package)")
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    log_path = workdir / "prometheus.log"
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle",  # POST /-/reload and /-/quit
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = PrometheusServer(f"http://127.0.0.1:{port}", config_path, log_path, process)
        if _wait_ready(server):
            return server
        if "address already in use" not in server.log():
            break
    raise AssertionError(f"Prometheus did not start:\n{server.log()}")


@pytest.fixture
def make_prometheus(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], PrometheusServer]]:
    """Factory: make_prometheus(config_dict) -> a started PrometheusServer, stopped at teardown."""
    servers: list[PrometheusServer] = []

    def make(config: dict[str, Any]) -> PrometheusServer:
        server = start_prometheus(config, tmp_path / f"prometheus-{len(servers)}")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
