"""Deterministic generation of a cluster's workloads and their timelines from a seed."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass

from simulator.model import Episode, NodePool, Project, Step, WorkloadSpec
from simulator.scenarios import ScenarioSpec
from simulator.templates import Variant, variants_for

DAY = 86_400
HOUR = 3_600
MINUTE = 60

# Pending longer than this is an episode of its own ("stuck in scheduling").
STUCK_PENDING_S = 30 * MINUTE

CLUSTER_ID = "4d6f2a5e-8c1b-4f3a-9e7d-2b5c8a1f0e93"
TENANT_ID = 1001
CLUSTER_NAMES = ("prod-east", "prod-west", "research", "edge", "staging", "dev")
# A failed run that is not resubmitted is deleted by its owner this often (its own draw, so
# the scenario's other draws stay the same); the API then lists it only with deleted=true.
DELETE_FAILED_SHARE = 0.12

_DEPARTMENTS = {"research": "101", "foundation-models": "102", "product-ml": "103",
                "platform": "104"}
PROJECTS: tuple[Project, ...] = tuple(
    Project(name, str(4501 + i), dept, _DEPARTMENTS[dept])
    for i, (name, dept) in enumerate([
        ("team-vision", "research"), ("team-nlp", "research"), ("speech", "research"),
        ("bio-ml", "research"), ("llm-pretrain", "foundation-models"),
        ("autonomy", "foundation-models"), ("recsys", "product-ml"),
        ("search-ranking", "product-ml"), ("inference-prod", "platform"),
        ("platform-tools", "platform"),
    ])
)

POOLS: dict[str, NodePool] = {
    "default": NodePool("default", "NVIDIA-A100-SXM4-80GB",
                        tuple(f"dgx-a100-{i:02d}" for i in range(1, 17))),
    "h100": NodePool("h100", "NVIDIA-H100-80GB-HBM3",
                     tuple(f"h100-sxm-{i:02d}" for i in range(1, 13))),
    "l40s": NodePool("l40s", "NVIDIA-L40S", tuple(f"l40s-node-{i:02d}" for i in range(1, 9))),
}

USERS = tuple(f"{u}@example.com" for u in (
    "alice", "bob", "chen", "dana", "emeka", "farah", "goran", "hana", "ivan", "jia",
    "kofi", "lena"))

_BASES: dict[str, tuple[tuple[str, str], ...]] = {
    "training": (
        ("resnet50-train", "nvcr.io/nvidia/pytorch:24.05-py3"),
        ("bert-finetune", "nvcr.io/nvidia/pytorch:24.05-py3"),
        ("llama3-8b-sft", "nvcr.io/nvidia/nemo:24.07"),
        ("vit-pretrain", "nvcr.io/nvidia/pytorch:24.08-py3"),
        ("whisper-ft", "registry.example.com/speech/whisper-train:1.4.2"),
        ("yolo-detect", "registry.example.com/vision/yolo:8.2.0"),
        ("diffusion-ft", "registry.example.com/genai/sdxl-train:0.9.1"),
        ("t5-summarize", "nvcr.io/nvidia/tensorflow:23.10-tf2-py3"),
    ),
    "distributed": (
        ("llama-70b-pretrain", "nvcr.io/nvidia/nemo:24.07"),
        ("moe-pretrain", "nvcr.io/nvidia/pytorch:24.08-py3"),
        ("gpt-neox-20b", "registry.example.com/llm/neox:2.3.0"),
        ("mixtral-sft", "nvcr.io/nvidia/nemo:24.07"),
    ),
    "workspace": (
        ("jupyter", "jupyter/pytorch-notebook:cuda12-2024-10-07"),
        ("vscode", "registry.example.com/dev/code-server-cuda:4.92"),
    ),
    "inference": (
        ("vllm-chat", "vllm/vllm-openai:v0.6.3"),
        ("triton-embed", "nvcr.io/nvidia/tritonserver:24.08-py3"),
        ("rerank-api", "registry.example.com/search/reranker:3.1.0"),
        ("asr-serve", "registry.example.com/speech/asr-serve:2.0.4"),
    ),
}

TYPE_WEIGHTS = (("training", 40), ("distributed", 20), ("workspace", 20), ("inference", 20))

# What happens to a workload of each type.
OUTCOMES: dict[str, tuple[tuple[str, int], ...]] = {
    "training": (("complete", 60), ("fail", 31), ("stuck", 6), ("degrade", 0)),
    "distributed": (("complete", 52), ("fail", 34), ("stuck", 8), ("degrade", 6)),
    "workspace": (("complete", 68), ("fail", 15), ("stuck", 7), ("degrade", 10)),
    "inference": (("complete", 60), ("fail", 12), ("stuck", 8), ("degrade", 20)),
}

CATEGORY_WEIGHTS: dict[str, dict[str, int]] = {
    "failed": {"app_error": 18, "gpu_oom": 12, "oom_killed": 9, "nccl": 10, "preempted": 8,
               "image_pull": 6, "config_error": 6, "cuda_error": 6, "cuda_driver": 4,
               "storage": 6, "gpu_hardware": 5, "node_failure": 4, "evicted": 5, "timeout": 4},
    "degraded": {"oom_killed": 5, "gpu_oom": 4, "node_failure": 3, "config_error": 2,
                 "app_error": 4},
    "pending": {"unschedulable": 70, "storage": 12, "config_error": 10, "image_pull": 8},
}


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    total = sum(w for _, w in table)
    pick = rng.random() * total
    for name, weight in table:
        pick -= weight
        if pick < 0:
            return name
    return table[-1][0]


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class _Choices:
    """Per (kind, type): the categories with a template, with weights, and their variants."""

    tables: dict[tuple[str, str], tuple[tuple[str, int], ...]]
    variants: dict[tuple[str, str, str], list[Variant]]

    @classmethod
    def build(cls) -> _Choices:
        tables: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {}
        variants: dict[tuple[str, str, str], list[Variant]] = {}
        for kind, weights in CATEGORY_WEIGHTS.items():
            for wtype in _BASES:
                rows = []
                for category, weight in weights.items():
                    found = variants_for(category, kind, wtype)
                    if found:
                        variants[(kind, wtype, category)] = found
                        rows.append((category, weight))
                tables[(kind, wtype)] = tuple(rows)
        return cls(tables, variants)

    def pick(self, rng: random.Random, kind: str, wtype: str) -> Variant:
        category = _weighted(rng, self.tables[(kind, wtype)])
        return rng.choice(self.variants[(kind, wtype, category)])


_CHOICES = _Choices.build()


class _Timeline:
    """Appends steps while keeping the cumulative pending/running totals right."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.attempt = 0

    def add(self, at: int, phase: str, message: str = "", episode: int = -1) -> None:
        steps = self.spec.steps
        pending = running = 0
        if steps:
            last = steps[-1]
            at = max(at, last.at + 1)
            pending, running = last.pending_total, last.running_total
            if last.phase == "Pending":
                pending += at - last.at
            elif last.phase in ("Running", "Degraded"):
                running += at - last.at
        steps.append(Step(at, phase, message, episode, self.attempt, pending, running))

    def episode(self, kind: str, variant: Variant, at: int) -> int:
        self.spec.episodes.append(Episode(kind, variant.category, variant.key, at,
                                          len(self.spec.steps) - 1, self.attempt))
        return len(self.spec.episodes) - 1

    @property
    def now(self) -> int:
        return self.spec.steps[-1].at


