"""Shared fixtures: a Run:ai API simulator on a free loopback port, in a background thread.

    def test_something(simulator):            # scenario "demo", seed 7, clock frozen (speed 0)
        token = simulator.token()              # POST /api/v2/token with the right credentials
        r = httpx.get(f"{simulator.url}/api/v1/workloads", headers=simulator.auth_headers())
        simulator.advance(3600)                # simulated clock +1 h: new failures may appear
        simulator.advance_changes(50)          # to when the next 50 workload changes happened
        simulator.set_faults(fail_next=2)      # next 2 API requests answer 503 (see FaultSettings)
        simulator.expire_tokens()              # every issued token is now invalid
        truth = simulator.truth()              # {"now", "episodes": [...], "runs": [...]}
        simulator.reset()                      # fresh world at the scenario start, no faults

    def test_other(make_simulator):
        sim = make_simulator(scenario="large", seed=3, faults={"page_drift": True})

`make_simulator(**config)` takes any SimulatorConfig field (scenario, seed, speed, scale, start,
client_id, client_secret, k8s_token, token_ttl_s, admin_enabled, clock, faults as a dict or
FaultSettings). Pass `clock=ManualClock()` to move real time by hand (token expiry, --speed).
Attributes: url, client_id, client_secret, k8s_token, config, app (the Starlette app, e.g. for
httpx.ASGITransport), and admin(method, path, json=None) for any /admin call.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from jsonschema import Draft202012Validator
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.config import FaultSettings, SimulatorConfig
from simulator.versions import LATEST, api_version, spec_path


class ManualClock:
    """A real-time clock that only moves when told; pass as make_simulator(clock=...)."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@dataclass
class RunningSimulator:
    url: str
    config: SimulatorConfig
    app: Starlette
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    @property
    def k8s_token(self) -> str:
        return self.config.k8s_token

    def admin(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=json, timeout=30)
        response.raise_for_status()
        return response.json()

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move simulated time forward; returns {"now", "start", "speed"}."""
        return dict(self.admin("POST", "/admin/clock", {"advance_seconds": seconds}))

    def advance_changes(self, changes: int) -> dict[str, Any]:
        """Move simulated time to when the next `changes` workload changes have happened;
        returns {"now", "start", "speed", "changes"}."""
        return dict(self.admin("POST", "/admin/clock", {"advance_changes": changes}))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return dict(self.admin("POST", "/admin/faults", faults))

    def expire_tokens(self) -> int:
        return int(self.admin("POST", "/admin/faults", {"expire_tokens": True})["expired_tokens"])

    def reset(self) -> None:
        self.admin("POST", "/admin/reset")

    def truth(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/admin/truth"))

    def token(self) -> str:
        """A token the way the served version issues one: /api/v2/token from 2.24, else v1
        with client_credentials (2.20+) or app_token (2.18, 2.19)."""
        version = api_version(self.config.api_version)
        if version.has("POST", "/api/v2/token") and not self.config.faults.v1_token_only:
            response = httpx.post(f"{self.url}/api/v2/token", timeout=30, data={
                "grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret})
            response.raise_for_status()
            return str(response.json()["access_token"])
        if "client_credentials" in version.token_grants:
            body = {"grantType": "client_credentials", "clientID": self.client_id,
                    "clientSecret": self.client_secret}
        else:
            body = {"grantType": "app_token", "appID": self.client_id,
                    "appSecret": self.client_secret}
        response = httpx.post(f"{self.url}/api/v1/token", timeout=30, json=body)
        response.raise_for_status()
        return str(response.json()["accessToken"])

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def start_simulator(config: SimulatorConfig) -> RunningSimulator:
    """Serve `config` on 127.0.0.1:<free port> in a daemon thread; returns once it answers."""
    app = create_app(config)
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it every small response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"simulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    return RunningSimulator(f"http://127.0.0.1:{port}", config, app, server, thread)


@contextlib.contextmanager
def serving(**overrides: Any) -> Iterator[tuple[RunningSimulator, httpx.Client]]:
    """A simulator (frozen clock unless told) and an authenticated client, for module-scoped
    fixtures of tests that only read."""
    sim = start_simulator(_config(overrides))
    try:
        with httpx.Client(base_url=sim.url, headers=sim.auth_headers()) as client:
            yield sim, client
    finally:
        sim.stop()


def fetch_all(api: httpx.Client, path: str = "/api/v1/workloads", key: str = "workloads",
              **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged listing, following `next` until a page omits it."""
    out: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        r = api.get(path, params={**params, "offset": offset, "limit": 500})
        assert r.status_code == 200, r.text
        out += r.json()[key]
        offset = r.json().get("next")
    return out


