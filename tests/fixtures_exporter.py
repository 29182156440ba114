"""Fixtures for the exporter's tests: a scripted HTTP server on loopback, and helpers.

The scripted server answers real HTTP on 127.0.0.1 with a free port, one queued answer per
request, so a retry test can say exactly which statuses, headers and bodies come back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exporter.server import BackgroundServer


@dataclass
class Answer:
    status: int = 200
    body: str | bytes = "{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    media_type: str = "application/json"


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.default = Answer(404, '{"code": 404, "message": "not scripted"}')
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: BackgroundServer | None = None
        self.url = ""

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self.answers.setdefault(path, []).extend(answers)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.seen.append(Seen(request.method, request.url.path, request.url.query,
                                  dict(request.headers), body))
            queue = self.answers.get(request.url.path) or []
            answer = queue.pop(0) if len(queue) > 1 else (queue[0] if queue else self.default)
        if answer.delay_s:
            import anyio

            await anyio.sleep(answer.delay_s)
        return Response(answer.body, answer.status, answer.headers, answer.media_type)

    def start(self) -> ScriptedServer:
        app = Starlette(routes=[Route("/{path:path}", self._handle,
                                      methods=["GET", "POST"])])
        self._server = BackgroundServer(app, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._server.port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    """A loopback server that answers each path from a queue (the last answer repeats)."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()
