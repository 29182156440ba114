"""The live cluster: which step each workload is at for the simulated now, with caches.

Steps are applied incrementally from one time-sorted transition list as the clock moves, so a
request costs O(changes since the last request), not O(workloads). JSON bodies are cached per
(workload, step, deleted) and evidence per (workload, episode): they never change.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from simulator import logtext
from simulator.clock import SimClock, iso
from simulator.config import SimulatorConfig
from simulator.evidence import EventOut, Evidence, PodState, container_name, pod_names, render
from simulator.generator import assign_clusters, cluster_ids, extra_workload, generate
from simulator.model import WorkloadSpec
from simulator.payloads import (
    TERMINAL,
    filter_fields,
    normal_pod_state,
    runai_pods,
    step_of,
    workload,
)
from simulator.scenarios import get_scenario
from simulator.stamps import StepStamps, step_stamps
from simulator.versions import api_version

# Share of workloads whose placement events use the KAI scheduler's text.
KAI_SHARE = 0.5


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Current:
    """One visible workload as of now: its index, step and whether it is deleted."""

    index: int
    step: int
    deleted: bool


class World:
    def __init__(self, config: SimulatorConfig, start: float | None = None) -> None:
        """`start` (epoch seconds) overrides config.start; default: config.start or now."""
        self.config = config
        self.seed = config.seed
        if start is None:
            start = config.start.timestamp() if config.start is not None else config.clock()
        self.clock = SimClock(start, config.speed, config.clock)
        scenario = get_scenario(config.scenario, config.scale)
        if config.clusters < 1:
            raise ValueError("--clusters must be >= 1")
        self.version = api_version(config.api_version)
        self.cluster_ids = cluster_ids(config.clusters)
        self.specs: list[WorkloadSpec] = generate(scenario, config.seed, int(self.clock.start))
        assign_clusters(self.specs, config.clusters)
        # (at, workload, step); step -1 marks a deletion, which also drops cached listings.
        self._transitions: list[tuple[int, int, int]] = sorted(
            [(step.at, spec.index, i) for spec in self.specs for i, step in enumerate(spec.steps)]
            + [(spec.deleted_at, spec.index, -1) for spec in self.specs
               if spec.deleted_at is not None])
        self._cursor = 0
        self.current: list[int] = [-1] * len(self.specs)
        self.order: list[int] = []  # created workloads, oldest first
        self._deleted_at: list[float] = [
            math.inf if s.deleted_at is None else s.deleted_at for s in self.specs]
        self.by_id: dict[str, int] = {s.id: s.index for s in self.specs}
        self.by_name: dict[str, int] = {s.name: s.index for s in self.specs}
        self.pods: dict[tuple[str, str], tuple[int, int]] = {}
        for spec in self.specs:
            self._index_pods(spec)
        self._stamps: dict[tuple[int, int], StepStamps] = {}
        self._json: dict[tuple[int, int, bool], bytes] = {}
        self._fields: dict[tuple[int, int], dict[str, Any]] = {}
        self._evidence: dict[tuple[int, int], Evidence] = {}
        self._events: dict[int, list[tuple[EventOut, str]]] = {}
        self._queries: dict[Hashable, list[Any]] = {}
        self.now = self.clock.start
        self.sync()
        self.warm()

    # ---- time ---------------------------------------------------------------------------
    def sync(self) -> float:
        """Apply every transition up to the simulated now; returns now."""
        now = self.clock.now()
        self.now = now
        transitions, current = self._transitions, self.current
        cursor = self._cursor
        end = len(transitions)
        while cursor < end and transitions[cursor][0] <= now:
            _, index, step = transitions[cursor]
            if step == 0:
                self.order.append(index)
            if step >= 0:
                current[index] = step
            cursor += 1
        if cursor != self._cursor:
            self._queries.clear()
        self._cursor = cursor
        return now

    def query(self, key: Hashable, compute: Callable[[], list[Any]]) -> list[Any]:
        """A listing's result, reused until the cluster changes (pages of one scan are cheap)."""
        found = self._queries.get(key)
        if found is None:
            if len(self._queries) >= 32:
                self._queries.clear()
            found = self._queries[key] = compute()
        return found

    def warm(self) -> None:
        """Serialise every visible workload now, so the first full scan is as fast as later."""
        for index in self.order:
            cur = self.at(index)
            self.workload_json(cur)
            self.fields(cur)

    def advance(self, seconds: float) -> float:
        self.clock.advance(seconds)
        return self.sync()

    def advance_changes(self, changes: int) -> float:
        """Move the clock to the instant the next `changes` transitions (phase changes and
        deletions, as the API shows them) have happened; returns now. Fewer when the
        scenario's timelines end sooner: then to the last one."""
        if changes <= 0:
            return self.sync()
        ahead = self._transitions[self._cursor: self._cursor + changes]
        if not ahead:
            return self.sync()
        return self.advance(max(0.0, ahead[-1][0] - self.now))

    def changes_left(self) -> int:
        """Transitions still ahead of the simulated now."""
        return len(self._transitions) - self._cursor

    def add_workload(self) -> WorkloadSpec:
        """Create a workload now (the page-drift fault): it sorts first in the default order."""
        index = len(self.specs)
        spec = extra_workload(self.seed, index, int(self.now))
        assign_clusters([spec], len(self.cluster_ids))
        self.specs.append(spec)
        self.current.append(-1)
        self._deleted_at.append(math.inf if spec.deleted_at is None else spec.deleted_at)
        self.by_id[spec.id] = index
        self.by_name[spec.name] = index
        self._index_pods(spec)
        for i, step in enumerate(spec.steps):
            bisect.insort(self._transitions, (step.at, index, i), lo=self._cursor)
        if spec.deleted_at is not None:
            bisect.insort(self._transitions, (spec.deleted_at, index, -1), lo=self._cursor)
        self._queries.clear()
        self.sync()
        return spec

    def _index_pods(self, spec: WorkloadSpec) -> None:
        """Pods by (namespace, name) for the Kubernetes subset, which plays the first cluster:
        other clusters' pods are not in its API."""
        if spec.cluster != 0:
            return
        for replica, name in enumerate(pod_names(spec)):
            self.pods[(spec.project.namespace, name)] = (spec.index, replica)

    # ---- listing ------------------------------------------------------------------------
    def visible(self, deleted: bool = False) -> list[int]:
        """Indexes of workloads that exist now (or were deleted, when `deleted`), newest first."""
        now, gone = self.now, self._deleted_at
        if deleted:
            return [i for i in reversed(self.order) if gone[i] <= now]
        return [i for i in reversed(self.order) if gone[i] > now]

    def at(self, index: int) -> Current:
        return Current(index, self.current[index], self._deleted_at[index] <= self.now)

    def workload_json(self, cur: Current) -> bytes:
        key = (cur.index, cur.step, cur.deleted)
        body = self._json.get(key)
        if body is None:
            body = dumps(self.workload_dict(cur))
            self._json[key] = body
        return body

    def stamps(self, index: int, step: int) -> StepStamps:
        """When the phase change of `step` was recorded where (see stamps.py)."""
        key = (index, step)
        found = self._stamps.get(key)
        if found is None:
            found = self._stamps[key] = step_stamps(self.seed, self.specs[index], step)
        return found

    def cluster_of(self, index: int) -> str:
        return self.cluster_ids[self.specs[index].cluster]

    def workload_dict(self, cur: Current) -> dict[str, Any]:
        spec = self.specs[cur.index]
        body = workload(spec, cur.step, spec.deleted_at if cur.deleted else None,
                        self.stamps(cur.index, cur.step), self.cluster_of(cur.index))
        if not self.version.holds_text("Workload", "phaseReason"):
            body["phaseReason"] = None
        allowed = self.version.workload_fields
        return {k: v for k, v in body.items() if k in allowed}

    def pods_json(self, cur: Current, full: bool,
                  deleted_at: int | None = None) -> list[dict[str, Any]]:
        """The workload's pods as the Run:ai API lists them, in this version's fields;
        `deleted_at` renders them as deleted then (cur must then be a not-deleted view)."""
        states = self.pod_states(cur)
        if not states:
            return []
        spec = self.specs[cur.index]
        allowed = self.version.pod_fields
        out = []
        for pod in runai_pods(spec, cur.step, states, full, self.stamps(cur.index, cur.step),
                              self.cluster_of(cur.index)):
            if deleted_at is not None:
                pod["deletedAt"] = iso(deleted_at)
            out.append({k: v for k, v in pod.items() if k in allowed})
        return out

    def deleted_pods(self, cur: Current, full: bool) -> list[dict[str, Any]]:
        """Pods Run:ai keeps as deleted: those of earlier attempts (replaced when the workload
        was resubmitted, each as it was when its attempt ended) and, for a deleted workload,
        its last pods. Newest first."""
        spec = self.specs[cur.index]
        out: list[dict[str, Any]] = []
        if cur.deleted:
            out += self.pods_json(Current(cur.index, cur.step, False), full, spec.deleted_at)
        steps = spec.steps[: cur.step + 1]
        for i in range(len(steps) - 1, 0, -1):
            if steps[i].phase == "Creating":  # resubmitted: the earlier pods were replaced
                out += self.pods_json(Current(cur.index, i - 1, False), full, steps[i].at)
        return out

    def fields(self, cur: Current) -> dict[str, Any]:
        key = (cur.index, cur.step)
        found = self._fields.get(key)
        if found is None:
            spec = self.specs[cur.index]
            found = filter_fields(spec, cur.step, self.stamps(cur.index, cur.step),
                                  self.cluster_of(cur.index))
            self._fields[key] = found
        if cur.deleted:
            found = {**found, "deletedAt": float(self.specs[cur.index].deleted_at or 0)}
        return found

    def find(self, workload_id: str) -> Current | None:
        index = self.by_id.get(workload_id)
        if index is None or self.current[index] < 0:
            return None
        return self.at(index)

    # ---- evidence -----------------------------------------------------------------------
    def evidence(self, index: int, episode: int) -> Evidence:
        key = (index, episode)
        found = self._evidence.get(key)
        if found is None:
            found = render(self.specs[index], self.specs[index].episodes[episode], self.seed)
            self._evidence[key] = found
        return found

    def pod_states(self, cur: Current) -> list[PodState] | None:
        """Per replica: the pod's status now; None when the workload has no pods."""
        spec = self.specs[cur.index]
        step = spec.steps[cur.step]
        if step.phase in ("Creating", "Stopped") or cur.deleted:
            return None
        if step.episode >= 0:
            return self.evidence(cur.index, step.episode).pods
        state = normal_pod_state(spec, cur.step)
        crashed = self._crashed_before(cur)
        if crashed is None:
            return [state for _ in range(spec.replicas)]
        # Recovered from a crash loop in this attempt: the same pods, and Kubernetes keeps
        # their restart count, last termination and the crashed container's log.
        return [PodState(state.phase, state.reason, state.message, state.state,
                         pod.last_state, pod.restarts, previous_log=pod.previous_log)
                if pod.last_state else state for pod in crashed.pods]

    def _crashed_before(self, cur: Current) -> Evidence | None:
        """The evidence of the latest crash-loop episode earlier in the current attempt."""
        spec = self.specs[cur.index]
        step = spec.steps[cur.step]
        if step.phase not in ("Running", "Completed"):
            return None
        for earlier in reversed(spec.steps[: cur.step]):
            if earlier.attempt != step.attempt:
                return None
            if earlier.episode >= 0:
                found = self.evidence(cur.index, earlier.episode)
                return found if any(p.last_state for p in found.pods) else None
        return None

    def pod_log(self, cur: Current, replica: int, previous: bool) -> list[str] | None:
        spec = self.specs[cur.index]
        step = spec.steps[cur.step]
        states = self.pod_states(cur)
        if states is None:
            return None
        state = states[replica]
        if step.episode >= 0:
            return state.previous_log if previous else state.log
        if previous:
            return state.previous_log
        running = step_of(spec, cur.step, "Running")
        if running is None:
            return None
        seed = f"{self.seed}:{spec.id}:{step.attempt}:{replica}"
        if step.phase == "Completed":
            return logtext.output(seed, spec, 200, replica) + logtext.finished(spec)
        minutes = int(self.now - running.at) // 60
        return logtext.output(seed, spec, min(200, 12 + minutes), replica)

    def events(self, index: int) -> list[tuple[EventOut, str]]:
        """Every event of the workload's whole life, newest first, with a stable id."""
        found = self._events.get(index)
        if found is not None:
            return found
        spec = self.specs[index]
        names = pod_names(spec)
        out: list[EventOut] = []
        for i, step in enumerate(spec.steps):
            if step.episode >= 0 and spec.episodes[step.episode].step == i:
                out.extend(self.evidence(index, step.episode).events)
            kai = self.kai_scheduled(index)
            for replica, pod in enumerate(names):
                for ev in _lifecycle(spec, step.phase, step.at, replica, pod, kai):
                    ev.attempt = step.attempt
                    out.append(ev)
        out.sort(key=lambda e: e.at, reverse=True)
        found = [(e, str(uuid.uuid5(uuid.UUID(spec.id), f"event/{n}/{e.at}/{e.reason}")))
                 for n, e in enumerate(out)]
        self._events[index] = found
        return found

    def kai_scheduled(self, index: int) -> bool:
        """Whether the workload's placement events come in the KAI scheduler's words (about
        half of them, drawn per workload) rather than the kube-scheduler's."""
        return random.Random(f"kai:{self.seed}:{self.specs[index].id}").random() < KAI_SHARE

    def iso_now(self) -> str:
        return iso(self.now)


