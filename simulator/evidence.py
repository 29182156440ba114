"""Render a failure template into the evidence of one episode: pods, events, logs."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from string import Template
from typing import Any

from simulator import logtext
from simulator.clock import iso
from simulator.generator import PROJECTS
from simulator.model import Episode, WorkloadSpec
from simulator.templates import BY_KEY, Variant

PREAMBLE_LINES = 200


@dataclass
class PodState:
    phase: str
    reason: str = ""
    message: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    last_state: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    log: list[str] | None = None  # current container; None = container never started
    previous_log: list[str] | None = None


@dataclass
class EventOut:
    at: int
    type: str
    reason: str
    message: str
    source: str
    replica: int
    attempt: int = 0
    # Repeats while the workload stays in this episode (the scheduler retries every few
    # minutes), so Kubernetes keeps it fresh: FailedScheduling, FailedMount...
    recurring: bool = False


@dataclass
class Evidence:
    variant: Variant
    replica: int  # the failing replica
    pods: list[PodState]
    events: list[EventOut]
    condition_message: str


def container_name(spec: WorkloadSpec) -> str:
    return "pytorch" if spec.type == "distributed" else spec.name


def pod_names(spec: WorkloadSpec) -> list[str]:
    if spec.type == "distributed":
        return [f"{spec.name}-master-0"] + [f"{spec.name}-worker-{i}"
                                            for i in range(spec.replicas - 1)]
    if spec.type == "inference":
        return [f"{spec.name}-00001-deployment-{spec.id[:5]}"]
    return [f"{spec.name}-0-0"]


def pod_uid(spec: WorkloadSpec, replica: int, attempt: int) -> str:
    return str(uuid.uuid5(uuid.UUID(spec.id), f"pod/{replica}/{attempt}"))


def _fill(value: Any, subs: dict[str, str]) -> Any:
    if isinstance(value, str):
        return Template(value).safe_substitute(subs)
    if isinstance(value, dict):
        return {k: _fill(v, subs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, subs) for v in value]
    return value


def _substitutions(rng: random.Random, spec: WorkloadSpec, ep: Episode, replica: int,
                   seed: int) -> dict[str, str]:
    names = pod_names(spec)
    other = rng.choice([p for p in PROJECTS if p.name != spec.project.name])
    total = {"l40s": 44.52}.get(spec.pool.name, 79.15)
    used = round(total - rng.uniform(0.3, 2.5), 2)
    repo, _, _tag = spec.image.rpartition(":")
    return {
        "pod": names[replica],
        "pod_uid": pod_uid(spec, replica, ep.attempt),
        "node": spec.nodes[replica],
        "container": container_name(spec),
        "image": spec.image,
        "bad_image": f"{repo}:{rng.choice(('v1.0.0b2', 'latest-rc', '24.13-py3'))}",
        "private_image": f"registry.example.com/{spec.project.name}/{spec.name.split('-')[0]}",
        "invalid_image": f"{repo}:{rng.choice(('v1 ', 'TAG'))}:latest",
        "ns": spec.project.namespace,
        "workload": spec.name,
        "project": spec.project.name,
        "other_project": other.name,
        "preemptor": f"{other.namespace}/{rng.choice(('llm-serve', 'eval', 'sft'))}-"
                     f"{rng.randint(10000, 99999)}-0-0",
        "preemptor_node": rng.choice(spec.pool.nodes),
        "pid": str(rng.randint(200, 65000)),
        "pci": f"{rng.choice((0x07, 0x0f, 0x47, 0x4e, 0x87, 0x90, 0xb7, 0xbd)):02x}:00",
        "alloc_mib": f"{rng.choice((128, 256, 512, 1024, 2048, 4096))}.00",
        "gpu_total_gib": f"{total:.2f}",
        "gpu_used_gib": f"{used:.2f}",
        "gpu_free_mib": f"{rng.uniform(1, 400):.2f}",
        "mem_kb": str(rng.randint(30_000_000, 64_000_000)),
        "secret": rng.choice(("wandb-api-key", "hf-token", f"{spec.project.name}-s3-creds")),
        "pvc": f"pvc-{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        "peer_ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}",
        "port": str(rng.choice((29500, 29400, 23456))),
        "rank": str(replica * max(1, int(spec.gpus))),
        "step": str(rng.randint(20, 400) * 50),
        "pool_nodes": str(len(spec.pool.nodes)),
        "gpus": f"{spec.gpus:g}",
        "started_at": iso(ep.at - rng.randint(60, 600)),
        "seed": str(seed),
    }


_WATCHDOG = (
    "[rank{rank}]:[E1126 ProcessGroupNCCL.cpp:616] [Rank {rank}] Watchdog caught collective "
    "operation timeout: WorkNCCL(SeqNum=808, OpType=ALLREDUCE, NumelIn=9801523, "
    "NumelOut=9801523, Timeout(ms)=600000) ran for 600020 milliseconds before timing out.",
    "[rank{rank}]:[E1126 ProcessGroupNCCL.cpp:1785] [PG 0 Rank {rank}] Exception (either an "
    "error or timeout) detected by watchdog at work: 808, last enqueued NCCL work: 811, last "
    "completed NCCL work: 807.",
)
_SIGTERM = (
    "torch.distributed.elastic.agent.server.api: [WARNING] Received Signals.SIGTERM death "
    "signal, shutting down workers",
)


def _peer(spec: WorkloadSpec, v: Variant, seed: str, replica: int) -> PodState:
    body = logtext.output(seed, spec, PREAMBLE_LINES, replica)
    rank = replica * max(1, int(spec.gpus))
    if v.peers == "running":
        return PodState("Running", state={"running": {}}, log=body)
    if v.peers == "watchdog":
        return PodState("Failed", state={"terminated": {"reason": "Error", "exitCode": 134,
                                                        "signal": 6}},
                        log=body + [line.format(rank=rank) for line in _WATCHDOG])
    return PodState("Failed", state={"terminated": {"reason": "Error", "exitCode": 143,
                                                    "signal": 15}},
                    log=body + list(_SIGTERM))


def _stamped(state: dict[str, Any], started: int, finished: int) -> dict[str, Any]:
    """Kubernetes puts startedAt/finishedAt on every terminated state."""
    if "terminated" not in state:
        return state
    return {"terminated": {**state["terminated"], "startedAt": iso(started),
                           "finishedAt": iso(finished)}}


def _run_start(spec: WorkloadSpec, ep: Episode) -> int:
    for step in spec.steps[: ep.step]:
        if step.attempt == ep.attempt and step.phase == "Running":
            return step.at
    return ep.at - 5


def render(spec: WorkloadSpec, ep: Episode, seed: int) -> Evidence:
    """The evidence of one episode; deterministic for (seed, workload, episode)."""
    v = BY_KEY[ep.variant]
    key = f"{seed}:{spec.id}:{ep.step}"
    rng = random.Random(key)
    replica = v.failing_replica if v.failing_replica < spec.replicas else 0
    subs = _substitutions(rng, spec, ep, replica, seed)
    lines = [Template(line).safe_substitute(subs) for line in v.log]
    started = v.stage == "run" or bool(v.log)
    body = logtext.output(key, spec, PREAMBLE_LINES, replica) if v.preamble else []
    started_at = _run_start(spec, ep)
    state = _stamped(_fill(v.state, subs), started_at, ep.at)
    last = _stamped(_fill(v.last_state, subs), ep.at - 90, ep.at - 30)
    if last:  # restarted: the failure is in the previous container's log
        main = PodState(v.pod_phase, _fill(v.pod_reason, subs), _fill(v.pod_message, subs),
                        state, last, v.restarts,
                        log=logtext.output(key + ":restart", spec, 12, replica),
                        previous_log=body + lines)
    else:
        main = PodState(v.pod_phase, _fill(v.pod_reason, subs), _fill(v.pod_message, subs),
                        state, {}, v.restarts, log=(body + lines) if started else None)
    pods = []
    for r in range(spec.replicas):
        if r == replica:
            pods.append(main)
        elif v.kind == "pending" or (v.stage == "start" and not v.log):
            pods.append(PodState(main.phase, main.reason, main.message, main.state, {}, 0, None))
        elif v.stage == "start":
            # Start-up failures (rendezvous, missing module...) hit every replica alike.
            pods.append(PodState(main.phase, main.reason, main.message, main.state, {}, 0,
                                 log=list(main.log or [])))
        else:
            peer = _peer(spec, v, f"{key}:{r}", r)
            peer.state = _stamped(peer.state, started_at, ep.at)
            pods.append(peer)
    # A template's lead-up (retries an hour before, a pull 200 s before) cannot predate the
    # attempt itself: Kubernetes had no pod to report on yet. Such events move to just after
    # the attempt began, in their order.
    first = next(s.at for s in spec.steps if s.attempt == ep.attempt)
    events = [EventOut(max(ep.at + e.offset_s, min(ep.at, first + 1 + i)), e.type, e.reason,
                       _fill(e.message, subs), e.source, replica, ep.attempt,
                       v.kind == "pending") for i, e in enumerate(v.events)]
    message = Template(v.pod_message or v.phase_message).safe_substitute(subs)
    return Evidence(v, replica, pods, events, message)
