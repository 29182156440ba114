"""Where a pod was placed, read from its scheduler's Scheduled event: what still names the node
once the pod is gone (a past episode, a deleted workload).

Two schedulers write that event, in their own words:
- kube-scheduler: "Successfully assigned <ns>/<pod> to <node>";
- the KAI scheduler (Run:ai's own; its binder's status updater, reason Scheduled):
  "Successfully assigned pod <ns>/<pod> to node <node> at node-pool <pool>", the pool
  empty when the node is in none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FORMS = (
    re.compile(
        r"Successfully assigned pod (?P<ns>[^/\s]+)/(?P<pod>\S+) to node (?P<node>\S+)"
        r"(?: at node-pool ?(?P<pool>\S*))?\s*$"
    ),
    re.compile(r"Successfully assigned (?P<ns>[^/\s]+)/(?P<pod>\S+) to (?P<node>\S+)\s*$"),
)


@dataclass(frozen=True)
class Assignment:
    namespace: str
    pod: str
    node: str
    node_pool: str | None = None  # the KAI scheduler names it


def assignment(message: object) -> Assignment | None:
    """The placement a Scheduled event's message states, in either scheduler's words."""
    if not isinstance(message, str):
        return None
    text = message.strip()
    for form in _FORMS:
        found = form.match(text)
        if found:
            pool = found.groupdict().get("pool") or None
            return Assignment(found["ns"], found["pod"], found["node"], pool)
    return None
