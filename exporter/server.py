"""/metrics, /healthz and /readyz on their own thread, so a slow poll never blocks a scrape.

/metrics is prometheus_client's own ASGI app: gzip when asked, OpenMetrics when negotiated.
/healthz: the process is alive. /readyz: a poll succeeded within the last three intervals.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from prometheus_client import make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from common.asgi import AsgiEndpoint
from exporter.metrics import MetricsState, make_registry


def make_app(
    state: MetricsState, poll_interval_s: float, clock: Callable[[], float] = time.time
) -> Starlette:
    metrics = AsgiEndpoint(make_asgi_app(make_registry(state)))

    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(request: Request) -> Response:
        last = state.last_success_at()
        if not last:
            return PlainTextResponse("not ready: no successful poll yet\n", status_code=503)
        age = clock() - last
        if age > 3 * poll_interval_s:
            return PlainTextResponse(
                f"not ready: last successful poll {age:.0f}s ago "
                f"(more than 3 intervals of {poll_interval_s:g}s)\n",
                status_code=503,
            )
        return PlainTextResponse(f"ready: last successful poll {age:.0f}s ago\n")

    return Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )


class BackgroundServer:
    """uvicorn on a daemon thread, bound before start() returns so the port is known."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # uvicorn writes headers and body separately, and asyncio sets TCP_NODELAY only on
        # sockets whose proto says TCP; without it (inherited by accepted sockets) Nagle holds
        # the body for the client's delayed ACK: 40 ms per keep-alive request.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._sock.bind((host, port))  # OSError (address in use) surfaces in the caller
            self._sock.listen(128)
        except OSError:
            self._sock.close()
            raise
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]},
            name="metrics-server", daemon=True,
        )

    def start(self, timeout_s: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the metrics server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()
