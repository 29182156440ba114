"""Query strings checked against the operation's parameters in the served version's spec.

Strict where the spec is: a parameter the operation does not declare (in this version), a
parameter given twice (filterBy is `explode: false`: ONE parameter, filters comma-joined), a
value outside the declared enum, a non-boolean boolean, and a limit outside 1-500 are all 400
with a message naming what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from simulator.errors import BadRequest
from simulator.versions import ApiVersion, Operation


@dataclass(frozen=True)
class Query:
    """The checked query parameters of one request (each at most once)."""

    operation: Operation
    values: dict[str, str]
    offset: int
    limit: int

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def flag(self, name: str) -> bool:
        return self.values.get(name, "").lower() == "true"


def check_query(request: Request, version: ApiVersion, method: str, path: str) -> Query:
    """The request's query, validated against `method path` of `version`; BadRequest if not."""
    op = version.operation(method, path)
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in op.params:
            takes = ", ".join(sorted(op.params)) or "no query parameters"
            raise BadRequest(f"unknown query parameter {name!r}: {method} {path} on control "
                             f"plane {version.name} takes {takes}")
        if name in values:
            if name == "filterBy":
                count = len(request.query_params.getlist(name))
                raise BadRequest(
                    f"filterBy is given {count} times; it is one parameter with the filters "
                    "comma-joined (explode: false), e.g. filterBy=phase==Failed,projectName==a")
            raise BadRequest(f"query parameter {name!r} is given more than once")
        values[name] = value
    for name, value in values.items():
        _check_value(name, value, op.params[name].schema)
    offset = int(values["offset"]) if values.get("offset") else 0
    limit = int(values["limit"]) if values.get("limit") else 50
    return Query(op, values, offset, limit)


def _check_value(name: str, value: str, schema: dict[str, object]) -> None:
    kind = schema.get("type")
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        raise BadRequest(f"{name} must be one of {', '.join(map(str, enum))}, got {value!r}")
    if kind == "boolean" and value not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false, got {value!r}")
    if kind == "integer" and value != "":
        try:
            number = int(value)
        except ValueError as exc:
            raise BadRequest(f"{name} must be an integer, got {value!r}") from exc
        low = schema.get("minimum", 0 if name == "offset" else None)
        high = schema.get("maximum")
        if isinstance(low, int) and isinstance(high, int) and not low <= number <= high:
            raise BadRequest(f"{name} must be between {low} and {high}, got {number}")
        if isinstance(low, int) and number < low:
            raise BadRequest(f"{name} must be >= {low}, got {number}")
