"""A workload that recovered from a crash loop keeps its pods, and Kubernetes keeps their
restart count, last termination and the crashed container's log (previous=true), as a real
cluster does; a workload that never crashed shows none."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures_simulator import RunningSimulator


def _recovered(sim: RunningSimulator) -> tuple[Any, Any]:
    """A workload now Running after a Degraded crash-loop spell in the same attempt."""
    world = sim.app.state.sim.world
    for index, spec in enumerate(world.specs):
        step_index = world.current[index]
        if step_index < 1 or spec.steps[step_index].phase != "Running":
            continue
        before = spec.steps[step_index - 1]
        if before.phase == "Degraded" and before.episode >= 0:
            evidence = world.evidence(index, before.episode)
            if any(p.last_state for p in evidence.pods):
                return spec, evidence
    raise AssertionError("no workload recovered from a crash loop in the scenario")


def test_a_recovered_pod_keeps_its_crash(simulator: RunningSimulator) -> None:
    spec, evidence = _recovered(simulator)
    headers = {"Authorization": f"Bearer {simulator.k8s_token}"}
    ns = spec.project.namespace
    with httpx.Client(base_url=simulator.url, headers=headers) as kube:
        [pod] = kube.get(f"/api/v1/namespaces/{ns}/pods",
                         params={"labelSelector": f"workloadName={spec.name}"}).json()["items"]
        status = pod["status"]["containerStatuses"][0]
        crashed = evidence.pods[evidence.replica]
        assert "running" in status["state"] and pod["status"]["phase"] == "Running"
        assert status["restartCount"] == crashed.restarts > 0
        assert status["lastState"] == crashed.last_state
        name = pod["metadata"]["name"]
        previous = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log",
                            params={"previous": "true"})
        assert previous.status_code == 200
        assert previous.text.splitlines()[-1] == (crashed.previous_log or [])[-1]


def test_a_pod_that_never_crashed_has_no_previous_log(simulator: RunningSimulator) -> None:
    world = simulator.app.state.sim.world
    index = next(i for i, spec in enumerate(world.specs)
                 if world.current[i] >= 0 and spec.type == "training" and not spec.episodes
                 and spec.steps[world.current[i]].phase == "Running")
    spec = world.specs[index]
    headers = {"Authorization": f"Bearer {simulator.k8s_token}"}
    with httpx.Client(base_url=simulator.url, headers=headers) as kube:
        r = kube.get(f"/api/v1/namespaces/{spec.project.namespace}/pods/{spec.name}-0-0/log",
                     params={"previous": "true"})
    assert r.status_code == 400  # as Kubernetes: no previous terminated container
