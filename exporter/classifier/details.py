"""Structured details pulled from the winning evidence and the bundle: Xid, exit code, signal,
requested GPU bytes, node, first failing rank, container, pod, image, secret.

Every value inserted into text later is matched by a strict pattern here, so untrusted bundle
content never reaches a sentence except as a short, plain token.
"""

from __future__ import annotations

import re
from typing import Any

from exporter.classifier.engine import Context, Hit
from exporter.classifier.facts import CONTAINER, EVENT, LOG, Fact
from exporter.classifier.rules import XID
from exporter.detect.placement import assignment

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,252}")  # node, pod, container names
DNS_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")  # secrets, config maps
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
SECRET = re.compile(r"secrets? \"([^\"\n]{1,253})\" not found", re.IGNORECASE)
CONFIGMAP = re.compile(r"configmaps? \"([^\"\n]{1,253})\" not found", re.IGNORECASE)
IMAGE_REF = re.compile(
    r"(?:pull(?:ing)? image|image) \"([^\"\s]{1,255})\"|manifest for (\S{1,255}) not found",
    re.IGNORECASE,
)
RANK = re.compile(r"\[rank(\d{1,6})\]|\[Rank (\d{1,6})\]|\blocal_rank: (\d{1,6})")
ALLOCATE = re.compile(
    r"Tried to allocate (\d{1,12}(?:\.\d{1,6})?) ?([KMGTP]i?B|B|bytes)\b|"
    r"\((\d{1,20}) bytes\) from device",
    re.IGNORECASE,
)
UNITS = {
    "b": 1,
    "bytes": 1,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
}
SIGNALS = {
    1: "SIGHUP",
    2: "SIGINT",
    4: "SIGILL",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    11: "SIGSEGV",
    13: "SIGPIPE",
    15: "SIGTERM",
}


def strict(value: str, pattern: re.Pattern[str]) -> str | None:
    return value if value and pattern.fullmatch(value) else None


def collect(hit: Hit | None, ctx: Context) -> dict[str, Any]:
    details: dict[str, Any] = {}
    failing = _failing_container(hit, ctx)
    xid = hit.number if hit is not None and hit.rule.when.pattern is XID else _first_xid(ctx)
    if xid is not None:
        details["xid"] = xid
    if failing is not None and failing.exit_code is not None:
        details["exit_code"] = failing.exit_code
        if failing.exit_code > 128 and (failing.exit_code - 128) in SIGNALS:
            details["signal"] = SIGNALS[failing.exit_code - 128]
    quote = hit.quote if hit is not None else ""
    if hit is not None and hit.rule.category == "gpu_oom":
        requested = _requested_bytes(quote)
        if requested is not None:
            details["oom_requested_bytes"] = requested
    where = hit.fact if hit is not None and hit.fact.pod else failing
    if where is None and ctx.facts.pod_names:
        where = Fact(
            CONTAINER, "", "", 0, pod=ctx.facts.pod_names[0][0], node=ctx.facts.pod_names[0][1]
        )
    if where is None:  # its pods are gone: the scheduler's Scheduled event still places it
        where = _scheduled(ctx)
    if where is not None:
        for key, value in (
            ("node", where.node),
            ("pod", where.pod),
            ("container", where.container),
        ):
            if strict(value, NAME):
                details[key] = value
    # From the evidence line when it is a log line; otherwise (and for NCCL, where the first
    # rank to fail is the lead) the earliest error line that names a rank.
    from_log = hit is not None and hit.fact.source == LOG
    rank = _rank(quote) if from_log else None
    if rank is None and (not from_log or (hit is not None and hit.rule.category == "nccl")):
        rank = _first_failing_rank(ctx)
    if rank is not None:
        details["rank"] = rank
    category = hit.rule.category if hit is not None else "unknown"
    if category == "config_error":
        for key, pattern in (("secret", SECRET), ("configmap", CONFIGMAP)):
            found = _search_status(ctx, pattern, quote)
            if found and strict(found, DNS_NAME):
                details[key] = found
    image = _search_status(ctx, IMAGE_REF, quote) if category == "image_pull" else None
    image = image or (ctx.facts.images[0] if ctx.facts.images else None)
    if image and strict(image, IMAGE):
        details["image"] = image
    return details


def _scheduled(ctx: Context) -> Fact | None:
    """The latest placement a Scheduled event states (kube-scheduler's or KAI's words)."""
    for fact in reversed(ctx.facts.events):
        placed = assignment(fact.message) if fact.reason.lower() == "scheduled" else None
        if placed is not None:
            return Fact(EVENT, fact.reason, "", fact.index, pod=placed.pod, node=placed.node)
    return None


def _failing_container(hit: Hit | None, ctx: Context) -> Fact | None:
    if hit is not None and hit.fact.source == CONTAINER and hit.fact.exit_code is not None:
        return hit.fact
    best: Fact | None = None
    for fact in ctx.facts.containers:
        if fact.state == "terminated" and fact.exit_code not in (None, 0):
            return fact
        if best is None and fact.state in ("waiting", "terminated"):
            best = fact
    return best


def _first_xid(ctx: Context) -> int | None:
    for fact in ctx.facts.events + ctx.facts.pods + ctx.facts.workload:
        match = XID.search(fact.message.lower())
        if match:
            return int(match.group("num"))
    for i in ctx.log.rows_with("xid"):
        match = XID.search(ctx.facts.lines[i].lower())
        if match:
            return int(match.group("num"))
    return None


def _rank(line: str) -> int | None:
    match = RANK.search(line)
    if not match:
        return None
    return int(next(g for g in match.groups() if g is not None))


def _first_failing_rank(ctx: Context) -> int | None:
    """The rank on the earliest log line that both names a rank and reports an error."""
    lines = ctx.facts.lines
    errors = set(ctx.log.rows_with("error"))
    for i in ctx.log.rows_with("rank"):
        if i in errors:
            rank = _rank(lines[i])
            if rank is not None:
                return rank
    return None


def _requested_bytes(line: str) -> int | None:
    match = ALLOCATE.search(line)
    if not match:
        return None
    if match.group(3):
        return int(match.group(3))
    unit = UNITS.get(match.group(2).lower())
    return None if unit is None else int(float(match.group(1)) * unit)


def _search_status(ctx: Context, pattern: re.Pattern[str], quote: str) -> str | None:
    """The first capture of `pattern` in the quote, then in events and container statuses."""
    for text in (
        quote,
        *(f.message for f in ctx.facts.of(EVENT)),
        *(f.message for f in ctx.facts.containers),
    ):
        match = pattern.search(text)
        if match:
            return next(g for g in match.groups() if g is not None)
    return None
