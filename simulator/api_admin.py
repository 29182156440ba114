"""/admin: the test and demo controls (clock, faults, reset, truth). No auth; can be disabled."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.clock import iso
from simulator.responses import json_response, runai_error
from simulator.state import Sim
from simulator.truth import truth


def _sim(request: Request) -> Sim:
    sim: Sim = request.app.state.sim
    sim.world.sync()
    return sim


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("body must be a JSON object")
    return value


def _clock_state(sim: Sim) -> dict[str, Any]:
    return {"now": iso(sim.world.now), "start": iso(sim.world.clock.start),
            "speed": sim.world.clock.speed}


async def get_clock(request: Request) -> Response:
    return json_response(_clock_state(_sim(request)))


async def post_clock(request: Request) -> Response:
    """{"advance_seconds": N} moves simulated time forward (also at speed 0);
    {"advance_changes": N} moves it to when the next N workload changes (phase changes and
    deletions) have happened, so a benchmark can make exactly 1 % of a tenant change per cycle.
    The answer adds "changes": how many happened."""
    sim = _sim(request)
    try:
        body = await _json_object(request)
        if set(body) - {"advance_seconds", "advance_changes"} or len(body) != 1:
            raise ValueError("give one of advance_seconds or advance_changes")
        ((name, value),) = body.items()
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
        if name == "advance_changes" and not float(value).is_integer():
            raise ValueError("advance_changes must be a whole number")
    except ValueError as exc:
        return runai_error(400, str(exc))
    before = sim.world.changes_left()
    if name == "advance_changes":
        sim.world.advance_changes(int(value))
    else:
        sim.world.advance(float(value))
    return json_response({**_clock_state(sim), "changes": before - sim.world.changes_left()})


async def get_faults(request: Request) -> Response:
    return json_response(_sim(request).faults.as_dict())


async def post_faults(request: Request) -> Response:
    """A partial FaultSettings object; `"expire_tokens": true` also revokes every token."""
    sim = _sim(request)
    try:
        body = await _json_object(request)
        expire = body.pop("expire_tokens", False)
        if not isinstance(expire, bool):
            raise ValueError("expire_tokens takes true or false")
        sim.faults.update(body)
    except ValueError as exc:
        return runai_error(400, str(exc))
    state = sim.faults.as_dict()
    if expire:
        state["expired_tokens"] = sim.tokens.expire_all()
    return json_response(state)


async def post_reset(request: Request) -> Response:
    sim = _sim(request)
    sim.reset()
    return json_response({"reset": True, **_clock_state(sim)})


async def get_truth(request: Request) -> Response:
    return json_response(truth(_sim(request).world))


async def get_requests(request: Request) -> Response:
    """How the API answered so far: {"statuses": {"200": n, ...}, "refused": ["GET /path"...]
    (the first 100 answered 400), "max_in_flight": {"runai": n, "k8s": n} (the most requests
    answered at once)}."""
    sim = _sim(request)
    return json_response({"statuses": {str(k): v for k, v in sorted(sim.statuses.items())},
                          "refused": list(sim.refused),
                          "max_in_flight": dict(sim.max_in_flight)})


ROUTES = [
    Route("/admin/clock", get_clock, methods=["GET"]),
    Route("/admin/clock", post_clock, methods=["POST"]),
    Route("/admin/faults", get_faults, methods=["GET"]),
    Route("/admin/faults", post_faults, methods=["POST"]),
    Route("/admin/reset", post_reset, methods=["POST"]),
    Route("/admin/truth", get_truth, methods=["GET"]),
    Route("/admin/requests", get_requests, methods=["GET"]),
]
