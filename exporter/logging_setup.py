"""Log lines for people (text) or machines (JSON), with every known secret scrubbed.

The scrubber works on the final formatted line, so a secret cannot leak through an exception
message, a URL or a third-party logger either. Secrets are registered as they become known
(the client secret at start-up, each access token when it arrives).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from common.redaction import Redactor

LOGGER_NAME = "exporter"
REDACTED = "[REDACTED]"


class SecretScrubber:
    """A thread-safe set of strings that must never be written out (common.redaction: whole
    tokens of at least 8 characters, plus well-known key shapes)."""

    def __init__(self) -> None:
        self._redactor = Redactor(replacement=REDACTED)

    def add(self, secret: str | None) -> bool:
        """False when the secret is too short to redact without mangling ordinary words."""
        return self._redactor.add(secret)

    def add_token(self, token: str) -> None:
        """For the clients' on_token hook: access tokens are long, always redactable."""
        self._redactor.add(token)

    def scrub(self, text: str) -> str:
        return self._redactor.redact(text)


SCRUBBER = SecretScrubber()


class TextFormatter(logging.Formatter):
    """Plain lines as the deployment guide shows them; warnings and errors say so."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname}: {message}"
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        return SCRUBBER.scrub(message)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, plus `extra` fields."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return SCRUBBER.scrub(json.dumps(payload, default=str))


def setup_logging(
    log_format: str = "text", stream: TextIO | None = None, level: str = "info"
) -> logging.Handler:
    """Route the exporter's and libraries' logs to one handler on stdout; return the handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(LOGGER_NAME).setLevel(level.upper())
    # httpx logs every request at INFO; uvicorn logs every scrape: keep both to warnings.
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
