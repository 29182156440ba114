"""The agent as an OpenAI-compatible model, so existing chat front ends can use it.

`POST /v1/chat/completions` takes the usual messages (the last one from the user is the
question, earlier user/assistant turns are context) and answers as model MODEL_ID, streamed
as `chat.completion.chunk` events or in one `chat.completion`. Tool calls run inside the agent,
so the answer carries its evidence as markdown rather than as tool_calls for the client.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.api.edges import ApiError, redact, split_messages
from agent.types import Answer

log = logging.getLogger(__name__)

MODEL_ID = "runai-failure-analysis"
CHUNK_CHARS = 400


async def models(request: Request) -> Response:
    return JSONResponse(
        {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": MODEL_ID}],
        }
    )


def parse_request(body: Mapping[str, Any]) -> tuple[str, list[dict[str, str]], bool]:
    model = body.get("model", MODEL_ID)
    if model != MODEL_ID:
        raise ApiError(404, f"unknown model {model!r}; this server offers {MODEL_ID!r}")
    if "messages" not in body:
        raise ApiError(400, "missing 'messages'")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false")
    question, history = split_messages(body["messages"])
    return question, history, stream


def content(answer: Answer) -> str:
    note = f"\n\n_{answer.note}_" if answer.note else ""
    return answer.markdown + note


def completion(answer: Answer, secrets: tuple[str, ...]) -> dict[str, Any]:
    text = redact(content(answer), secrets)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


async def stream_chunks(pending: Awaitable[Answer], secrets: tuple[str, ...]) -> AsyncIterator[str]:
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        text = redact(content(await pending), secrets)
    except Exception:  # headers are sent already: say so in the stream, log the traceback
        log.exception("streamed completion failed")
        text = "The agent failed to answer; see its log."
    for i in range(0, len(text), CHUNK_CHARS):
        yield chunk({"content": text[i : i + CHUNK_CHARS]})
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
