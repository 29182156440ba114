"""The agent's HTTP API (:8000): chat (JSON or server-sent events), statistics, recent failures,
failures per day for the chart, health, and an OpenAI-compatible facade.

Handlers are thin: they validate the request at the edge, build a ToolContext and call
respond() or one tool. Answering runs in a worker thread (DuckDB and the openai client are
synchronous); for streams its tool calls are forwarded as events while it works.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent import telemetry
from agent.alerts.delivery import Notifier
from agent.alerts.payload import PayloadError
from agent.alerts.receiver import receive
from agent.api import openai_compat
from agent.api.chart import failures_per_day
from agent.api.edges import (
    ApiError,
    ApiSettings,
    CatchAllMiddleware,
    answer_to_dict,
    api_error_handler,
    http_error_handler,
    paced,
    parse_chat_body,
    read_json_object,
    redact,
    sse,
)
from agent.api.guards import AnswerPool, guarded
from agent.mcp.http import McpEndpoint
from agent.mcp.tools import build_server
from agent.respond import respond
from agent.time_windows import Window
from agent.tools.catalog import find_tool, validate_arguments, window_from_args
from agent.types import Answer, ToolResult
from common.asgi import AsgiEndpoint
from history import categories

log = logging.getLogger(__name__)

DELTA_LINES = 4  # lines per streamed `delta` event
CHART_DEFAULT_WINDOW = "last 14 days"


def create_api_app(settings: ApiSettings) -> Starlette:
    api = _Api(settings)
    mcp = McpEndpoint(build_server(settings.context, settings.secrets), settings.max_body_bytes)
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/api/chat", api.chat, methods=["POST"]),
        Route("/api/stats", api.stats, methods=["GET"]),
        Route("/api/failures", api.failures, methods=["GET"]),
        Route("/api/failures-per-day", api.per_day, methods=["GET"]),
        Route("/api/categories", api.categories, methods=["GET"]),
        Route("/api/alertmanager", api.alertmanager, methods=["POST"]),
        Route("/v1/models", openai_compat.models, methods=["GET"]),
        Route("/v1/chat/completions", api.completions, methods=["POST"]),
        Route("/metrics", AsgiEndpoint(telemetry.metrics_app()), methods=["GET"]),
        # The agent's tools over MCP (streamable HTTP), behind the same guards and token.
        Route("/mcp", mcp),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(CatchAllMiddleware), *guarded(settings, api.pool)],
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error_handler},
    )


class _Api:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.pool = AnswerPool(settings.max_answers)
        self.notifier = Notifier(settings.notify, lambda text: redact(text, settings.secrets()))

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "llm": self.settings.llm.describe()})

    async def readyz(self, request: Request) -> Response:
        """503 while the pool of answers is full: new questions would get a 429."""
        state = self.pool.describe()
        return JSONResponse(state, status_code=503 if self.pool.saturated else 200)

    async def chat(self, request: Request) -> Response:
        body = await read_json_object(request, self.settings.max_body_bytes)
        question, history = parse_chat_body(body)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise ApiError(400, "'stream' must be true or false")
        if stream:
            return StreamingResponse(
                paced(self._events(question, history), "/api/chat"),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        answer = await self.answer(question, history)
        return JSONResponse(self._public(answer_to_dict(answer)))

    async def completions(self, request: Request) -> Response:
        body = await read_json_object(request, self.settings.max_body_bytes)
        question, history, stream = openai_compat.parse_request(body)
        if stream:
            return StreamingResponse(
                paced(
                    openai_compat.stream_chunks(
                        self.answer(question, history), self.settings.secrets()
                    ),
                    "/v1/chat/completions",
                ),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        answer = await self.answer(question, history)
        return JSONResponse(openai_compat.completion(answer, self.settings.secrets()))

    async def alertmanager(self, request: Request) -> Response:
        """Alertmanager's webhook (payload version 4): analyse the group, notify, report."""
        body = await read_json_object(request, self.settings.max_body_bytes)
        ctx = self.settings.context()
        try:
            report = await run_in_threadpool(receive, body, ctx, self.notifier)
        except PayloadError as exc:
            raise ApiError(400, f"not an Alertmanager webhook message: {exc}") from None
        return JSONResponse(self._public(report))

    async def categories(self, request: Request) -> Response:
        """What the product knows about each root-cause category (history.categories)."""
        return JSONResponse({"categories": [c.to_dict() for c in categories.TABLE]})

    async def stats(self, request: Request) -> Response:
        args = self._query_args(
            request,
            "failure_statistics",
            {"window", "group_by", "top", "project", "workload_type", "category", "node", "image"},
        )
        return await self._tool(request, "failure_statistics", args)

    async def failures(self, request: Request) -> Response:
        args = self._query_args(
            request,
            "list_failures",
            {
                "window",
                "limit",
                "project",
                "workload_type",
                "category",
                "node",
                "image",
                "workload_name",
            },
        )
        return await self._tool(request, "list_failures", args)

    async def per_day(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"window"})
        if unknown:
            raise ApiError(400, f"unknown query parameter(s): {', '.join(unknown)}")
        window = self._window(request.query_params.get("window") or CHART_DEFAULT_WINDOW)
        ctx = self.settings.context()
        result = await run_in_threadpool(failures_per_day, ctx, window)
        return self._result(result)

    async def answer(self, question: str, history: Sequence[Mapping[str, str]]) -> Answer:
        ctx = self.settings.context()
        return await run_in_threadpool(respond, question, ctx, self.settings.llm, history=history)

    async def _events(
        self, question: str, history: Sequence[Mapping[str, str]]
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def on_event(kind: str, payload: Mapping[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, dict(payload)))

        def work() -> None:
            try:
                ctx = self.settings.context()
                answer = respond(question, ctx, self.settings.llm, history=history,
                                 on_event=on_event)  # fmt: skip
            except Exception:  # the loop boundary: one log line, a clear event, no traceback out
                log.exception("answering %r failed", question[:80])
                loop.call_soon_threadsafe(queue.put_nowait, ("error", None))
                return
            loop.call_soon_threadsafe(queue.put_nowait, ("answer", answer))

        worker = asyncio.ensure_future(run_in_threadpool(work))
        try:
            while True:
                kind, payload = await queue.get()
                if kind == "error":
                    yield sse("error", {"error": "the agent failed to answer; see its log"})
                    break
                if kind == "answer":
                    public = self._public(answer_to_dict(payload))
                    lines = public["markdown"].splitlines(keepends=True)
                    for i in range(0, len(lines), DELTA_LINES):
                        yield sse("delta", {"text": "".join(lines[i : i + DELTA_LINES])})
                    yield sse("answer", public)
                    break
                yield sse(kind, self._public(payload))
            yield sse("done", {})
        finally:
            await worker

    def _query_args(self, request: Request, tool: str, allowed: set[str]) -> dict[str, Any]:
        params = request.query_params
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ApiError(400, f"unknown query parameter(s): {', '.join(unknown)}; "
                                f"allowed: {', '.join(sorted(allowed))}")  # fmt: skip
        spec = find_tool(tool)
        assert spec is not None
        properties = spec.parameters.get("properties", {})
        args: dict[str, Any] = {}
        for name, raw in params.items():
            if properties.get(name, {}).get("type") == "integer":
                try:
                    args[name] = int(raw)
                except ValueError:
                    raise ApiError(400, f"'{name}' must be an integer, got {raw!r}") from None
            elif raw != "":
                args[name] = raw
        problem = validate_arguments(spec.parameters, args)
        if problem:
            raise ApiError(400, problem)
        if "window" in args:
            self._window(args["window"])
        return args

    def _window(self, phrase: str) -> Window:
        try:
            return window_from_args({"window": phrase}, self.settings.clock())
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None

    async def _tool(self, request: Request, name: str, args: dict[str, Any]) -> Response:
        spec = find_tool(name)
        assert spec is not None
        result = await run_in_threadpool(spec.run, self.settings.context(), args)
        return self._result(result)

    def _result(self, result: ToolResult) -> Response:
        # no_data is an answer, not a failure; an error reading the history is the server's
        # problem for now (503: locked or unreadable file), never a bare 500.
        status = 503 if result.status == "error" else 200
        return JSONResponse(self._public(result.to_dict()), status_code=status)

    def _public(self, value: Any) -> Any:
        secrets = self.settings.secrets()
        if isinstance(value, str):
            return redact(value, secrets)
        if isinstance(value, dict):
            return {k: self._public(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._public(v) for v in value]
        return value
