"""An ASGI app as a Starlette Route's endpoint, shared by the exporter's and the agent's /metrics.

Starlette treats a plain function endpoint as a request handler (prometheus_client's ASGI app
is one), and a Mount would redirect /metrics to /metrics/; an object with __call__ is served
as the ASGI app it is.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class AsgiEndpoint:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
