"""A scripted OpenAI-compatible server over real HTTP, for the agent's LLM loop.

Each test gives the server a script: one entry per /v1/chat/completions request, in order. An
entry is a final answer, tool calls (arguments given as raw strings so they can be malformed),
an HTTP error with headers (429 + Retry-After), or a delay past the client's timeout. The server
records every request body it received, so tests can assert on what left the agent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Step:
    """One scripted response."""

    content: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, raw JSON arguments)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def model_text(markdown: str) -> str:
    """An LLM answer without the line of how the question was read, which opens every answer."""
    head, _, rest = markdown.partition("\n\n")
    assert head.startswith("_Understood:"), markdown
    return rest


def answer(text: str) -> Step:
    return Step(content=text)


def call(name: str, arguments: Any) -> Step:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Step(tool_calls=[(name, raw)])


def error(status: int, retry_after: str | None = None) -> Step:
    return Step(status=status, headers={"Retry-After": retry_after} if retry_after else {})


def slow(delay_s: float, text: str = "too late") -> Step:
    return Step(content=text, delay_s=delay_s)


class ScriptedLLM:
    """The server's state: the script still to play and the requests seen so far."""

    def __init__(self) -> None:
        self.script: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.base_url = ""

    def play(self, *steps: Step) -> None:
        self.script = list(steps)
        self.requests.clear()
        self.headers.clear()

    def sent_text(self) -> str:
        """Everything the agent sent, as one string, for "never sent X" assertions."""
        return json.dumps(self.requests) + json.dumps(self.headers)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models),
            ]
        )

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self.script:
            return JSONResponse({"error": {"message": "script exhausted"}}, status_code=500)
        step = self.script.pop(0)
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        if step.status != 200:
            return JSONResponse(
                {"error": {"message": f"scripted {step.status}", "type": "scripted"}},
                status_code=step.status,
                headers=step.headers,
            )
        message: dict[str, Any] = {"role": "assistant", "content": step.content}
        if step.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in enumerate(step.tool_calls)
            ]
        if body.get("stream"):  # the agent's loop never streams: the number check needs it whole
            return JSONResponse({"error": {"message": "streaming not scripted"}}, status_code=400)
        return JSONResponse(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if step.tool_calls else "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """A uvicorn server on a free loopback port, in a thread; stopped on exit."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def _scripted_llm_server() -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM()
    with ServerThread(llm.app()) as server:
        llm.base_url = f"{server.url}/v1"
        yield llm


@pytest.fixture
def scripted_llm(_scripted_llm_server: ScriptedLLM) -> Iterator[ScriptedLLM]:
    """The scripted server with an empty script; each test calls .play(...) first."""
    _scripted_llm_server.play()
    yield _scripted_llm_server
    _scripted_llm_server.play()
