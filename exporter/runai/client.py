"""The Run:ai control-plane API, the parts the monitor reads.

Authentication is client credentials, in whichever form the control plane takes: the OAuth2
form at `POST /api/v2/token` (2.24+), JSON `client_credentials` at `POST /api/v1/token`
(2.20+), or JSON `app_token` (2.18, 2.19; an application's credentials on every version);
the kind of credentials configured decides the order (exporter/runai/versions.py). The form
that works is kept for every refresh; the token is refreshed shortly before it expires and once more
on any 401. Query parameters and filters are only ever those the control plane's version
lists; `filterBy` is one parameter with the filters comma-joined (the spec's explode: false).
Listings follow `next` through every page and stop where it is absent, null or empty.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import Any

import httpx

from common.errors import AuthError, ConfigError, RunaiApiError
from exporter.config import DEFAULT_RUNAI_MAX_IN_FLIGHT
from exporter.gate import Gate
from exporter.http_retry import Observer, Reply, RetryPolicy, ignore, send
from exporter.model import Workload
from exporter.runai import versions as v
from exporter.runai.versions import ControlPlane, TokenForm, control_plane_of, forms_for

PAGE_LIMIT = 500  # the API's maximum page size
EVENTS_LIMIT = 200  # newest events of one workload; older ones rarely decide a failure
_MAX_PAGES = 100_000
# A token endpoint answering these to one form does not take that form: try the next one.
_NOT_THIS_FORM = (400, 404, 405, 415, 422)
_CLIENT_REJECTED = ("invalid_client", "invalid_grant", "unauthorized_client")

log = logging.getLogger("exporter.runai")


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
        api_version: str | None = None,  # RUNAI_API_VERSION: wins over what is detected
        cluster_id: str | None = None,  # RUNAI_CLUSTER_ID; None: discovered when unambiguous
        application: bool = False,  # RUNAI_APP_ID/RUNAI_APP_SECRET: an application's
        gate: Gate | None = None,  # the cap on requests in flight (exporter.gate)
    ) -> None:
        self.gate = gate or Gate(DEFAULT_RUNAI_MAX_IN_FLIGHT)
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
        self._form: TokenForm | None = None  # the token form that worked, once known
        self._api_version = api_version
        self._application = application
        self.control_plane = (
            ControlPlane.exactly(api_version, "RUNAI_API_VERSION") if api_version
            else ControlPlane()
        )
        self._configured_cluster = cluster_id
        self.cluster_id: str | None = cluster_id  # the listing's scope, once settled
        self.cluster_note = "not yet checked"  # how the scope was settled, for the banner
        self._scope_settled = False
        self.token_requests = 0

    # -- authentication -------------------------------------------------------------------
    @property
    def token_form(self) -> str | None:
        """The token form that worked (for the banner); None before the first token."""
        return self._form.name if self._form else None

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
        if self._form is not None:
            # Refresh with the form that worked; negotiate again only if the control plane
            # stopped taking it (an upgrade between two refreshes).
            reply = self._post_token(self._form)
            if not _not_this_form(reply):
                self._accept_token(self._form, reply)
                return
            self._form = None
        tried: list[str] = []
        for form in self._forms_to_try():
            reply = self._post_token(form)
            if _not_this_form(reply):
                tried.append(f"{form.name}: {_reason(reply)}")
                continue
            self._accept_token(form, reply)
            self._form = form
            if not self._api_version:
                self.control_plane = control_plane_of(form, application=self._application)
            return
        raise AuthError(
            "Run:ai took none of the token forms (" + "; ".join(tried) + "): check "
            f"RUNAI_BASE_URL and that {self._credential_names('/')} belong to a service "
            "account or application of this control plane"
        )

    def _credential_names(self, joint: str) -> str:
        """The variables the credentials came from, for an error message."""
        if self._application:
            return f"RUNAI_APP_ID{joint}RUNAI_APP_SECRET"
        return f"RUNAI_CLIENT_ID{joint}RUNAI_CLIENT_SECRET"

    def _forms_to_try(self) -> list[TokenForm]:
        """Every form, in the order the kind of credentials says (versions.forms_for); with
        RUNAI_API_VERSION the one of that version first, so a known version needs no refused
        try (2.18/2.19 would otherwise answer 400 once to a service account's form)."""
        forms = forms_for(application=self._application)
        if not self._api_version or self._application:
            return list(forms)
        fits = [f for f in forms if control_plane_of(f).covers(self.control_plane)]
        return fits + [f for f in forms if f not in fits]

    def _post_token(self, form: TokenForm) -> Reply:
        self.token_requests += 1
        body = {"grant_type" if form.form_encoded else "grantType": form.grant,
                form.id_field: self._client_id, form.secret_field: self._client_secret}
        payload: dict[str, Any] = {"data": body} if form.form_encoded else {"json": body}
        return send(
            self._http, "POST", f"{self._base}{form.path}", endpoint=form.path,
            error=RunaiApiError, policy=self._policy, observe=self._observe, gate=self.gate,
            **payload,
        )

    def _accept_token(self, form: TokenForm, reply: Reply) -> None:
        if reply.status in (400, 401, 403):
            raise AuthError(
                f"Run:ai rejected the credentials ({form.name}): {_reason(reply)}; check "
                f"{self._credential_names(' and ')}"
            )
        data = reply.data if isinstance(reply.data, dict) else {}
        token = data.get(form.token_field)
        if reply.status != 200 or not isinstance(token, str) or not token:
            raise RunaiApiError(
                f"POST {form.path} answered HTTP {reply.status} without a token"
            )
        self._on_token(token)
        lifetime = data.get(form.expiry_field)  # absent before 2.24 on v1: assume an hour
        lifetime_s = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 \
            else 3600.0
        # Refresh a little early: a tenth of the lifetime, at most a minute.
        self._token = token
        self._expires_at = self._clock() + lifetime_s - min(60.0, lifetime_s / 10)

    # -- requests -------------------------------------------------------------------------
    def _get(
        self, path: str, endpoint: str, params: Any = None, deadline: float | None = None,
        want: type = dict,  # the JSON a 200 must carry (GET /api/v1/clusters: a list)
    ) -> Reply:
        for attempt in (1, 2):
            token = self._bearer()
            reply = send(
                self._http, "GET", f"{self._base}{path}", endpoint=endpoint,
                error=RunaiApiError, policy=self._policy, observe=self._observe,
                params=params, headers={"Authorization": f"Bearer {token}"}, deadline=deadline,
                gate=self.gate,
            )
            if reply.status != 401:
                break
            self._invalidate(token)  # refresh once on a 401, then give up
            if attempt == 2:
                raise RunaiApiError(f"GET {endpoint}: HTTP 401 even with a fresh token")
        if reply.status == 403:
            raise RunaiApiError(
                f"GET {endpoint}: HTTP 403: the credentials lack the permission to read it"
            )
        if reply.status != 404 and not 200 <= reply.status < 300:
            raise RunaiApiError(f"GET {endpoint}: {_reason(reply)}")
        if reply.status == 200 and not isinstance(reply.data, want):
            raise RunaiApiError(f"GET {endpoint}: expected a JSON {want.__name__}")
        return reply

    def _query(
        self, path: str, params: Sequence[tuple[str, str]] = (), filters: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        """The query for `path`, with only what the control plane's version takes: a parameter
        or filter field it does not list is left out (logged once), never sent for a 400."""
        allowed = self.control_plane.params(path)
        query = [(name, value) for name, value in params if name in allowed]
        dropped = [name for name, _ in params if name not in allowed]
        fields = self.control_plane.filter_fields(path)
        kept = [f for f in filters if v.filter_field(f) in fields]
        dropped += [f"filterBy {v.filter_field(f)}" for f in filters if f not in kept]
        if kept and "filterBy" in allowed:
            query.append(("filterBy", ",".join(kept)))  # explode: false, never repeated
        if dropped:
            _log_once(f"control plane {self.control_plane.label()} does not take "
                      f"{', '.join(dropped)} on GET {path}: not sent")
        return query

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
            nxt = _next_offset(reply.data.get("next"))
            if nxt is None or not items:  # absent, null, empty or 0: the last page
                return
            if nxt <= offset:
                raise RunaiApiError(f"GET {endpoint}: paging did not advance (next={nxt!r})")
            offset = nxt
        raise RunaiApiError(f"GET {endpoint}: more than {_MAX_PAGES} pages")

    # -- the cluster this sidecar watches -----------------------------------------------------
    def clusters(self) -> list[dict[str, Any]]:
        """The tenant's clusters (GET /api/v1/clusters answers a bare JSON array)."""
        reply = self._get(v.CLUSTERS, v.CLUSTERS, want=list)
        if reply.status == 404:
            raise RunaiApiError(f"GET {v.CLUSTERS}: HTTP 404")
        return [c for c in reply.data if isinstance(c, dict)]

    def settle_scope(self, found: Sequence[dict[str, Any]] | None = None) -> None:
        """Settle which cluster the listing is scoped to: RUNAI_CLUSTER_ID when set (checked
        against the tenant's clusters when they can be read), else the tenant's only cluster.
        ConfigError when the tenant has several and none was chosen, or the chosen one is
        not the tenant's. Unreadable clusters leave the listing unscoped, with a warning."""
        if self._scope_settled:
            return
        try:
            found = self.clusters() if found is None else found
        except RunaiApiError as exc:
            if not any(f"HTTP {code}" in str(exc) for code in (403, 404)):
                raise  # a transient fault: settle on the next try
            self.cluster_note = (
                f"RUNAI_CLUSTER_ID (the clusters could not be read: {exc})"
                if self._configured_cluster
                else f"all clusters: the clusters could not be read ({exc}); set "
                     "RUNAI_CLUSTER_ID to scope the listing"
            )
            self._scope_settled = True
            return
        self.cluster_id, self.cluster_note, version = choose_cluster(
            self._configured_cluster, found
        )
        if version and not self._api_version:
            # A cluster version we cannot read says nothing about the API.
            with suppress(ConfigError):
                self.control_plane = self.control_plane.at_least(version, "version")
        self._scope_settled = True

    def _scope_filters(self) -> list[str]:
        self.settle_scope()
        return [f"clusterId=={self.cluster_id}"] if self.cluster_id else []

    # -- reading ------------------------------------------------------------------------------
    def probe(
        self, path: str, template: str, params: Sequence[tuple[str, str]] = (),
        filters: Sequence[str] = (), want: type = dict,
    ) -> Reply:
        """One GET as the sidecar would send it (only what the version takes), the answer as
        it came: for `doctor`, which checks the answers against the spec."""
        query = self._query(template, params, filters)
        return self._get(path, _label(template), query, want=want)

    def scope_filters(self) -> list[str]:
        return self._scope_filters()

    def list_workloads(
        self,
        projects: Sequence[str] = (),
        *,
        deleted: bool = False,
        deleted_since: str | None = None,
        where: Sequence[str] = (),
    ) -> list[Workload]:
        """Every workload of this sidecar's cluster (of the given projects, or all); one entry
        per id however paged. With deleted=True, the deleted ones instead (since an ISO
        instant, when given). `where`: more filters (fields the caller checked with
        `filters_by`), e.g. only those changed since an instant."""
        listed: list[Workload] = []
        for page in self.workload_pages(projects, deleted=deleted,
                                        deleted_since=deleted_since, where=where):
            listed.extend(page)
        if not self.cluster_id:
            clusters = {w.cluster_id for w in listed} - {None}
            if len(clusters) > 1:  # unscoped (the clusters could not be read) yet several
                _log_once(f"the listing spans {len(clusters)} clusters; set RUNAI_CLUSTER_ID "
                          "to the one this sidecar runs in")
        return listed

    def workload_pages(
        self,
        projects: Sequence[str] = (),
        *,
        deleted: bool = False,
        deleted_since: str | None = None,
        where: Sequence[str] = (),
    ) -> Iterator[list[Workload]]:
        """list_workloads one page at a time, for a caller that must not hold them all (a
        first start on a large tenant): only the ids seen so far are kept, to skip a workload
        a later page repeats."""
        scope = self._scope_filters()
        extra_filters = [f"deletedAt>={deleted_since}"] if deleted and deleted_since else []
        extra_filters += where
        params = [("deleted", "true")] if deleted else []
        queries = [
            self._query(v.WORKLOADS, params, [f"projectName=={p}", *scope, *extra_filters])
            for p in projects
        ] or [self._query(v.WORKLOADS, params, [*scope, *extra_filters])]
        wanted = set(projects)
        seen: set[str] = set()
        for query in queries:
            for page in self._pages(v.WORKLOADS, v.WORKLOADS, "workloads", query):
                kept: list[Workload] = []
                for workload in page:
                    wid = workload.get("id")
                    if not isinstance(wid, str) or wid in seen:
                        continue
                    # Should a filter have been left out, what it meant still holds.
                    if wanted and workload.get("projectName") not in wanted:
                        continue
                    if self.cluster_id:
                        cluster = workload.setdefault("clusterId", self.cluster_id)
                        if cluster != self.cluster_id:
                            continue
                    seen.add(wid)
                    kept.append(Workload.from_api(workload))
                yield kept

    def filters_by(self, field: str) -> bool:
        """Whether every version the control plane may be takes this workload filter field."""
        return field in self.control_plane.filter_fields(v.WORKLOADS)

    def count_workloads(self, projects: Sequence[str] = ()) -> int:
        """How many workloads of this sidecar's cluster (of the given projects, or all) exist
        now: GET /api/v1/workloads/count, one request per project."""
        scope = self._scope_filters()
        total = 0
        for filters in [[f"projectName=={p}", *scope] for p in projects] or [scope]:
            reply = self._get(v.WORKLOADS_COUNT, v.WORKLOADS_COUNT,
                              self._query(v.WORKLOADS_COUNT, filters=filters))
            count = reply.data.get("count") if reply.status == 200 else None
            if not isinstance(count, int) or isinstance(count, bool):
                raise RunaiApiError(f"GET {v.WORKLOADS_COUNT}: answered without a count")
            total += count
        return total

    def history(self, workload_id: str) -> list[dict[str, Any]]:
        """The workload's timeline (phase updates and events), oldest first; [] if it is gone."""
        records: list[dict[str, Any]] = []
        try:
            for page in self._pages(
                f"/api/v1/workloads/{workload_id}/history", _label(v.HISTORY), "records", [],
            ):
                records.extend(page)
        except RunaiApiError as exc:
            if "HTTP 404" in str(exc) and not records:
                return []
            raise
        return records

    def workload(self, workload_id: str, deadline: float | None = None) -> dict[str, Any] | None:
        """The detailed workload (with pendingSchedulingMessages); None if it is gone."""
        reply = self._get(f"/api/v1/workloads/{workload_id}", _label(v.DETAIL), deadline=deadline)
        return None if reply.status == 404 else dict(reply.data)

    def events(self, workload_id: str, deadline: float | None = None) -> list[dict[str, Any]]:
        """The workload's newest events (Kubernetes drops them within the hour)."""
        reply = self._get(
            f"/api/v1/workloads/{workload_id}/events", _label(v.EVENTS),
            self._query(v.EVENTS, [("limit", str(EVENTS_LIMIT)), ("sortOrder", "desc")]),
            deadline,
        )
        if reply.status == 404:
            return []
        items = reply.data.get("events")
        return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []

    def pods(
        self, workload_id: str, deadline: float | None = None, *, deleted_first: bool = False
    ) -> list[dict[str, Any]]:
        """The workload's pods: node and pod names live only here. When none is current, the
        deleted ones (`deleted=true` returns only those) still name the node it ran on.
        `deleted_first`: ask for the deleted ones first, for a workload that a listing of
        every current pod just showed without any (one request where two would be)."""
        current: list[tuple[str, str]] = []
        deleted = [("deleted", "true")]
        for extra in (deleted, current) if deleted_first else (current, deleted):
            reply = self._get(
                f"/api/v1/workloads/{workload_id}/pods", _label(v.PODS),
                self._query(v.PODS, [("limit", str(PAGE_LIMIT)), *extra]), deadline,
            )
            items = reply.data.get("pods") if reply.status == 200 else None
            if isinstance(items, list) and items:
                return [p for p in items if isinstance(p, dict)]
            if reply.status == 404:
                break
        return []

    def all_pods(self, *, deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every current pod (or, with deleted=True, every deleted one) of this sidecar's
        cluster across workloads, paged: the cheap node lookup when many runs are new at once."""
        params = [("deleted", "true")] if deleted else []
        query = self._query(v.ALL_PODS, params, self._scope_filters())
        for page in self._pages(v.ALL_PODS, v.ALL_PODS, "pods", query):
            yield from page


def choose_cluster(
    configured: str | None, clusters: Sequence[dict[str, Any]]
) -> tuple[str | None, str, str | None]:
    """(cluster id or None for unscoped, how it was chosen, that cluster's version)."""
    listed = {str(c.get("uuid")): c for c in clusters if c.get("uuid")}
    shown = ", ".join(f"{uid} ({c.get('name', '?')})" for uid, c in listed.items())
    if configured:
        if configured not in listed:
            raise ConfigError(
                f"RUNAI_CLUSTER_ID {configured} is not one of the tenant's clusters: "
                f"{shown or 'none listed'}"
            )
        return configured, "RUNAI_CLUSTER_ID", _text(listed[configured].get("version"))
    if len(listed) == 1:
        ((uid, cluster),) = listed.items()
        return uid, f"the tenant's only cluster ({cluster.get('name', '?')})", \
            _text(cluster.get("version"))
    if not listed:
        return None, "all clusters: the tenant lists none", None
    raise ConfigError(
        f"The tenant has {len(listed)} clusters; set RUNAI_CLUSTER_ID (or --cluster-id) to "
        f"the one this sidecar runs in: {shown}"
    )


def _label(template: str) -> str:
    """The endpoint label the metrics and messages have always used ({id}, not the spec's
    {workloadId}): dashboards and alerts select on it."""
    return template.replace("{workloadId}", "{id}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _next_offset(value: Any) -> int | None:
    """The next page's offset; None on the last page (next absent, null, empty, 0, false)."""
    if not value or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise RunaiApiError(f"paging: next={value!r} is not an offset")
        return int(value)
    if not isinstance(value, int):
        raise RunaiApiError(f"paging: next={value!r} is not an offset")
    return value


_said: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning(message)


def _not_this_form(reply: Reply) -> bool:
    """The endpoint is absent or does not take this body. Not so for an OAuth2 400 whose
    `error` rejects the client itself (RFC 6749 5.2 allows 400 for invalid_client)."""
    if reply.status not in _NOT_THIS_FORM:
        return False
    data = reply.data if isinstance(reply.data, dict) else {}
    return data.get("error") not in _CLIENT_REJECTED


def _reason(reply: Reply) -> str:
    """HTTP status and the server's own words (OAuth2 `error`/`error_description`, or Run:ai's
    `message`), on one short line."""
    data = reply.data if isinstance(reply.data, dict) else {}
    code = data.get("error") or ""
    text = data.get("error_description") or data.get("message") or ""
    words = ": ".join(str(part) for part in (code, text) if part)
    reason = f"HTTP {reply.status}" + (f" {words}" if words else "")
    return " ".join(reason.split())[:200]
