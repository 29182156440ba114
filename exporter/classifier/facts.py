"""An evidence bundle read into flat, typed facts, safely and within fixed bounds.

The bundle is untrusted JSON (failure-signals.md): any key may be missing, of the wrong type, or
huge. Everything here tolerates that; nothing raises. Text is capped so that the rule engine's
work per bundle stays bounded whatever arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LOG_TAIL_CHARS = 64 * 1024  # only the tail of the log is read
LOG_TAIL_LINES = 400
LINE_CAP = 1024  # a line longer than this is cut before matching
TEXT_CAP = 4000  # event, condition and status messages
MAX_EVENTS = 500  # the first and the last half of a longer list are kept
MAX_PODS = 64
MAX_CONTAINERS = 32  # per pod
MAX_CONDITIONS = 64

# Pod conditions that are good news when True (others, like DisruptionTarget, are news when True).
HEALTHY_WHEN_TRUE = frozenset(
    {"ready", "podscheduled", "initialized", "containersready", "podreadytostartcontainers"}
)

# Where a fact comes from; the engine's signals name these.
EVENT, POD, CONTAINER, WORKLOAD, LOG = "event", "pod", "container", "workload", "log"


@dataclass(frozen=True)
class Fact:
    """One reason/message pair from the bundle (an event, a status, a condition, a log line)."""

    source: str  # EVENT | POD | CONTAINER | WORKLOAD | LOG
    reason: str
    message: str
    index: int  # position within its source, in reading order (logs: line number)
    exit_code: int | None = None
    state: str = ""  # containers: "terminated" | "waiting" | "running"
    pod: str = ""
    container: str = ""
    node: str = ""


@dataclass(frozen=True)
class Facts:
    events: tuple[Fact, ...]
    pods: tuple[Fact, ...]
    containers: tuple[Fact, ...]
    workload: tuple[Fact, ...]
    lines: tuple[str, ...]  # the log tail, one entry per line, each capped (not stripped)
    pod_names: tuple[tuple[str, str], ...]  # (pod, node) in bundle order
    images: tuple[str, ...] = ()  # the workload's images, as Run:ai lists them

    def of(self, source: str) -> tuple[Fact, ...]:
        """The status facts of one source (log lines are plain strings: see `lines`)."""
        if source == EVENT:
            return self.events
        if source == CONTAINER:
            return self.containers
        if source == POD:
            return self.pods
        if source == WORKLOAD:
            return self.workload
        return ()


def text(value: Any, cap: int = TEXT_CAP) -> str:
    """A string for any JSON value; containers and other junk read as empty."""
    if isinstance(value, str):
        return value[:cap]
    if isinstance(value, bytes | bytearray):
        return bytes(value[:cap]).decode("utf-8", errors="replace")
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**31) <= value < 2**32 else None
    if isinstance(value, float) and value.is_integer():
        return integer(int(value))
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 12:
        return int(value.strip())
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any, limit: int) -> list[Any]:
    """A bounded list of the items of a JSON array (the head and the tail of a long one)."""
    if not isinstance(value, list | tuple):
        return []
    if len(value) <= limit:
        return list(value)
    half = limit // 2
    return list(value[:half]) + list(value[-half:])


def read(bundle: object) -> Facts:
    root = mapping(bundle)
    pods, containers, names = _pods(root.get("pods"))
    return Facts(
        events=_events(root.get("events")),
        pods=pods,
        containers=containers,
        workload=_workload(root.get("workload")),
        lines=_log_lines(root.get("logs")),
        pod_names=names,
        images=_images(root.get("workload"), root.get("pods")),
    )


def _images(workload: Any, pods: Any) -> tuple[str, ...]:
    found = list(sequence(mapping(workload).get("images"), 8))
    for item in sequence(pods, MAX_PODS):
        for c in sequence(mapping(item).get("containers"), MAX_CONTAINERS):
            found.append(mapping(c).get("image"))
    # Only strings: a number or a list where an image name belongs is not an image.
    return tuple(i.strip()[:300] for i in found if isinstance(i, str) and i.strip())


def _events(raw: Any) -> tuple[Fact, ...]:
    out: list[Fact] = []
    for i, item in enumerate(sequence(raw, MAX_EVENTS)):
        event = mapping(item)
        reason, message = text(event.get("reason"), 200), text(event.get("message"))
        if reason or message:
            out.append(Fact(EVENT, reason.strip(), message.strip(), i))
    return tuple(out)


def _workload(raw: Any) -> tuple[Fact, ...]:
    workload = mapping(raw)
    out: list[Fact] = []
    phase_reason = text(workload.get("phaseReason"), 200)
    message = text(workload.get("phaseMessage"))
    if phase_reason or message:
        out.append(Fact(WORKLOAD, phase_reason.strip(), message.strip(), 0))
    for item in sequence(workload.get("conditions"), MAX_CONDITIONS):
        cond = mapping(item)
        if text(cond.get("status"), 20).lower() == "false":
            continue  # a condition that does not hold says nothing
        reason, message = text(cond.get("reason"), 200), text(cond.get("message"))
        if reason or message:
            out.append(Fact(WORKLOAD, reason.strip(), message.strip(), len(out)))
    for item in sequence(workload.get("pendingSchedulingMessages"), MAX_CONDITIONS):
        entry = mapping(item)
        reason, message = text(entry.get("reason"), 200), text(entry.get("userMessage"))
        if reason or message:
            out.append(Fact(WORKLOAD, reason.strip(), message.strip(), len(out)))
    return tuple(out)


def _pods(raw: Any) -> tuple[tuple[Fact, ...], tuple[Fact, ...], tuple[tuple[str, str], ...]]:
    pods: list[Fact] = []
    containers: list[Fact] = []
    names: list[tuple[str, str]] = []
    for item in sequence(raw, MAX_PODS):
        pod = mapping(item)
        name, node = text(pod.get("name"), 253), text(pod.get("nodeName"), 253)
        names.append((name, node))
        status = mapping(pod.get("status"))
        reason, message = text(status.get("reason"), 200), text(status.get("message"))
        if reason or message:
            pods.append(Fact(POD, reason.strip(), message.strip(), len(pods), pod=name, node=node))
        for cond_item in sequence(status.get("conditions"), MAX_CONDITIONS):
            cond = mapping(cond_item)
            holds = text(cond.get("status"), 20).lower() == "true"
            if holds == (text(cond.get("type"), 60).lower() in HEALTHY_WHEN_TRUE):
                continue  # PodScheduled=True is fine; DisruptionTarget=True is news
            c_reason, c_message = text(cond.get("reason"), 200), text(cond.get("message"))
            if c_reason or c_message:
                pods.append(
                    Fact(POD, c_reason.strip(), c_message.strip(), len(pods), pod=name, node=node)
                )
        statuses = sequence(status.get("initContainerStatuses"), MAX_CONTAINERS) + sequence(
            status.get("containerStatuses"), MAX_CONTAINERS
        )
        for cs_item in statuses:
            containers.extend(_container(mapping(cs_item), name, node, len(containers)))
    return tuple(pods), tuple(containers), tuple(names)


def _container(cs: Mapping[str, Any], pod: str, node: str, start: int) -> Iterable[Fact]:
    name = text(cs.get("name"), 253)
    out: list[Fact] = []
    # The current state first: it is what ended the run; the last state explains restarts.
    for key in ("state", "lastState"):
        for state, body in mapping(cs.get(key)).items():
            if state not in ("terminated", "waiting", "running"):
                continue
            detail = mapping(body)
            out.append(
                Fact(
                    CONTAINER,
                    text(detail.get("reason"), 200).strip(),
                    text(detail.get("message")).strip(),
                    start + len(out),
                    exit_code=integer(detail.get("exitCode")),
                    state=state,
                    pod=pod,
                    container=name,
                    node=node,
                )
            )
    return out


def log_text(raw: Any) -> str:
    """The tail of the log as text, whatever shape it came in (str, bytes, list or map of them)."""
    if isinstance(raw, str):
        return raw[-LOG_TAIL_CHARS:]
    if isinstance(raw, bytes | bytearray):
        return bytes(raw[-LOG_TAIL_CHARS:]).decode("utf-8", errors="replace")
    parts: list[str] = []
    if isinstance(raw, Mapping):
        raw = list(raw.values())
    if isinstance(raw, list | tuple):
        budget = LOG_TAIL_CHARS
        for part in reversed(raw[-LOG_TAIL_LINES:]):
            chunk = log_text(part) if isinstance(part, str | bytes | bytearray) else ""
            chunk = chunk[-budget:]
            parts.append(chunk)
            budget -= len(chunk) + 1
            if budget <= 0:
                break
        return "\n".join(reversed(parts))
    return ""


def _log_lines(raw: Any) -> tuple[str, ...]:
    body = log_text(raw)
    if not body:
        return ()
    lines = body.splitlines()[-LOG_TAIL_LINES:]
    if max(map(len, lines), default=0) > LINE_CAP:
        lines = [line[:LINE_CAP] for line in lines]
    return tuple(lines)
