"""Alertmanager's webhook payload, version 4, read strictly at the edge.

The fields are Alertmanager's (notify/webhook: Message = template.Data + version, groupKey,
truncatedAlerts): status, receiver, groupLabels, commonLabels, commonAnnotations, externalURL
and alerts[], each with status, labels, annotations, startsAt, endsAt, generatorURL and
fingerprint. Anything else (another version, a missing or mistyped field, a time that is not
RFC 3339) is refused with one line naming the field, so a misrouted receiver is obvious at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VERSION = "4"
STATUSES = ("firing", "resolved")
MAX_ALERTS = 200  # Alertmanager's `max_alerts` on the receiver keeps a group below this
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: "no end yet" in endsAt


class PayloadError(ValueError):
    """The body is not an Alertmanager version 4 webhook message."""


@dataclass(frozen=True)
class Alert:
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None  # None: still firing (Go's zero time)
    generator_url: str
    fingerprint: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Notification:
    """One webhook call: one Alertmanager group (a burst of alerts), firing or resolved."""

    version: str
    group_key: str
    status: str
    receiver: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    alerts: tuple[Alert, ...]
    truncated_alerts: int = 0

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "resolved")


def parse_notification(body: Mapping[str, Any]) -> Notification:
    version = body.get("version")
    if version != VERSION:
        raise PayloadError(
            f"unsupported webhook payload version {version!r}: this receiver accepts "
            f"Alertmanager's version {VERSION!r} only"
        )
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("'alerts' must be a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(
            f"{len(alerts)} alerts in one group; at most {MAX_ALERTS} (set max_alerts on the "
            "receiver)"
        )
    truncated = body.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError("'truncatedAlerts' must be a whole number")
    return Notification(
        version=VERSION,
        group_key=_string(body, "groupKey"),
        status=_status(body, "status"),
        receiver=_string(body, "receiver"),
        group_labels=_labels(body, "groupLabels"),
        common_labels=_labels(body, "commonLabels"),
        common_annotations=_labels(body, "commonAnnotations"),
        external_url=_string(body, "externalURL"),
        alerts=tuple(_alert(a, i) for i, a in enumerate(alerts)),
        truncated_alerts=truncated,
    )


def _alert(value: Any, index: int) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be an object")
    ends_raw = _string(value, "endsAt", where)
    return Alert(
        status=_status(value, "status", where),
        labels=_labels(value, "labels", where),
        annotations=_labels(value, "annotations", where),
        starts_at=_time(_string(value, "startsAt", where), f"{where}.startsAt"),
        ends_at=None if ends_raw in ("", ZERO_TIME) else _time(ends_raw, f"{where}.endsAt"),
        generator_url=_string(value, "generatorURL", where),
        fingerprint=_string(value, "fingerprint", where),
    )


def _name(key: str, where: str) -> str:
    return f"{where}.{key}" if where else key


def _string(body: Mapping[str, Any], key: str, where: str = "") -> str:
    if key not in body:
        raise PayloadError(f"missing field '{_name(key, where)}'")
    value = body[key]
    if not isinstance(value, str):
        raise PayloadError(f"'{_name(key, where)}' must be a string")
    return value


def _status(body: Mapping[str, Any], key: str, where: str = "") -> str:
    value = _string(body, key, where)
    if value not in STATUSES:
        raise PayloadError(f"'{_name(key, where)}' must be firing or resolved, got {value[:40]!r}")
    return value


def _labels(body: Mapping[str, Any], key: str, where: str = "") -> dict[str, str]:
    if key not in body:
        raise PayloadError(f"missing field '{_name(key, where)}'")
    value = body[key]
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"'{_name(key, where)}' must be an object of strings")
    return dict(value)


def _time(text: str, name: str) -> datetime:
    try:
        # Go writes nanoseconds; Python reads at most microseconds.
        head, dot, tail = text.partition(".")
        if dot:
            digits = len(tail) - len(tail.lstrip("0123456789"))
            tail = tail[: min(digits, 6)] + tail[digits:]
        moment = datetime.fromisoformat((head + dot + tail).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"'{name}' is not an RFC 3339 time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise PayloadError(f"'{name}' has no time zone: {text[:40]!r}")
    return moment.astimezone(UTC)