def _run_length(rng: random.Random, wtype: str) -> int:
    if wtype in ("workspace", "inference"):
        return int(rng.uniform(3 * HOUR, 4 * DAY))
    # Training runs: log-normal around hours (distributed ones longer), a few run for days.
    median = 12 * HOUR if wtype == "distributed" else 5 * HOUR
    return int(min(4 * DAY, max(5 * MINUTE, rng.lognormvariate(math.log(median), 1.0))))


def _live(rng: random.Random, tl: _Timeline, outcome: str) -> None:
    """Play one attempt of the workload from its submission; may recurse on resubmission."""
    spec, wtype = tl.spec, tl.spec.type
    start = tl.now
    tl.add(start + rng.randint(1, 5), "Pending")
    if outcome == "stuck":
        variant = _CHOICES.pick(rng, "pending", wtype)
        pending_at = tl.spec.steps[-1].at
        spec.steps[-1].message = variant.phase_message
        spec.steps[-1].episode = tl.episode("pending", variant, pending_at)
        if rng.random() < 0.5:
            return  # still pending, for ever
        tl.add(pending_at + int(rng.uniform(STUCK_PENDING_S + 10 * MINUTE, 30 * HOUR)),
               "Initializing")
        outcome = "complete"
    else:
        wait = min(20 * MINUTE, int(rng.expovariate(1 / 90)) + 3)
        tl.add(tl.now + wait, "Initializing")
    if outcome == "fail":
        variant = _CHOICES.pick(rng, "failed", wtype)
        if variant.stage == "start":
            fail_at = tl.now + rng.randint(30, 600)
        else:
            tl.add(tl.now + rng.randint(10, 90), "Running")
            fail_at = tl.now + _run_length(rng, wtype)
        tl.add(fail_at, "Failed", variant.phase_message, -1)
        spec.steps[-1].episode = tl.episode("failed", variant, spec.steps[-1].at)
        if tl.attempt < 2 and rng.random() < 0.3:
            tl.add(tl.now + int(rng.uniform(10 * MINUTE, 3 * HOUR)), "Creating")
            tl.attempt += 1
            _live(rng, tl, "fail" if rng.random() < 0.6 else "complete")
        return
    tl.add(tl.now + rng.randint(10, 90), "Running")
    if outcome == "degrade":
        variant = _CHOICES.pick(rng, "degraded", wtype)
        tl.add(tl.now + int(rng.uniform(10 * MINUTE, 12 * HOUR)), "Degraded",
               variant.phase_message)
        spec.steps[-1].episode = tl.episode("degraded", variant, spec.steps[-1].at)
        if rng.random() < 0.5:
            tl.add(tl.now + int(rng.uniform(10 * MINUTE, 3 * HOUR)), "Running")
    end = tl.now + _run_length(rng, wtype)
    if wtype in ("training", "distributed"):
        tl.add(end, "Completed")
        if rng.random() < 0.15:
            spec.deleted_at = end + int(rng.uniform(HOUR, 3 * DAY))
    elif wtype == "workspace" or rng.random() < 0.3:
        tl.add(end, "Stopped", "Workload was stopped by user")


