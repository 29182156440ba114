"""`/mcp` on the agent's API port: MCP's streamable HTTP transport inside the API app.

The endpoint sits behind the API's own middleware (Host allow-list, bearer token, body limits,
JSON only), so it needs the same AGENT_API_TOKEN as every other API call. It runs stateless with
JSON responses: each POST is one self-contained exchange, so no session outlives a request and
a restarted agent owes no client a session.

The SDK's session manager needs a task group that lives as long as the server. The agent's
servers run with uvicorn's lifespan off (two servers on one loop), so the task group is started
on the first request, in a task of the serving loop, and lives until that loop ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from agent.api.edges import error_response

log = logging.getLogger(__name__)


class McpEndpoint:
    """An ASGI app serving MCP at the path it is mounted on."""

    def __init__(self, server: Server[Any], max_body_bytes: int) -> None:
        self.manager = StreamableHTTPSessionManager(
            app=server,
            json_response=True,
            stateless=True,
            # The API's HostAllowList already refuses rebinding Host names; the SDK's own
            # check would refuse every name but loopback, including the Service's.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=max_body_bytes,
        )
        self._running: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._ensure_running()
        if self._task is None or self._task.done():
            response = error_response(503, "the MCP endpoint could not start; see the agent's log")
            await response(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)

    async def _ensure_running(self) -> None:
        if self._running is None:
            self._running = asyncio.Event()
            self._task = asyncio.ensure_future(self._run(self._running))
        await self._running.wait()

    async def _run(self, running: asyncio.Event) -> None:
        try:
            async with self.manager.run():
                running.set()
                await asyncio.Event().wait()  # until the serving loop cancels this task
        except Exception:
            log.exception("the MCP session manager stopped")
        finally:
            running.set()  # waiting requests get the 503 instead of hanging
