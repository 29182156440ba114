"""Stand-ins we run for real: a webhook sink for chat notifications, and Alertmanager itself.

`notification_sink` is a small HTTP server on loopback that answers like Slack and Teams
incoming webhooks (200 "ok" / 202) and records every POST: the chat side of the receiver.
`start_alertmanager` runs Debian's /usr/bin/prometheus-alertmanager on a free loopback port
with a given config (gossip off, its own storage), stopped by the caller.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fixtures_llm import ServerThread, free_port

ALERTMANAGER_BIN = "prometheus-alertmanager"


@dataclass
class NotificationSink:
    received: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    status: int = 200

    def app(self) -> Starlette:
        async def record(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                self.received.append((request.url.path.strip("/"), body))
            return PlainTextResponse("ok", status_code=self.status)

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return [body for p, body in self.received if p == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 30.0) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.bodies(path)) >= count:
                return self.bodies(path)
            time.sleep(0.05)
        raise AssertionError(f"{path}: {len(self.bodies(path))} of {count} notices arrived")


@pytest.fixture
def notification_sink() -> Iterator[NotificationSink]:
    sink = NotificationSink()
    with ServerThread(sink.app()) as server:
        sink.url = server.url
        yield sink


@dataclass
class AlertmanagerServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def push(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts, as Prometheus does."""
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert response.status_code == 200, response.text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_alertmanager(config: dict[str, Any], workdir: Path) -> AlertmanagerServer:
    binary = shutil.which(ALERTMANAGER_BIN)
    if binary is None:
        pytest.fail("prometheus-alertmanager is missing: run `make system-deps` (Debian package)")
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    log_path = workdir / "alertmanager.log"
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config_path}", f"--storage.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    server = AlertmanagerServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Alertmanager exited:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"Alertmanager not ready within 30 s:\n{server.log()}")
