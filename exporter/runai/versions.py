"""What each published control-plane version accepts, as data read off its spec.

The tables below were read from the published schema subsets in exporter/runai/specs/
(runai-<version>-subset.json, the Run:ai SDK's generated spec at each release);
tests/test_runai_versions.py derives them again from those files and fails on any difference.
Everything only ever grew between 2.18 and 2.24, so each entry is the version that added it.

The client may not know the exact version: the token form that works only says 2.18-2.19,
2.20-2.23 or 2.24+. It then sends only what EVERY version in that range accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import ConfigError

VERSIONS = ("2.18", "2.19", "2.20", "2.21", "2.22", "2.23", "2.24")
OLDEST, NEWEST = VERSIONS[0], VERSIONS[-1]

WORKLOADS = "/api/v1/workloads"
WORKLOADS_COUNT = "/api/v1/workloads/count"
ALL_PODS = "/api/v1/workloads/pods"
DETAIL = "/api/v1/workloads/{workloadId}"
EVENTS = "/api/v1/workloads/{workloadId}/events"
HISTORY = "/api/v1/workloads/{workloadId}/history"
PODS = "/api/v1/workloads/{workloadId}/pods"
CLUSTERS = "/api/v1/clusters"

# Query parameters of each GET the client uses -> the version that added it.
QUERY_PARAMS_SINCE: dict[str, dict[str, str]] = {
    WORKLOADS: {"deleted": "2.18", "filterBy": "2.18", "limit": "2.18", "offset": "2.18",
                "sortBy": "2.18", "sortOrder": "2.18", "search": "2.20"},
    WORKLOADS_COUNT: {"deleted": "2.18", "filterBy": "2.18", "search": "2.20"},
    ALL_PODS: {"completed": "2.18", "deleted": "2.18", "filterBy": "2.18", "limit": "2.18",
               "offset": "2.18", "sortBy": "2.18", "sortOrder": "2.18", "verbosity": "2.18",
               "search": "2.21"},
    DETAIL: {},
    EVENTS: {"limit": "2.18", "offset": "2.18", "sortOrder": "2.20"},
    HISTORY: {"limit": "2.18", "offset": "2.18"},
    PODS: {"deleted": "2.18", "limit": "2.18", "offset": "2.18", "search": "2.21"},
    CLUSTERS: {"verbosity": "2.18", "includeRequestedForDelete": "2.22"},
}

# filterBy fields (the field names in the filter's `pattern`) -> the version that added it.
FILTER_FIELDS_SINCE: dict[str, dict[str, str]] = {
    WORKLOADS: {
        **dict.fromkeys(
            ("type", "name", "clusterId", "projectId", "projectName", "departmentId",
             "departmentName", "createdAt", "deletedAt", "submittedBy", "phase", "completedAt",
             "nodepool", "allocatedGPU", "distributedFramework"), "2.18"),
        **dict.fromkeys(("idleGpus", "idleAllocatedGpus"), "2.20"),
        **dict.fromkeys(("phaseUpdatedAt", "category", "priority"), "2.22"),
        **dict.fromkeys(
            ("totalPendingTimeSeconds", "totalRunningTimeSeconds", "priorityClassName",
             "guaranteedRuntimeEndsAt", "aiApplicationId", "aiApplicationName"), "2.23"),
    },
    ALL_PODS: {
        **dict.fromkeys(
            ("clusterId", "nodeName", "currentNodepool", "createdAt", "completedAt",
             "deletedAt"), "2.18"),
        **dict.fromkeys(("workloadId", "revisionId"), "2.21"),
    },
}
FILTER_FIELDS_SINCE[WORKLOADS_COUNT] = FILTER_FIELDS_SINCE[WORKLOADS]  # same parameter


@dataclass(frozen=True)
class TokenForm:
    """One way of asking for a token, and the versions that take it."""

    name: str  # as shown in the banner and the doctor's report
    path: str
    grant: str
    id_field: str
    secret_field: str
    form_encoded: bool  # application/x-www-form-urlencoded; else JSON
    token_field: str
    expiry_field: str
    # The versions on which this is the first form (in TOKEN_FORMS order) that works:
    first: str
    last: str | None  # None: every newer version too


# Tried in this order; the first one the server takes says which versions it can be.
TOKEN_FORMS = (
    TokenForm("v2 client_credentials (OAuth2 form)", "/api/v2/token", "client_credentials",
              "client_id", "client_secret", True, "access_token", "expires_in", "2.24", None),
    TokenForm("v1 client_credentials (JSON)", "/api/v1/token", "client_credentials",
              "clientID", "clientSecret", False, "accessToken", "expiresIn", "2.20", "2.23"),
    TokenForm("v1 app_token (JSON)", "/api/v1/token", "app_token", "appID", "appSecret",
              False, "accessToken", "expiresIn", "2.18", "2.19"),
)


def _key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def parse_version(text: str, source: str = "RUNAI_API_VERSION") -> str:
    """'2.22' or '2.22.3' -> '2.22'; a newer version than the tables know reads as the newest
    they know (what it accepts is a superset so far). ConfigError on anything else."""
    match = re.fullmatch(r"\s*v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?\s*", text)
    if not match:
        raise ConfigError(f"Invalid {source} {text!r}: expected a version like 2.22")
    version = f"{int(match.group(1))}.{int(match.group(2))}"
    if _key(version) < _key(OLDEST):
        raise ConfigError(
            f"Unsupported {source} {version}: supported control planes are {OLDEST}-{NEWEST}"
        )
    return version if _key(version) <= _key(NEWEST) else NEWEST


@dataclass(frozen=True)
class ControlPlane:
    """The control-plane versions the client may be talking to, oldest and newest."""

    low: str = OLDEST
    high: str = NEWEST
    source: str = "not yet known"  # how it was learned, for the banner

    @classmethod
    def exactly(cls, version: str, source: str) -> ControlPlane:
        return cls(version, version, source)

    def label(self) -> str:
        span = self.low if self.low == self.high else f"{self.low}-{self.high}"
        return f"{span} ({self.source})"

    def at_least(self, version: str, source: str) -> ControlPlane:
        """Narrowed by a lower bound (a cluster's own version: the control plane is never
        older than the clusters it manages); unchanged when the bound says nothing new."""
        version = parse_version(version, "cluster version")
        if _key(version) <= _key(self.low):
            return self
        if _key(version) > _key(self.high):
            return self  # contradicts the token form; trust the token form
        return ControlPlane(version, self.high, f"{self.source}, cluster {source}")

    def covers(self, other: ControlPlane) -> bool:
        return _key(self.low) <= _key(other.low) and _key(other.high) <= _key(self.high)

    def params(self, path: str) -> frozenset[str]:
        """Query parameters of `path` that every version in the range accepts."""
        return frozenset(
            name for name, since in QUERY_PARAMS_SINCE[path].items()
            if _key(since) <= _key(self.low)
        )

    def filter_fields(self, path: str) -> frozenset[str]:
        """filterBy fields of `path` that every version in the range accepts."""
        return frozenset(
            name for name, since in FILTER_FIELDS_SINCE.get(path, {}).items()
            if _key(since) <= _key(self.low)
        )


def control_plane_of(form: TokenForm, *, application: bool = False) -> ControlPlane:
    """The versions a control plane that took `form` can be. With an application's
    credentials app_token is the only form tried, and every version takes it (deprecated
    from 2.20, never removed up to 2.24): it says nothing about the version."""
    if application and form.grant == "app_token":
        return ControlPlane(OLDEST, NEWEST, f"token form {form.name}, application credentials")
    return ControlPlane(form.first, form.last or NEWEST, f"token form {form.name}")


def forms_for(*, application: bool) -> tuple[TokenForm, ...]:
    """The token forms in the order to try them. An application's ID and secret (2.18's only
    machine credential; deprecated, still taken, up to 2.24) go in app_token, which every
    version 2.18-2.24 takes: no refused try on any. A service account's or access key's
    (2.20+) go in client_credentials: v2 from 2.24, v1 from 2.20; app_token last, for an
    application's credentials set as RUNAI_CLIENT_ID on 2.18/2.19 (one refused try)."""
    if application:
        return tuple(sorted(TOKEN_FORMS, key=lambda f: f.grant != "app_token"))
    return TOKEN_FORMS


_FILTER_FIELD = re.compile(r"^([A-Za-z]+)(==|!=|<=|>=|=@|!@|=\^|=\$)")


def filter_field(expression: str) -> str:
    match = _FILTER_FIELD.match(expression)
    if not match:
        raise ValueError(f"not a filter expression: {expression!r}")
    return match.group(1)
