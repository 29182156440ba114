"""The wrapper around every API endpoint: faults first (like a gateway), then auth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from simulator.auth import bearer
from simulator.errors import ApiError
from simulator.responses import k8s_status, runai_error
from simulator.state import Sim

Handler = Callable[[Request, Sim], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
Realm = Literal["token", "runai", "k8s"]


def _error(realm: Realm, status: int, message: str,
           headers: dict[str, str] | None = None) -> Response:
    if realm == "k8s":
        return k8s_status(status, message, headers=headers)
    return runai_error(status, message, headers)


def guarded(realm: Realm) -> Callable[[Handler], Endpoint]:
    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            sim: Sim = request.app.state.sim
            faults = sim.faults
            faulty = faults.applies(request.url.path)
            if faulty:
                if faults.settings.latency_ms > 0:
                    await asyncio.sleep(faults.settings.latency_ms / 1000)
                if faults.take_rate_limit():
                    return _error(realm, 429, "Too many requests, retry later",
                                  {"Retry-After": str(faults.settings.retry_after_s)})
                status = faults.take_error()
                if status is not None:
                    return _error(realm, status, "Injected fault: service unavailable")
            sim.world.sync()
            if realm == "runai":
                token = bearer(request.headers.get("authorization"))
                if token is None or not sim.tokens.valid(token):
                    return runai_error(401, "Unauthorized: missing, invalid or expired token")
            elif realm == "k8s":
                token = bearer(request.headers.get("authorization"))
                if token != sim.config.k8s_token:
                    return k8s_status(401, "Unauthorized")
            try:
                response = await handler(request, sim)
            except ApiError as exc:
                return _error(realm, exc.status, exc.message)
            if faulty and response.status_code == 200 and response.media_type != "text/plain":
                body = bytes(response.body)
                corrupted = faults.corrupt(body)
                if corrupted is not body:
                    return Response(corrupted, status_code=200, media_type=response.media_type)
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap
