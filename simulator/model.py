"""The simulated cluster's static facts: org units, nodes and each workload's whole timeline.

A workload's life is generated up front as a list of steps (phase changes at simulated times);
what the API shows at simulated time t is the last step at or before t. Evidence for failure
episodes is rendered lazily from templates (see evidence.py), so generating 50,000 workloads
only costs a few random draws each.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    id: str
    department_name: str
    department_id: str

    @property
    def namespace(self) -> str:
        return f"runai-{self.name}"


@dataclass(frozen=True, slots=True)
class NodePool:
    name: str
    gpu_model: str
    nodes: tuple[str, ...]


@dataclass(slots=True)
class Step:
    at: int  # simulated epoch seconds when the phase was entered
    phase: str
    message: str
    episode: int  # index into WorkloadSpec.episodes, -1 when no failure applies
    attempt: int  # 0 for the first run, +1 per resubmission
    pending_total: int  # totalPendingTimeSeconds as of this step
    running_total: int  # totalRunningTimeSeconds as of this step


@dataclass(slots=True)
class Episode:
    kind: str  # failed | degraded | pending
    category: str
    variant: str  # key of the evidence template
    at: int  # when the workload entered the phase (== phaseUpdatedAt)
    step: int  # index of the step that starts the episode
    attempt: int


@dataclass(slots=True)
class WorkloadSpec:
    index: int
    id: str
    name: str
    type: str  # training | workspace | distributed | inference (API shows it capitalised)
    project: Project
    pool: NodePool
    gpus: float
    replicas: int
    image: str
    submitted_by: str
    preemptible: bool
    priority: int
    created: int
    nodes: tuple[str, ...]  # one per replica
    steps: list[Step] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    deleted_at: int | None = None
    cluster: int = 0  # index into the tenant's clusters (generator.cluster_ids)
