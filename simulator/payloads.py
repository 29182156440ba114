"""JSON shapes of the Run:ai API for one workload at one step of its timeline.

Everything here is a pure function of (workload, step), so World can cache the results; nothing
depends on the simulated "now" except `deletedAt`, which is part of the cache key. Bodies carry
every field the newest version has; World drops what the served version's schema lacks.
"""

from __future__ import annotations

from typing import Any

from simulator.clock import iso
from simulator.evidence import PodState, container_name, pod_names, pod_uid
from simulator.generator import CLUSTER_ID, TENANT_ID
from simulator.model import Step, WorkloadSpec
from simulator.stamps import StepStamps, iso_ms
from simulator.templates import BY_KEY

TYPE_LABEL = {"training": "Training", "distributed": "Distributed", "workspace": "Workspace",
              "inference": "Inference"}
RUNAI_CATEGORY = {"training": "Train", "distributed": "Train", "workspace": "Build",
                  "inference": "Deploy"}
PRIORITY_CLASS = {50: "train", 75: "interactive-preemptible", 100: "build", 125: "inference"}
K8S_PHASE = {"Creating": "Pending", "Pending": "Pending", "Initializing": "Pending",
             "Running": "Running", "Degraded": "Running", "Failed": "Failed",
             "Completed": "Succeeded", "Stopped": "Stopped"}
TERMINAL = ("Completed", "Failed", "Stopped")


def priority(spec: WorkloadSpec) -> int:
    return 125 if spec.type == "inference" else spec.priority


def _resources(spec: WorkloadSpec) -> dict[str, Any]:
    return {
        "gpu": {"request": spec.gpus, "limit": None},
        "gpuRequestType": "portion",
        "cpu": {"request": 4.0 * max(1.0, spec.gpus), "limit": None},
        "cpuMemory": {"request": f"{int(32 * max(1.0, spec.gpus))}G", "limit": None},
    }


def _conditions(spec: WorkloadSpec, step: Step, stamps: StepStamps) -> list[dict[str, Any]]:
    reason = ""
    if step.episode >= 0:
        reason = BY_KEY[spec.episodes[step.episode].variant].condition_reason
    cond: dict[str, Any] = {"type": step.phase, "status": "True",
                            "lastTransitionTime": iso_ms(stamps.phase_updated)}
    if step.message:
        cond["message"] = step.message
    if reason:
        cond["reason"] = reason
    return [cond]


def workload(spec: WorkloadSpec, step_index: int, deleted_at: int | None,
             stamps: StepStamps | None = None, cluster_id: str = CLUSTER_ID) -> dict[str, Any]:
    """The Workload object (every field of the newest version). Without `stamps` its
    timestamps are the step's own second (World passes the seeded, ms-apart ones)."""
    step = spec.steps[step_index]
    terminal = step.phase in TERMINAL
    if stamps is None:
        stamps = StepStamps(float(step.at), float(step.at), float(step.at))
    running = step.phase in ("Running", "Degraded")
    allocated = spec.gpus * spec.replicas if running else 0.0
    phase_reason = None
    if step.episode >= 0:
        phase_reason = BY_KEY[spec.episodes[step.episode].variant].phase_reason
    body: dict[str, Any] = {
        "type": TYPE_LABEL[spec.type],
        "name": spec.name,
        "id": spec.id,
        "source": "Control-plane",
        "sourceApi": "WorkloadsV2",
        "priority": priority(spec),
        "priorityClassName": PRIORITY_CLASS[priority(spec)],
        "clusterId": cluster_id,
        "tenantId": TENANT_ID,
        "projectName": spec.project.name,
        "projectId": spec.project.id,
        "departmentName": spec.project.department_name,
        "departmentId": spec.project.department_id,
        "namespace": spec.project.namespace,
        "createdAt": iso(spec.created),
        "submittedBy": spec.submitted_by,
        "phase": step.phase,
        "phaseMessage": step.message,
        "phaseReason": phase_reason,
        "phaseUpdatedAt": iso_ms(stamps.phase_updated),
        "k8sPhase": K8S_PHASE[step.phase],
        "k8sPhaseUpdatedAt": iso_ms(stamps.completed if terminal else stamps.phase_updated),
        "updatedAt": iso_ms(stamps.phase_updated),
        "completedAt": iso_ms(stamps.completed) if terminal else None,
        "deletedAt": iso(deleted_at) if deleted_at is not None else None,
        "conditions": _conditions(spec, step, stamps),
        "category": RUNAI_CATEGORY[spec.type],
        "images": [spec.image],
        "runningPods": (spec.replicas - (1 if step.phase == "Degraded" else 0)) if running else 0,
        "requestedPods": {"number": spec.replicas},
        "workloadRequestedResources": _resources(spec),
        "podsRequestedResources": _resources(spec),
        "allocatedResources": {"gpu": allocated, "cpu": None, "cpuMemory": None},
        "requestedNodePools": [spec.pool.name],
        "currentNodePools": [spec.pool.name] if running else [],
        "preemptible": spec.preemptible,
        "idleAllocatedGpus": 0,
        "totalPendingTimeSeconds": step.pending_total,
        "totalRunningTimeSeconds": step.running_total,
        "actionsSupport": {"delete": True, "suspend": spec.type != "distributed"},
    }
    if spec.type == "distributed":
        body["distributedFramework"] = "PyTorch"
    return body


