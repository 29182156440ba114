"""One HTTP call with bounded retries, shared by the Run:ai and Kubernetes clients.

Retried: timeouts and connection errors, 429 (Retry-After honoured, capped), 5xx, and a 2xx whose
body is not the JSON that was asked for. Everything else (2xx, 3xx, 4xx) goes back to the caller,
which knows what a 401 or 404 means there. Every attempt is reported to an observer as
(endpoint template, code) so the api-requests metric sees faults that a retry later hid.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from common.errors import UpstreamError
from exporter.gate import Gate

Observer = Callable[[str, str], None]  # (endpoint template, code) per attempt


def ignore(endpoint: str, code: str) -> None:
    """An observer that records nothing."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, the first included
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    retry_after_cap_s: float = 30.0  # a server asking for longer does not stall the cycle
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    data: Any  # parsed JSON body when JSON was expected (None for a non-JSON error body)
    text: str  # body text when JSON was not expected (logs); else ""
    headers: httpx.Headers


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """Exponential backoff with jitter in [50 %, 100 %] of the step; attempt counts from 0."""
    step = min(policy.max_delay_s, policy.base_delay_s * (2**attempt))
    return step * (0.5 + random.random() / 2)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    endpoint: str,
    error: type[UpstreamError],
    policy: RetryPolicy,
    observe: Observer = ignore,
    expect_json: bool = True,
    deadline: float | None = None,  # time.monotonic() after which no new attempt starts
    sleep: Callable[[float], None] = time.sleep,
    gate: Gate | None = None,  # the API's cap on requests in flight (exporter.gate)
    **kwargs: Any,
) -> Reply:
    """Send with retries; raise `error` (one line, naming the endpoint) once they run out."""
    last = "no attempt made"
    for attempt in range(policy.attempts):
        delay: float | None = None
        try:
            response = _request(client, method, url, policy, gate, kwargs)
        except httpx.TimeoutException:
            observe(endpoint, "timeout")
            last = f"timed out after {policy.timeout_s:g}s"
        except httpx.TransportError as exc:
            observe(endpoint, "error")
            last = _transport_failure(exc)
        else:
            status = response.status_code
            if status == 429 or status >= 500:
                observe(endpoint, str(status))
                last = f"HTTP {status}"
                if status == 429 or status == 503:
                    wait = retry_after_s(response.headers.get("retry-after"))
                    if wait is not None:
                        delay = min(wait, policy.retry_after_cap_s)
            elif expect_json and 200 <= status < 300:
                try:
                    data = response.json()
                except ValueError:
                    observe(endpoint, "invalid_json")
                    last = f"HTTP {status} with a body that is not JSON"
                else:
                    observe(endpoint, str(status))
                    return Reply(status, data, "", response.headers)
            else:
                observe(endpoint, str(status))
                if not expect_json:
                    return Reply(status, None, response.text, response.headers)
                return Reply(status, _json_or_none(response), "", response.headers)
        if attempt + 1 >= policy.attempts:
            break
        wait_s = backoff_delay(policy, attempt) if delay is None else delay
        if deadline is not None and time.monotonic() + wait_s > deadline:
            last += "; time budget spent"
            break
        sleep(wait_s)
    raise error(f"{method} {endpoint}: {last} after {attempt + 1} attempt(s)")


def _request(
    client: httpx.Client, method: str, url: str, policy: RetryPolicy, gate: Gate | None,
    kwargs: dict[str, Any],
) -> httpx.Response:
    """One attempt, through the gate when there is one (the retry's wait is outside it)."""
    if gate is None:
        return client.request(method, url, timeout=policy.timeout_s, **kwargs)
    with gate.slot():
        try:
            response = client.request(method, url, timeout=policy.timeout_s, **kwargs)
        except httpx.TransportError:
            gate.answered(None)
            raise
    gate.answered(response.status_code)
    return response


def _transport_failure(exc: httpx.TransportError) -> str:
    """Why a request got no answer; an untrusted certificate is said as such, since its fix
    (a CA bundle) differs from that of a network fault."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"TLS certificate verification failed ({cause.verify_message}); "
                    "a private CA needs its CA bundle configured")
        cause = cause.__cause__ or cause.__context__
    return f"connection failed ({type(exc).__name__})"
