"""Check an answer of the control plane against the published spec of a version.

The specs are OpenAPI 3.0 (exporter/runai/specs/): their schemas are JSON Schema but for
`nullable`, which is turned into a "null" type here so that a standard validator (jsonschema)
reads them. Findings carry the field path and the rule broken, never the value (a value may be
a name the user did not want in a bug report).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

SPEC_DIR = Path(__file__).resolve().parent.parent / "runai" / "specs"
_MOST_FINDINGS = 5


@functools.cache
def _spec(version: str) -> dict[str, Any]:
    doc = json.loads((SPEC_DIR / f"runai-{version}-subset.json").read_text())
    return dict(_json_schema(doc))


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: `nullable: true` becomes an extra "null" type (or enum
    member); everything else is left as it is."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list):
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def response_schema(version: str, method: str, path: str, status: str = "200") -> Any:
    doc = _spec(version)
    operation = doc["paths"][path][method.lower()]
    return operation["responses"][status]["content"]["application/json"]["schema"]


def findings(version: str, method: str, path: str, body: Any) -> list[str]:
    """How `body` departs from the version's 200 answer of `method path` ([] if it does not)."""
    doc = _spec(version)
    root = {"components": doc["components"], **response_schema(version, method, path)}
    validator = Draft7Validator(root)
    out = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        if error.validator == "required":  # the message names a field of the schema, no value
            out.append(f"{where}: lacks the required field {error.message.split(' ')[0]}")
        else:
            out.append(f"{where}: breaks '{error.validator}'")
        if len(out) >= _MOST_FINDINGS:
            break
    return out


def versions_matching(candidates: tuple[str, ...], method: str, path: str,
                      body: Any) -> tuple[list[str], list[str]]:
    """(the candidate versions whose spec the body meets, findings against the newest)."""
    fitting = [v for v in candidates if not findings(v, method, path, body)]
    return fitting, ([] if fitting else findings(candidates[-1], method, path, body))
