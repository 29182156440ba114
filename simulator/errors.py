"""Request errors the route modules raise; the guard turns them into each API's error body."""

from __future__ import annotations


class ApiError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError, ValueError):
    """The request is malformed; the message goes into the 400 body."""

    status = 400


class NotFound(ApiError):
    status = 404
