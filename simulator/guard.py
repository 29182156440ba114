"""The wrapper around every API endpoint: faults first (like a gateway), then auth, then the
served version's spec: an operation the version lacks is 404, a query it does not take 400."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from simulator.auth import bearer
from simulator.errors import ApiError
from simulator.query import Query, check_query
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


def query_of(request: Request) -> Query:
    """The query the guard checked against the spec (for endpoints guarded with a spec path)."""
    query: Query = request.state.query
    return query


def guarded(realm: Realm, spec_path: str | None = None,
            method: str = "GET") -> Callable[[Handler], Endpoint]:
    """`spec_path`: the operation's path in the spec; the version must have it (else 404) and
    the query must be one it takes (else 400), then `query_of(request)` gives it."""

    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            sim: Sim = request.app.state.sim
            if spec_path is not None and not sim.version.has(method, spec_path):
                return _error(realm, 404, f"Not Found: {method} {spec_path} does not exist on "
                                          f"control plane {sim.version.name}")
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
                if spec_path is not None and method == "GET":
                    request.state.query = check_query(request, sim.version, method, spec_path)
                response = await handler(request, sim)
            except ApiError as exc:
                response = _error(realm, exc.status, exc.message)
            if faulty and faults.latency_on():
                # After the handler: a big page costs more than a small one, as on a real
                # control plane (the handler says how many items it served).
                await asyncio.sleep(faults.draw_latency(getattr(request.state, "items", 0)))
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