def filter_fields(spec: WorkloadSpec, step_index: int, stamps: StepStamps,
                  cluster_id: str) -> dict[str, Any]:
    """The values filterBy/sortBy/search look at, typed (dates as epoch seconds)."""
    step = spec.steps[step_index]
    running = step.phase in ("Running", "Degraded")
    prio = priority(spec)
    return {
        "type": TYPE_LABEL[spec.type], "name": spec.name, "clusterId": cluster_id,
        "projectId": spec.project.id, "projectName": spec.project.name,
        "departmentId": spec.project.department_id,
        "departmentName": spec.project.department_name,
        "createdAt": float(spec.created), "deletedAt": None,
        "submittedBy": spec.submitted_by, "phase": step.phase,
        "completedAt": stamps.completed if step.phase in TERMINAL else None,
        "nodepool": spec.pool.name,
        "distributedFramework": "PyTorch" if spec.type == "distributed" else None,
        "allocatedGPU": spec.gpus * spec.replicas if running else 0.0, "idleGpus": 0,
        "idleAllocatedGpus": 0, "phaseUpdatedAt": stamps.phase_updated,
        "category": RUNAI_CATEGORY[spec.type], "totalPendingTimeSeconds": step.pending_total,
        "totalRunningTimeSeconds": step.running_total, "priority": prio,
        "priorityClassName": PRIORITY_CLASS[prio], "guaranteedRuntimeEndsAt": None,
        "aiApplicationId": None, "aiApplicationName": None,
    }


def pending_messages(spec: WorkloadSpec, step: Step) -> list[dict[str, Any]]:
    if step.phase != "Pending" or step.episode < 0:
        return []
    variant = BY_KEY[spec.episodes[step.episode].variant]
    if not variant.pending_reason:
        return []
    return [{"nodePool": spec.pool.name, "reason": variant.pending_reason,
             "userMessage": step.message, "orgType": "PROJECT",
             "phaseReason": variant.phase_reason or "OverLimit"}]


def attempt_start(spec: WorkloadSpec, step_index: int) -> Step:
    attempt = spec.steps[step_index].attempt
    return next(s for s in spec.steps if s.attempt == attempt)


def step_of(spec: WorkloadSpec, step_index: int, phase: str) -> Step | None:
    """The first step of the current attempt with `phase`, at or before step_index."""
    attempt = spec.steps[step_index].attempt
    for s in spec.steps[: step_index + 1]:
        if s.attempt == attempt and s.phase == phase:
            return s
    return None


def is_scheduled(spec: WorkloadSpec, step_index: int) -> bool:
    """Bound to a node: it got past scheduling, or is stuck after it (a mount, a secret)."""
    if step_of(spec, step_index, "Initializing") is not None:
        return True
    step = spec.steps[step_index]
    return step.episode >= 0 and bool(BY_KEY[spec.episodes[step.episode].variant].state)


