"""A strict Run:ai control plane of one published version, in process, for the client's tests.

Built only from the published spec subsets in /work/shared/reference/runai-spec (not from our
client's tables): token endpoints, grant types, body fields and content types as that version
declares them; every query parameter checked against the operation's declared parameters
(unknown or repeated: 400), `filterBy` items against the version's own `pattern`, enums and
`limit` 1-500. What passes is forwarded to the simulator (the workload data), with the
simulator's own token; `GET /api/v1/clusters` is answered here. Every answer is logged, so a
test can say "no request was answered 400".

Used as an httpx transport: `httpx.Client(transport=StrictRunai(...))`.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

SPEC_DIR = Path("/work/shared/reference/runai-spec")
if not SPEC_DIR.is_dir():  # the copies shipped with the exporter are the same files
    SPEC_DIR = Path(__file__).resolve().parent.parent / "exporter" / "runai" / "specs"
VERSIONS = ("2.18", "2.19", "2.20", "2.21", "2.22", "2.23", "2.24")
FORM = "application/x-www-form-urlencoded"


@functools.cache
def spec(version: str) -> dict[str, Any]:
    return dict(json.loads((SPEC_DIR / f"runai-{version}-subset.json").read_text()))


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    status: int
    message: str = ""


@dataclass
class StrictRunai(httpx.BaseTransport):
    version: str
    upstream_url: str  # the simulator
    upstream_token: str  # a token the simulator takes
    client_id: str
    client_secret: str
    clusters: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    forbidden: tuple[str, ...] = ()  # path templates answered 403 (a missing permission)
    clients: list[httpx.Client] = field(default_factory=list)  # closed with the server
    _tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.doc = spec(self.version)
        self._upstream = httpx.HTTPTransport()
        self._ops = [
            (_template_regex(path), path, method.upper(), op)
            for path, ops in self.doc["paths"].items()
            for method, op in ops.items() if isinstance(op, dict)
        ]

    # -- what the tests read ----------------------------------------------------------------
    def answered(self, status: int, *, tokens: bool = True) -> list[Seen]:
        return [s for s in self.seen if s.status == status
                and (tokens or not s.path.endswith("/token"))]

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self._upstream.close()

    # -- the server ---------------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        match = next(((t, m, op) for rx, t, m, op in self._ops
                      if rx.match(path) and m == request.method), None)
        if match is None:
            return self._log(request, query, 404, {"code": 404, "message": "Not Found"})
        template, method, op = match
        if template.endswith("/token"):
            status, body = self._token(template, request, op)
            return self._log(request, query, status, body)
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self._tokens:
            return self._log(request, query, 401, {"code": 401, "message": "Unauthorized"})
        if template in self.forbidden:
            return self._log(request, query, 403, {"code": 403, "message": "Forbidden"})
        problem = self._check_query(op, query)
        if problem:
            return self._log(request, query, 400, {"code": 400, "message": problem})
        if template == "/api/v1/clusters":
            return self._log(request, query, 200, self.clusters)
        forwarded = httpx.Request(
            method, f"{self.upstream_url}{path}", params=query,
            headers={"Authorization": f"Bearer {self.upstream_token}"},
        )
        response = self._upstream.handle_request(forwarded)
        response.read()
        data = json.loads(response.content) if response.content else None
        return self._log(request, query, response.status_code, data)

    def _log(self, request: httpx.Request, query: list[tuple[str, str]], status: int,
             body: Any) -> httpx.Response:
        message = body.get("message", body.get("error_description", "")) \
            if isinstance(body, dict) else ""
        with self._lock:
            self.seen.append(Seen(request.method, request.url.path, query, status, message))
        return httpx.Response(status, json=body)

    def _check_query(self, op: dict[str, Any], query: list[tuple[str, str]]) -> str:
        declared = {}
        for raw in op.get("parameters", []):
            param = resolve(self.doc, raw)
            if param.get("in") == "query":
                declared[param["name"]] = param
        names = [name for name, _ in query]
        for name, value in query:
            if name not in declared:
                return f"unknown query parameter {name!r} on control plane {self.version}"
            if names.count(name) > 1:
                return f"query parameter {name!r} given {names.count(name)} times"
            schema = resolve(self.doc, declared[name].get("schema", {}))
            if schema.get("type") == "array":  # filterBy: explode false, comma-joined items
                pattern = re.compile(resolve(self.doc, schema["items"]).get("pattern", ".*"))
                for item in value.split(","):
                    if not pattern.match(item):
                        return f"{name} item {item!r} does not match the {self.version} pattern"
                continue
            if "enum" in schema and value not in schema["enum"]:
                return f"{name} must be one of {schema['enum']}"
            if schema.get("type") == "boolean" and value not in ("true", "false"):
                return f"{name} must be true or false"
            if schema.get("type") == "integer":
                if not value.lstrip("-").isdigit():
                    return f"{name} must be an integer"
                low, high = schema.get("minimum"), schema.get("maximum")
                if (low is not None and int(value) < low) or \
                        (high is not None and int(value) > high):
                    return f"{name} must be between {low} and {high}"
        return ""

    def _token(self, template: str, request: httpx.Request,
               op: dict[str, Any]) -> tuple[int, Any]:
        content = op["requestBody"]["content"]
        media = request.headers.get("content-type", "").split(";")[0].strip()
        if media not in content:
            return 400, {"code": 400, "message": f"content type {media!r} not accepted"}
        schema = resolve(self.doc, content[media]["schema"])
        if media == FORM:
            body = dict(parse_qsl(request.content.decode()))
            grant_enum = schema["properties"]["grant_type"]["enum"]
            if body.get("grant_type") not in grant_enum or \
                    body.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            if (body.get("client_id"), body.get("client_secret")) != \
                    (self.client_id, self.client_secret):
                return 401, {"error": "invalid_client",
                             "error_description": "Client authentication failed"}
            return 200, {"access_token": self._issue(), "token_type": "Bearer",
                         "expires_in": 3600}
        try:
            body = json.loads(request.content)
        except ValueError:
            return 400, {"code": 400, "message": "body is not JSON"}
        props = schema["properties"]
        grants = resolve(self.doc, props["grantType"]).get("enum", [])
        grant = body.get("grantType")
        fields = {"client_credentials": ("clientID", "clientSecret"),
                  "app_token": ("appID", "appSecret")}.get(grant)
        if grant not in grants or fields is None or not set(fields) <= set(props):
            return 400, {"code": 400, "message": f"grantType {grant!r} is not supported"}
        if not set(body) <= set(props) | {"grantType"}:
            return 400, {"code": 400, "message": f"unknown fields {sorted(set(body) - set(props))}"}
        if (body.get(fields[0]), body.get(fields[1])) != (self.client_id, self.client_secret):
            return 401, {"code": 401, "message": "Invalid client credentials"}
        answer = {"accessToken": self._issue(), "expiresIn": 3600, "refreshToken": ""}
        response_props = resolve(self.doc, resolve(
            self.doc, op["responses"]["200"]["content"]["application/json"]["schema"]))
        return 200, {k: v for k, v in answer.items() if k in response_props["properties"]}

    def _issue(self) -> str:
        token = secrets.token_hex(16)
        self._tokens.add(token)
        return token
