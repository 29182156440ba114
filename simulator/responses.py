"""Response helpers: raw JSON bytes, and the error bodies of each API."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

JSON = "application/json"


def raw_json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def json_response(value: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return raw_json(body, status, headers)


def runai_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The Run:ai `Error` schema: {code, message}."""
    return json_response({"code": status, "message": message}, status, headers)


def oauth_error(status: int, error: str, description: str) -> Response:
    """The `OAuth2Error` schema of /api/v2/token."""
    return json_response({"error": error, "error_description": description}, status)


_K8S_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


def k8s_status(status: int, message: str, details: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Response:
    """A Kubernetes `Status` object, as the API server sends with every error."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message,
                            "reason": _K8S_REASONS.get(status, "InternalError"), "code": status}
    if details:
        body["details"] = details
    return json_response(body, status, headers)


def page_body(key: str, items: list[bytes], next_offset: int | None) -> bytes:
    """`{"<key>": [...], "next": n}` from pre-serialised items."""
    out = b'{"' + key.encode() + b'":[' + b",".join(items) + b"]"
    if next_offset is not None:
        out += b',"next":' + str(next_offset).encode()
    return out + b"}"