def cluster_ids(count: int) -> list[str]:
    """The tenant's cluster ids: the first is CLUSTER_ID, so one cluster looks as before."""
    base = uuid.UUID(CLUSTER_ID)
    return [CLUSTER_ID] + [str(uuid.uuid5(base, f"cluster/{i}")) for i in range(1, count)]


def cluster_name(index: int) -> str:
    name = CLUSTER_NAMES[index % len(CLUSTER_NAMES)]
    return name if index < len(CLUSTER_NAMES) else f"{name}-{index // len(CLUSTER_NAMES)}"


def _maybe_delete_failed(spec: WorkloadSpec) -> None:
    last = spec.steps[-1]
    if spec.deleted_at is not None or last.phase != "Failed":
        return
    rng = random.Random(f"runai-simulator:delete:{spec.id}")
    if rng.random() < DELETE_FAILED_SHARE:
        spec.deleted_at = last.at + int(rng.uniform(HOUR, 3 * DAY))


def _workload(rng: random.Random, index: int, created: int) -> WorkloadSpec:
    wtype = _weighted(rng, TYPE_WEIGHTS)
    base, image = rng.choice(_BASES[wtype])
    project = rng.choice(PROJECTS)
    if wtype == "distributed":
        pool, replicas, gpus = POOLS[rng.choice(("h100", "default"))], rng.choice((2, 2, 4, 8)), 8.0
    elif wtype == "inference":
        pool, replicas, gpus = POOLS[rng.choice(("l40s", "l40s", "default"))], 1, rng.choice(
            (0.5, 1.0, 1.0, 2.0))
    elif wtype == "workspace":
        pool, replicas, gpus = POOLS[rng.choice(("default", "l40s"))], 1, rng.choice((0.5, 1.0))
    else:
        pool, replicas, gpus = POOLS[rng.choice(("default", "h100"))], 1, float(
            rng.choice((1, 1, 2, 4, 8)))
    spec = WorkloadSpec(
        index=index,
        id=new_uuid(rng),
        name=f"{base}-{index:05d}",
        type=wtype,
        project=project,
        pool=pool,
        gpus=gpus,
        replicas=replicas,
        image=image,
        submitted_by=rng.choice(USERS),
        preemptible=wtype in ("training", "distributed") and rng.random() < 0.6,
        priority=rng.choice((50, 75)) if wtype in ("training", "distributed") else 100,
        created=created,
        nodes=tuple(rng.choice(pool.nodes) for _ in range(replicas)),
    )
    tl = _Timeline(spec)
    tl.add(created, "Creating")
    _live(rng, tl, _weighted(rng, OUTCOMES[wtype]))
    _maybe_delete_failed(spec)
    return spec


_PROJECT_ORDER = {p.name: i for i, p in enumerate(PROJECTS)}


def project_cluster(project: Project, clusters: int) -> int:
    """Projects belong to one cluster each, round robin over the tenant's clusters."""
    return _PROJECT_ORDER[project.name] % max(1, clusters)


def assign_clusters(specs: list[WorkloadSpec], clusters: int) -> None:
    """Workloads run in their project's cluster."""
    for spec in specs:
        spec.cluster = project_cluster(spec.project, clusters)


def generate(scenario: ScenarioSpec, seed: int, start: int) -> list[WorkloadSpec]:
    """All workloads of the scenario, in creation order. `start` is the simulated "now"."""
    rng = random.Random(f"runai-simulator:{scenario.name}:{seed}")
    count = scenario.history_workloads
    if count == 0:
        return []
    window = int(scenario.history_days * DAY)
    rate = count / window
    future = int(scenario.future_days * DAY * rate)
    created = sorted(start - window + int(rng.random() * window) for _ in range(count))
    # A handful of workloads at the very start so a fresh cluster has fresh activity too.
    created += sorted(start + 1 + int(rng.random() * scenario.future_days * DAY)
                      for _ in range(future))
    return [_workload(rng, i, at) for i, at in enumerate(created)]


def extra_workload(seed: int, index: int, created: int) -> WorkloadSpec:
    """A workload created on the fly (page drift): deterministic for (seed, index)."""
    rng = random.Random(f"runai-simulator:extra:{seed}:{index}")
    spec = _workload(rng, index, created)
    return spec
