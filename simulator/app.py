"""The simulator as one Starlette app: Run:ai API, Kubernetes subset and /admin on one port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from simulator import api_admin, api_k8s, api_org, api_runai
from simulator.config import SimulatorConfig
from simulator.responses import k8s_status, runai_error
from simulator.state import Sim


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/v1/namespaces/"):
        return k8s_status(exc.status_code, exc.detail)
    return runai_error(exc.status_code, exc.detail)


def create_app(config: SimulatorConfig) -> Starlette:
    """Build the app; its state (`app.state.sim`) is generated from the config's scenario."""
    routes: list[BaseRoute] = [*api_runai.ROUTES, *api_org.ROUTES, *api_k8s.ROUTES]
    if config.admin_enabled:
        routes += api_admin.ROUTES
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sim = Sim.build(config)
    return app
