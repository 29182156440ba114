"""HTTP edges of the agent's API: settings, JSON errors, bearer auth, body limits, SSE framing.

Every refusal is a JSON body with a one-line `error` and the right 4xx status; the handlers
below make sure no request can turn into a 500 with a stack trace.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.alerts.delivery import NotifySettings
from agent.llm.settings import LLMSettings
from agent.types import Answer, ToolContext
from common import redaction
from common.bounds import bounded_int
from common.errors import ConfigError, StoreError
from history import reader, sources

log = logging.getLogger("agent.api.app")

DEFAULT_DB_PATH = "/data/runai_failure_history.db"
MAX_BODY_BYTES = 64 * 1024
MAX_QUESTION_CHARS = 4000
MAX_JSON_DEPTH = 32  # our bodies nest 4 deep; 32K levels made json.loads raise RecursionError
MAX_ANSWERS = 8  # answers composed at once (AGENT_MAX_ANSWERS); beyond, 429
# Probes and Prometheus scrapes work without the token (metrics hold no question or answer).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def history_clock(db_path: str, wall: Callable[[], datetime] = _utc_now) -> Callable[[], datetime]:
    """A clock that is never behind the history: the wall clock, or just after the newest
    recorded failure or run when that is later. For a simulated cluster whose clock runs ahead
    of the wall clock (the demo at --speed 60): with the wall clock, its newest failures would
    lie "in the future" and be missing from every windowed answer."""

    def now() -> datetime:
        current = wall()
        try:
            with reader.open_history(db_path, timeout_s=1.0) as conn:
                row = conn.execute(
                    """SELECT greatest((SELECT max("timestamp") FROM failure_events),
                                       (SELECT max(finished_at) FROM workload_runs))"""
                ).fetchone()
        except (reader.NoHistory, StoreError, duckdb.Error):
            return current
        newest = row[0] if row else None
        if newest is None or newest < current:
            return current
        return newest.astimezone(UTC) + timedelta(seconds=1)

    return now


@dataclass(frozen=True)
class ApiSettings:
    db_path: str = DEFAULT_DB_PATH
    prometheus_url: str | None = None
    llm: LLMSettings = field(default_factory=LLMSettings)
    api_token: str | None = field(default=None, repr=False)
    max_body_bytes: int = MAX_BODY_BYTES
    max_answers: int = MAX_ANSWERS
    # Host names served besides loopback names, IP literals and bind_host (AGENT_ALLOWED_HOSTS,
    # comma-separated; "*" turns the check off, ".example.com" allows its subdomains).
    allowed_hosts: tuple[str, ...] = ()
    bind_host: str | None = None  # `serve --host`
    notify: NotifySettings = field(default_factory=NotifySettings)  # Alertmanager -> chat
    clock: Callable[[], datetime] = _utc_now  # injected in tests so answers are reproducible

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "db_path": env.get("RUNAI_FAILURE_DB_PATH", "").strip() or DEFAULT_DB_PATH,
            "prometheus_url": env.get("PROMETHEUS_URL", "").strip() or None,
            "llm": LLMSettings.from_env(env),
            "api_token": env.get("AGENT_API_TOKEN", "").strip() or None,
            "notify": NotifySettings.from_env(env),
            "allowed_hosts": tuple(
                h.strip() for h in env.get("AGENT_ALLOWED_HOSTS", "").split(",") if h.strip()
            ),
        }
        if env.get("AGENT_MAX_ANSWERS", "").strip():
            values["max_answers"] = bounded_int("AGENT_MAX_ANSWERS", env["AGENT_MAX_ANSWERS"])
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        sources.check(values["db_path"])  # a glob matching nothing: refused at start
        token = values["api_token"]
        if token and not redaction.is_redactable(token):
            # A short token is guessable, and redacting it from answers would mangle them.
            raise ConfigError(
                f"AGENT_API_TOKEN must have at least {redaction.MIN_SECRET_CHARS} characters "
                f"(got {len(token)}); e.g. `openssl rand -hex 16`"
            )
        return cls(**values)

    def context(self) -> ToolContext:
        return ToolContext(db_path=self.db_path, prometheus_url=self.prometheus_url,
                           now=self.clock())  # fmt: skip

    def secrets(self) -> tuple[str, ...]:
        return (
            *self.llm.secrets(),
            *((self.api_token,) if self.api_token else ()),
            *self.notify.secrets(),
        )


class ApiError(Exception):
    """A client mistake: becomes `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


INTERNAL_ERROR = "internal error while answering; see the agent's log"


class CatchAllMiddleware:
    """A bug, not a bad request: one log record with the traceback, one JSON line to the client.

    It sits inside Starlette's own error middleware and does not re-raise, so the server keeps
    the connection and never prints a second traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method", ""), scope.get("path", ""))
            if scope["type"] == "http" and not started:
                await error_response(500, INTERNAL_ERROR)(scope, receive, send)


_HTTP_MESSAGES = {
    404: "no such endpoint: {path}",
    405: "method {method} not allowed on {path}",
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    template = _HTTP_MESSAGES.get(exc.status_code)
    message = (
        template.format(path=request.url.path, method=request.method)
        if template
        else str(exc.detail)
    )
    return error_response(exc.status_code, message, exc.headers)


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past `limit` bytes (chunked bodies are counted too)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"request body larger than {limit} bytes")
    if not body:
        raise ApiError(400, "empty body; send a JSON object")
    if json_depth(body) > MAX_JSON_DEPTH:
        raise ApiError(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    return value


def json_depth(body: bytes | bytearray) -> int:
    """The deepest nesting of [ and { outside strings, found before json.loads recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # "
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


class GuardMiddleware:
    """Bearer-token auth (when a token is set) and an early 413 on a declared oversize body."""

    def __init__(self, app: ASGIApp, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        if self.token and scope["path"] not in OPEN_PATHS and not self._authorised(headers):
            response = error_response(
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <AGENT_API_TOKEN>'",
                {"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        declared = headers.get("content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            response = error_response(413, f"request body larger than {self.max_body_bytes} bytes")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, headers: Mapping[str, bytes]) -> bool:
        scheme, _, value = headers.get("authorization", b"").partition(b" ")
        assert self.token is not None
        return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self.token)


async def paced(events: AsyncIterator[str], what: str) -> AsyncIterator[str]:
    """Stream `events`, giving the loop a turn after each one, and log a client that leaves
    once, at debug. Without the turn a burst of events went out in one loop iteration: after
    the first write to a vanished client failed, each further write logged asyncio's
    `socket.send() raised exception.` (about ten warnings per disconnect)."""
    try:
        async for event in events:
            yield event
            await asyncio.sleep(0)
    except (asyncio.CancelledError, OSError):
        log.debug("the client left the %s stream before its end", what)
        raise


class _LostConnectionWrites(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "socket.send() raised exception."


def quiet_lost_connection_writes() -> None:
    """asyncio warns for every write to a connection already lost; a client leaving a stream is
    normal and logged once by paced(), so those warnings are dropped."""
    logging.getLogger("asyncio").addFilter(_LostConnectionWrites())


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    return {
        "markdown": answer.markdown,
        "mode": answer.mode,
        "note": answer.note,
        "tool_calls": [
            {"name": c.name, "arguments": dict(c.arguments), **c.result.to_dict()}
            for c in answer.tool_calls
        ],
        "chart": dict(answer.chart) if answer.chart else None,
    }


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Belt and braces: no configured secret (as a whole token) nor anything shaped like a
    well-known key survives into anything shown to a person (common.redaction)."""
    return redaction.redact(text, secrets)


def parse_chat_body(body: Mapping[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """`{"question": str}` or `{"messages": [{"role", "content"}, ...]}` ending with the user."""
    if "question" in body:
        question = body["question"]
        if not isinstance(question, str):
            raise ApiError(400, "'question' must be a string")
        return check_question(question), []
    if "messages" in body:
        return split_messages(body["messages"])
    raise ApiError(400, "missing 'question' (or 'messages'): send {\"question\": \"...\"}")


def split_messages(messages: Any) -> tuple[str, list[dict[str, str]]]:
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list")
    turns: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ApiError(400, f"messages[{i}] must be an object")
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise ApiError(400, f"messages[{i}].role must be user, assistant or system")
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string")
        if role != "system":  # the agent's own system prompt stays in charge
            turns.append({"role": role, "content": content})
    if not turns or turns[-1]["role"] != "user":
        raise ApiError(400, "the last message must come from the user")
    return check_question(turns[-1]["content"]), turns[:-1][-10:]


def check_question(question: str) -> str:
    question = question.strip()
    if not question:
        raise ApiError(400, "the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(400, f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return question
