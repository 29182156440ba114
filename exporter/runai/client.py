"""The Run:ai control-plane API, the parts the monitor reads.

Authentication is client credentials: `POST /api/v2/token` (form-encoded, OAuth2 fields), or the
older `POST /api/v1/token` (JSON, camelCase) where v2 is absent. The token is refreshed shortly
before it expires and once more on any 401. Listings follow `next` through every page.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from common.errors import AuthError, RunaiApiError
from exporter.http_retry import Observer, Reply, RetryPolicy, ignore, send

PAGE_LIMIT = 500  # the API's maximum page size
EVENTS_LIMIT = 200  # newest events of one workload; older ones rarely decide a failure
_MAX_PAGES = 100_000


class RunaiClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client,
        policy: RetryPolicy | None = None,
        observe: Observer = ignore,
        clock: Callable[[], float] = lambda: time.time(),  # looked up per call (freezegun)
        on_token: Callable[[str], None] = lambda token: None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._policy = policy or RetryPolicy()
        self._observe = observe
        self._clock = clock
        self._on_token = on_token  # lets the log scrubber learn each token
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_version: str | None = None  # "v2" or "v1" once known
        self.token_requests = 0

    # -- authentication -------------------------------------------------------------------
    def authenticate(self) -> None:
        """Fetch a fresh token now. AuthError if the credentials are rejected."""
        with self._lock:
            self._fetch_token()

    def _bearer(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def _invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:  # another thread may have refreshed it already
                self._token = None

    def _fetch_token(self) -> None:
        self.token_requests += 1
        if self._token_version != "v1":
            reply = send(
                self._http, "POST", f"{self._base}/api/v2/token", endpoint="/api/v2/token",
                error=RunaiApiError, policy=self._policy, observe=self._observe,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
            )
            if reply.status not in (404, 405):
                self._token_version = "v2"
                self._accept_token(reply, "access_token", "expires_in")
                return
        reply = send(
            self._http, "POST", f"{self._base}/api/v1/token", endpoint="/api/v1/token",
            error=RunaiApiError, policy=self._policy, observe=self._observe,
            json={
                "grantType": "client_credentials",
                "clientID": self._client_id,
                "clientSecret": self._client_secret,
            },
        )
        self._token_version = "v1"
        self._accept_token(reply, "accessToken", "expiresIn")

    def _accept_token(self, reply: Reply, token_key: str, expiry_key: str) -> None:
        if reply.status in (400, 401, 403):
            raise AuthError(f"Run:ai rejected the credentials: {_oauth_reason(reply)}")
        data = reply.data if isinstance(reply.data, dict) else {}
        token = data.get(token_key)
        if reply.status != 200 or not isinstance(token, str) or not token:
            raise RunaiApiError(f"token endpoint answered HTTP {reply.status} without a token")
        self._on_token(token)
        lifetime = data.get(expiry_key)
        lifetime_s = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        # Refresh a little early: a tenth of the lifetime, at most a minute.
        self._token = token
        self._expires_at = self._clock() + lifetime_s - min(60.0, lifetime_s / 10)

    # -- requests -------------------------------------------------------------------------
    def _get(
        self, path: str, endpoint: str, params: Any = None, deadline: float | None = None
    ) -> Reply:
        for attempt in (1, 2):
            token = self._bearer()
            reply = send(
                self._http, "GET", f"{self._base}{path}", endpoint=endpoint,
                error=RunaiApiError, policy=self._policy, observe=self._observe,
                params=params, headers={"Authorization": f"Bearer {token}"}, deadline=deadline,
            )
            if reply.status != 401:
                break
            self._invalidate(token)  # refresh once on a 401, then give up
            if attempt == 2:
                raise RunaiApiError(f"GET {endpoint}: HTTP 401 even with a fresh token")
        if reply.status == 403:
            raise RunaiApiError(
                f"GET {endpoint}: HTTP 403: the credentials lack permission to read workloads"
            )
        if reply.status != 404 and not 200 <= reply.status < 300:
            raise RunaiApiError(f"GET {endpoint}: HTTP {reply.status}")
        if reply.status == 200 and not isinstance(reply.data, dict):
            raise RunaiApiError(f"GET {endpoint}: expected a JSON object")
        return reply

    def _pages(
        self, path: str, endpoint: str, key: str, params: list[tuple[str, str]],
        deadline: float | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        offset = 0
        for _ in range(_MAX_PAGES):
            reply = self._get(
                path, endpoint,
                [*params, ("offset", str(offset)), ("limit", str(PAGE_LIMIT))], deadline,
            )
            if reply.status == 404:
                raise RunaiApiError(f"GET {endpoint}: HTTP 404")
            items = reply.data.get(key)
            if not isinstance(items, list):
                raise RunaiApiError(f"GET {endpoint}: response has no '{key}' list")
            yield [item for item in items if isinstance(item, dict)]
            nxt = reply.data.get("next")
            if nxt is None or not items:
                return
            if not isinstance(nxt, int) or nxt <= offset:
                raise RunaiApiError(f"GET {endpoint}: paging did not advance (next={nxt!r})")
            offset = nxt
        raise RunaiApiError(f"GET {endpoint}: more than {_MAX_PAGES} pages")

    def list_workloads(
        self,
        projects: Sequence[str] = (),
        *,
        deleted: bool = False,
        deleted_since: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every workload (of the given projects, or all); one entry per id however paged.
        With deleted=True, the deleted ones instead (since an ISO instant, when given)."""
        seen: dict[str, dict[str, Any]] = {}
        extra: list[tuple[str, str]] = []
        if deleted:
            extra.append(("deleted", "true"))
            if deleted_since:
                extra.append(("filterBy", f"deletedAt>={deleted_since}"))
        filters = [[("filterBy", f"projectName=={p}"), *extra] for p in projects] or [extra]
        with _gc_paused():
            for params in filters:
                for page in self._pages(
                    "/api/v1/workloads", "/api/v1/workloads", "workloads", params
                ):
                    for workload in page:
                        wid = workload.get("id")
                        if isinstance(wid, str) and wid not in seen:
                            seen[wid] = workload
        return list(seen.values())

    def history(self, workload_id: str) -> list[dict[str, Any]]:
        """The workload's timeline (phase updates and events), oldest first; [] if it is gone."""
        records: list[dict[str, Any]] = []
        try:
            for page in self._pages(
                f"/api/v1/workloads/{workload_id}/history", "/api/v1/workloads/{id}/history",
                "records", [],
            ):
                records.extend(page)
        except RunaiApiError as exc:
            if "HTTP 404" in str(exc) and not records:
                return []
            raise
        return records

    def workload(self, workload_id: str, deadline: float | None = None) -> dict[str, Any] | None:
        """The detailed workload (with pendingSchedulingMessages); None if it is gone."""
        reply = self._get(
            f"/api/v1/workloads/{workload_id}", "/api/v1/workloads/{id}", deadline=deadline
        )
        return None if reply.status == 404 else dict(reply.data)

    def events(self, workload_id: str, deadline: float | None = None) -> list[dict[str, Any]]:
        """The workload's newest events (Kubernetes drops them within the hour)."""
        reply = self._get(
            f"/api/v1/workloads/{workload_id}/events", "/api/v1/workloads/{id}/events",
            [("limit", str(EVENTS_LIMIT))], deadline,
        )
        if reply.status == 404:
            return []
        items = reply.data.get("events")
        return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []

    def pods(self, workload_id: str, deadline: float | None = None) -> list[dict[str, Any]]:
        """The workload's pods: node and pod names live only here. When none is current, the
        deleted ones (`deleted=true` returns only those) still name the node it ran on."""
        for extra in ([], [("deleted", "true")]):
            reply = self._get(
                f"/api/v1/workloads/{workload_id}/pods", "/api/v1/workloads/{id}/pods",
                [("limit", str(PAGE_LIMIT)), *extra], deadline,
            )
            items = reply.data.get("pods") if reply.status == 200 else None
            if isinstance(items, list) and items:
                return [p for p in items if isinstance(p, dict)]
            if reply.status == 404:
                break
        return []

    def all_pods(self, *, deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every current pod (or, with deleted=True, every deleted one) across workloads, paged:
        the cheap node lookup when many runs are new at once."""
        params = [("deleted", "true")] if deleted else []
        for page in self._pages(
            "/api/v1/workloads/pods", "/api/v1/workloads/pods", "pods", params
        ):
            yield from page


def _oauth_reason(reply: Reply) -> str:
    data = reply.data if isinstance(reply.data, dict) else {}
    code = data.get("error") or data.get("code") or f"HTTP {reply.status}"
    text = data.get("error_description") or data.get("message") or ""
    reason = f"{code}: {text}" if text else str(code)
    return reason[:200]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a listing is decoded.

    A listing builds tens of thousands of dicts that all live until the cycle ends, so each
    collection the allocations trigger rescans a growing heap and frees nothing: at 50,000
    workloads that was half the listing's CPU time. Reference counting still frees as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
