"""The chat UI (:3000): three static files written here, served next to the API.

Design: the UI app serves index.html, app.js and app.css itself and mounts the very same API
app for every other path, so the page talks to its own origin (http://host:3000/api/chat)
with no proxy hop and no CORS. Nothing is loaded from elsewhere: no CDN, no web fonts, and a
Content-Security-Policy that only allows this origin, so a stored log that carries `<script>`
cannot run even if a bug let it reach the DOM as HTML.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_DIR = Path(__file__).resolve().parent
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _file(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return FileResponse(WEB_DIR / name, media_type=f"{media_type}; charset=utf-8")

    return endpoint


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_ui_app(api_app: ASGIApp) -> ASGIApp:
    """The page and its two assets; every other path goes to `api_app` (same origin)."""
    routes: list[Route | Mount] = [Route("/", _file("index.html", "text/html"), methods=["GET"])]
    routes += [
        Route(f"/{name}", _file(name, media_type), methods=["GET"])
        for name, media_type in STATIC_FILES.items()
    ]
    routes.append(Mount("", app=api_app))
    return _SecurityHeaders(Starlette(routes=routes))