def _config(overrides: dict[str, Any]) -> SimulatorConfig:
    settings: dict[str, Any] = {"scenario": "demo", "seed": 7, "speed": 0.0, **overrides}
    faults = settings.get("faults")
    if isinstance(faults, dict):
        settings["faults"] = FaultSettings(**faults)
    return SimulatorConfig(**settings)


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., RunningSimulator]]:
    started: list[RunningSimulator] = []

    def make(**overrides: Any) -> RunningSimulator:
        sim = start_simulator(_config(overrides))
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(make_simulator: Callable[..., RunningSimulator]) -> RunningSimulator:
    return make_simulator()


# ---- validating responses against the published Run:ai OpenAPI schemas ---------------------
# One spec per control-plane version (exporter/runai/specs/runai-<version>-subset.json, the
# repository's one copy); LATEST unless a test says which.


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` becomes a null alternative."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items()
           if k not in ("nullable", "example", "examples", "writeOnly", "deprecated")
           and not k.startswith("x-")}
    if node.get("nullable") is True:
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str) and "allOf" not in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def openapi(version: str = LATEST) -> dict[str, Any]:
    return dict(json.loads(spec_path(version).read_text()))


def _response_schema(path: str, method: str, status: int, version: str) -> Any:
    doc = openapi(version)
    documented = doc["paths"][path][method.lower()]["responses"]
    # Undocumented error statuses (e.g. 400 on list endpoints) carry the generic Error body.
    response = documented.get(str(status), {"$ref": "#/components/responses/400BadRequest"})
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return next(iter(response["content"].values()))["schema"]


def response_validator(path: str, method: str, status: int,
                       version: str = LATEST) -> Draft202012Validator:
    """A validator for the documented response body of `method path` with `status`."""
    schema = _response_schema(path, method, status, version)
    components = _to_json_schema(openapi(version)["components"])
    root = {**_to_json_schema(schema), "components": components}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_validator(name: str, version: str = LATEST) -> Draft202012Validator:
    """A validator for components/schemas/<name>."""
    root = {"$ref": f"#/components/schemas/{name}",
            "components": _to_json_schema(openapi(version)["components"])}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def undocumented_fields(value: Any, schema: Any, version: str = LATEST,
                        where: str = "$") -> list[str]:
    """Paths of object keys the schema does not define (the validator alone allows extras)."""
    doc = openapi(version)

    def resolve(node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def props(node: Any) -> tuple[dict[str, Any], bool]:
        node = resolve(node)
        # A required name is documented too (2.18 requires projects' `phase` without a schema).
        out = {name: {} for name in node.get("required", ())}
        out.update(node.get("properties", {}))
        open_ended = "additionalProperties" in node or "anyOf" in node or "oneOf" in node
        for part in node.get("allOf", ()):
            more, more_open = props(part)
            out.update(more)
            open_ended = open_ended or more_open
        return out, open_ended

    schema = resolve(schema)
    found: list[str] = []
    if isinstance(value, dict):
        defined, open_ended = props(schema)
        if not defined and not open_ended:
            return found
        for key, item in value.items():
            if key in defined:
                found += undocumented_fields(item, defined[key], version, f"{where}.{key}")
            elif not open_ended:
                found.append(f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += undocumented_fields(item, schema["items"], version, f"{where}[{i}]")
    return found


def assert_valid(path: str, method: str, response: httpx.Response,
                 version: str = LATEST) -> Any:
    """Assert `response` (status and body) matches the documented response of `version` and
    uses no field that version does not define; returns the body."""
    body = response.json()
    response_validator(path, method, response.status_code, version).validate(body)
    extra = undocumented_fields(body, _response_schema(path, method, response.status_code,
                                                       version), version)
    assert not extra, f"fields {version} does not define: {extra[:10]}"
    return body