def _lifecycle(spec: WorkloadSpec, phase: str, at: int, replica: int, pod: str,
               kai: bool) -> list[EventOut]:
    c = container_name(spec)
    node = spec.nodes[replica]
    if phase == "Initializing":
        ns = spec.project.namespace
        placed = (f"Successfully assigned pod {ns}/{pod} to node {node} at node-pool "
                  f"{spec.pool.name}" if kai else f"Successfully assigned {ns}/{pod} to {node}")
        return [EventOut(at, "Normal", "Scheduled", placed, "runai-scheduler", replica),
                EventOut(at + 1, "Normal", "Pulling", f'Pulling image "{spec.image}"', "kubelet",
                         replica)]
    if phase == "Running":
        return [EventOut(at - 2, "Normal", "Pulled",
                         f'Successfully pulled image "{spec.image}"', "kubelet", replica),
                EventOut(at - 1, "Normal", "Created", f"Created container {c}", "kubelet",
                         replica),
                EventOut(at, "Normal", "Started", f"Started container {c}", "kubelet", replica)]
    if phase == "Stopped":
        return [EventOut(at, "Normal", "Killing", f"Stopping container {c}", "kubelet", replica)]
    if phase in TERMINAL and phase == "Completed" and replica == 0:
        return [EventOut(at, "Normal", "Completed", "Workload completed successfully",
                         "workload-controller", replica)]
    return []
