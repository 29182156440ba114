"""The simulator as one Starlette app: Run:ai API, Kubernetes subset and /admin on one port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator import api_admin, api_k8s, api_org, api_runai
from simulator.config import SimulatorConfig
from simulator.responses import k8s_status, runai_error
from simulator.state import Sim


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/v1/namespaces/"):
        return k8s_status(exc.status_code, exc.detail)
    return runai_error(exc.status_code, exc.detail)


class _CountAnswers:
    """Counts the status of every API answer in `sim`, and the requests in flight per API
    (GET /admin/requests shows them)."""

    def __init__(self, app: ASGIApp, sim: Sim) -> None:
        self.app, self.sim = app, sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/admin/"):
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.sim.answered(scope["method"], path, int(message["status"]))
            await send(message)

        api = "k8s" if path.startswith("/api/v1/namespaces/") else "runai"
        self.sim.arrived(api)
        try:
            await self.app(scope, receive, counted)
        finally:
            self.sim.left(api)


def create_app(config: SimulatorConfig) -> Starlette:
    """Build the app; its state (`app.state.sim`) is generated from the config's scenario."""
    routes: list[BaseRoute] = [*api_runai.ROUTES, *api_org.ROUTES, *api_k8s.ROUTES]
    if config.admin_enabled:
        routes += api_admin.ROUTES
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sim = sim = Sim.build(config)
    app.add_middleware(_CountAnswers, sim=sim)
    return app
