"""Which control-plane version the simulator plays, read from that version's published spec.

The seven schema subsets (exporter/runai/specs/runai-<version>-subset.json, the repository's
one copy, byte-equal to the published ones) come from the Run:ai SDK's generated OpenAPI
document at each release. Everything version-dependent the simulator does
(endpoints, query parameters, filterable fields, token grants, response fields) is looked up
here from the spec itself rather than restated by hand, so a version differs from another
exactly where its published spec does.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSIONS = ("2.18", "2.19", "2.20", "2.21", "2.22", "2.23", "2.24")
LATEST = VERSIONS[-1]
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "exporter" / "runai" / "specs"
_PATTERN_FIELDS = re.compile(r"^\^\(([^)]*)\)")


def spec_path(version: str) -> Path:
    return SCHEMA_DIR / f"runai-{version}-subset.json"


def check_version(version: str) -> str:
    """The version itself, or ValueError naming the supported ones."""
    if version not in VERSIONS:
        raise ValueError(f"unsupported --api-version {version!r}; "
                         f"choose one of {', '.join(VERSIONS)}")
    return version


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]  # $ref resolved
    filter_fields: frozenset[str]  # filterBy only: the fields its pattern lists


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the spec's template, e.g. /api/v1/workloads/{workloadId}
    params: dict[str, QueryParam]


class ApiVersion:
    """One control-plane version: its spec and what the simulator derives from it."""

    def __init__(self, version: str) -> None:
        self.name = check_version(version)
        self.spec: dict[str, Any] = json.loads(spec_path(version).read_text())
        self.operations: dict[tuple[str, str], Operation] = {}
        for path, ops in self.spec["paths"].items():
            for method, op in ops.items():
                params = {}
                for raw in op.get("parameters", []):
                    param = self.resolve(raw)
                    if param.get("in") != "query":
                        continue
                    schema = self.resolve(param.get("schema", {}))
                    params[param["name"]] = QueryParam(
                        param["name"], schema, _filter_fields(schema))
                self.operations[(method.upper(), path)] = Operation(method.upper(), path, params)

    def resolve(self, node: Any) -> Any:
        """Follow a local $ref (repeatedly) to the node it names."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def has(self, method: str, path: str) -> bool:
        return (method.upper(), path) in self.operations

    def operation(self, method: str, path: str) -> Operation:
        return self.operations[(method.upper(), path)]

    def schema(self, name: str) -> dict[str, Any]:
        return dict(self.spec["components"]["schemas"][name])

    def properties(self, name: str) -> frozenset[str]:
        """The property names a component schema defines (allOf parts merged)."""
        return frozenset(_properties(self, self.schema(name)))

    def enum(self, name: str) -> tuple[str, ...]:
        return tuple(self.resolve(self.schema(name)).get("enum", ()))

    def item_fields(self, path: str, key: str) -> frozenset[str]:
        """Fields an item of the `key` array in GET `path`'s answer may carry: what its schema
        defines plus what the answer requires (2.18's projects require a `phase` their
        Project schema does not define)."""
        op = self.spec["paths"][path]["get"]
        schema = self.resolve(op["responses"]["200"]["content"]["application/json"]["schema"])
        items = self.resolve(self.resolve(schema["properties"][key])["items"])
        return frozenset(_properties(self, items) | _required(self, items))

    @functools.cached_property
    def token_grants(self) -> frozenset[str]:
        """grantType values /api/v1/token takes in this version."""
        grant = self.resolve(self.schema("TokenRequest")["properties"]["grantType"])
        return frozenset(grant["enum"])

    @functools.cached_property
    def token_fields(self) -> frozenset[str]:
        return self.properties("TokenRequest")

    @functools.cached_property
    def token_response_fields(self) -> frozenset[str]:
        return self.properties("TokenResponse")

    @functools.cached_property
    def workload_fields(self) -> frozenset[str]:
        return self.properties("Workload")

    @functools.cache  # noqa: B019 - one instance per version, kept for the process
    def holds_text(self, schema: str, prop: str) -> bool:
        """Whether `schema.prop` can hold its (string enum) text. Some specs declare such a
        property `type: object` around a string enum (Workload.phaseReason in 2.19/2.20,
        PendingSchedulingMessage.orgType/phaseReason), which only null satisfies; the
        simulator serves null there rather than break the published schema."""
        node = self.resolve(self.schema(schema)).get("properties", {}).get(prop)
        return node is not None and node.get("type", "string") == "string"

    @functools.cached_property
    def detail_fields(self) -> frozenset[str]:
        """Fields of GET /api/v1/workloads/{workloadId}'s answer (the Workload, and more)."""
        op = self.spec["paths"]["/api/v1/workloads/{workloadId}"]["get"]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        return frozenset(_properties(self, schema))

    @functools.cached_property
    def pod_fields(self) -> frozenset[str]:
        pods = self.resolve(self.schema("Pods1"))
        return frozenset(_properties(self, self.resolve(pods["items"])))

    @functools.cached_property
    def event_schema_name(self) -> str:
        events = self.schema("Events")
        return str(events["items"]["$ref"].rsplit("/", 1)[1])

    @functools.cached_property
    def cluster_fields(self) -> frozenset[str]:
        return self.properties("DisplayedCluster")

    @functools.cached_property
    def phases(self) -> tuple[str, ...]:
        return self.enum("Phase")


def _filter_fields(schema: dict[str, Any]) -> frozenset[str]:
    pattern = schema.get("items", {}).get("pattern", "")
    match = _PATTERN_FIELDS.match(pattern)
    if not match:
        return frozenset()
    # 2.19-2.21 patterns end their field list with an empty alternative ("...|allocatedGPU|)");
    # a filter without a field name is malformed anyway, so the empty name is dropped.
    return frozenset(f for f in match.group(1).split("|") if f)


def _properties(version: ApiVersion, schema: dict[str, Any]) -> set[str]:
    schema = version.resolve(schema)
    out = set(schema.get("properties", {}))
    for part in schema.get("allOf", ()):
        out |= _properties(version, part)
    return out


def _required(version: ApiVersion, schema: dict[str, Any]) -> set[str]:
    schema = version.resolve(schema)
    out = set(schema.get("required", ()))
    for part in schema.get("allOf", ()):
        out |= _required(version, part)
    return out


@functools.cache
def api_version(version: str) -> ApiVersion:
    """The (cached) ApiVersion for a version string; ValueError when unsupported."""
    return ApiVersion(version)