def normal_pod_state(spec: WorkloadSpec, step_index: int) -> PodState:
    """A pod's status when no failure applies to the current step."""
    step = spec.steps[step_index]
    running = step_of(spec, step_index, "Running")
    started = iso(running.at) if running else None
    if step.phase == "Pending":
        return PodState("Pending", "Unschedulable" if step.message else "")
    if step.phase in ("Creating", "Initializing"):
        return PodState("Pending", state={"waiting": {"reason": "ContainerCreating"}})
    if step.phase == "Completed":
        return PodState("Succeeded", state={"terminated": {
            "reason": "Completed", "exitCode": 0, "startedAt": started,
            "finishedAt": iso(step.at)}})
    return PodState("Running", state={"running": {"startedAt": started}})


def runai_pods(spec: WorkloadSpec, step_index: int, states: list[PodState], full: bool,
               stamps: StepStamps, cluster_id: str) -> list[dict[str, Any]]:
    step = spec.steps[step_index]
    start = attempt_start(spec, step_index)
    running = step_of(spec, step_index, "Running")
    scheduled = is_scheduled(spec, step_index)
    out = []
    for replica, name in enumerate(pod_names(spec)):
        state = states[replica]
        pod: dict[str, Any] = {
            "name": name,
            "id": pod_uid(spec, replica, step.attempt),
            "workloadId": spec.id,
            "clusterId": cluster_id,
            "projectId": spec.project.id,
            "tenantId": TENANT_ID,
            "createdAt": iso(start.at),
            "updatedAt": iso(step.at),
            "k8sPhase": state.phase,
            "k8sPhaseUpdatedAt": iso(step.at),
            "nodeName": spec.nodes[replica] if scheduled else None,
            "priorityClassName": PRIORITY_CLASS[priority(spec)],
            "currentNodePool": spec.pool.name if scheduled else None,
            "requestedNodePools": [spec.pool.name],
            "containers": [{"name": container_name(spec), "image": spec.image,
                            "startedAt": iso(running.at) if running else None}],
            "completedAt": iso_ms(stamps.completed) if step.phase in TERMINAL else None,
            "deletedAt": None,
            "requestedResources": _resources(spec),
        }
        if full:
            pod["workloadName"] = spec.name
            pod["projectName"] = spec.project.name
        out.append(pod)
    return out


def k8s_pod(spec: WorkloadSpec, step_index: int, replica: int, state: PodState) -> dict[str, Any]:
    """A core/v1 Pod as the Kubernetes API returns it."""
    step = spec.steps[step_index]
    start = attempt_start(spec, step_index)
    scheduled = is_scheduled(spec, step_index)
    name = pod_names(spec)[replica]
    container = container_name(spec)
    cstatus: dict[str, Any] = {
        "name": container, "image": spec.image, "imageID": "",
        "ready": "running" in state.state, "started": "running" in state.state,
        "restartCount": state.restarts, "state": state.state, "lastState": state.last_state,
    }
    status: dict[str, Any] = {"phase": state.phase, "qosClass": "Burstable"}
    if state.reason:
        status["reason"] = state.reason
    if state.message:
        status["message"] = state.message
    if scheduled:
        status["startTime"] = iso(start.at)
        status["hostIP"] = f"10.0.{replica % 8}.{10 + spec.index % 200}"
    if state.state:
        status["containerStatuses"] = [cstatus]
    if state.phase == "Pending" and state.reason == "Unschedulable":
        status["conditions"] = [{"type": "PodScheduled", "status": "False",
                                 "reason": "Unschedulable", "message": state.message,
                                 "lastTransitionTime": iso(step.at)}]
    spec_body: dict[str, Any] = {
        "containers": [{"name": container, "image": spec.image,
                        "resources": {"limits": {"nvidia.com/gpu": str(int(spec.gpus))}}
                        if spec.gpus >= 1 else {}}],
        "schedulerName": "runai-scheduler",
        "restartPolicy": "Always" if spec.type in ("inference", "workspace") else "Never",
    }
    if scheduled:
        spec_body["nodeName"] = spec.nodes[replica]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": spec.project.namespace,
            "uid": pod_uid(spec, replica, step.attempt),
            "creationTimestamp": iso(start.at),
            "labels": {"workloadName": spec.name, "project": spec.project.name,
                       "runai/queue": spec.project.name, "release": spec.name},
        },
        "spec": spec_body,
        "status": status,
    }
