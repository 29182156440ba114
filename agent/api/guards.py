"""Request guards every endpoint of the agent gets, as ASGI middleware (see guarded()).

An endpoint added to the API app later (MCP, an Alertmanager webhook) is covered without doing
anything: the Host allow-list, bearer auth, the body limits, the JSON-only rule and, when its
path is listed in ANSWER_PATHS, the pool of answers in flight.

- Host allow-list: a browser tricked by DNS rebinding sends `Host: attacker.example`; only
  loopback names, the configured host, IP literals (rebinding needs a name) and
  AGENT_ALLOWED_HOSTS pass.
- JSON only: a cross-site page can POST `text/plain` without a CORS preflight; a body must be
  `application/json`, which a browser only sends cross-site after a preflight we never grant.
- Answers in flight: each answer holds a worker thread for seconds (LLM round trips); past
  the pool, 429 with Retry-After, so /api/stats and the probes keep their threads and
  /readyz says "saturated".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.api.edges import ApiSettings, GuardMiddleware, error_response

# Paths whose requests compose an answer (LLM and tool calls, seconds each); an MCP call runs
# one tool in a worker thread, so it shares the pool.
ANSWER_PATHS = frozenset({"/api/chat", "/v1/chat/completions", "/mcp"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
RETRY_AFTER_S = 5


class AnswerPool:
    """How many answers are being composed; the event loop is the only writer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0

    @property
    def saturated(self) -> bool:
        return self.in_flight >= self.capacity

    def describe(self) -> dict[str, int | str]:
        return {
            "status": "saturated" if self.saturated else "ready",
            "answers_in_flight": self.in_flight,
            "answer_capacity": self.capacity,
        }


class AnswerLimit:
    """At most `pool.capacity` requests to ANSWER_PATHS at once; beyond, 429 + Retry-After.
    A streamed answer counts until its stream ends."""

    def __init__(self, app: ASGIApp, pool: AnswerPool, paths: Iterable[str] = ANSWER_PATHS):
        self.app = app
        self.pool = pool
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if self.pool.saturated:
            response = error_response(
                429,
                f"the agent is already answering {self.pool.in_flight} questions; "
                f"try again in {RETRY_AFTER_S} seconds",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
            await response(scope, receive, send)
            return
        self.pool.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.pool.in_flight -= 1


def host_of(header: bytes) -> str:
    """The host name of a Host header without its port (`[::1]:8000` -> `::1`)."""
    text = header.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostPolicy:
    names: frozenset[str]  # allowed names, lower case; "*" allows any

    @classmethod
    def build(cls, configured: Iterable[str], bind_host: str | None) -> HostPolicy:
        names = {n.strip().lower().strip("[]") for n in configured if n.strip()}
        names.update(LOOPBACK_NAMES)
        if bind_host and bind_host not in ("0.0.0.0", "::", ""):
            names.add(bind_host.lower().strip("[]"))
        return cls(frozenset(names))

    def allows(self, host: str) -> bool:
        if "*" in self.names or host in self.names or _is_ip(host):
            return True
        # ".example.com" allows every name under example.com
        return any(n.startswith(".") and host.endswith(n) for n in self.names)


class HostAllowList:
    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = _headers(scope).get("host", b"")
        host = host_of(header)
        if not self.policy.allows(host):
            response = error_response(
                421,
                f"host {host[:100]!r} is not served here; add it to AGENT_ALLOWED_HOSTS",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class JsonOnly:
    """A request with a body must say `Content-Type: application/json` (415 otherwise)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        media = _headers(scope).get("content-type", b"").split(b";")[0].strip().lower()
        if media != b"application/json" and not (
            media.startswith(b"application/") and media.endswith(b"+json")
        ):
            shown = media.decode("latin-1")[:80] or "none"
            response = error_response(
                415, f"send the body as Content-Type: application/json (got {shown})"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _headers(scope: Scope) -> Mapping[str, bytes]:
    return {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}


def guarded(settings: ApiSettings, pool: AnswerPool) -> list[Middleware]:
    """The middleware stack of the API app, outermost first."""
    return [
        Middleware(
            HostAllowList, policy=HostPolicy.build(settings.allowed_hosts, settings.bind_host)
        ),
        Middleware(
            GuardMiddleware, token=settings.api_token, max_body_bytes=settings.max_body_bytes
        ),
        Middleware(JsonOnly),
        Middleware(AnswerLimit, pool=pool),
    ]
