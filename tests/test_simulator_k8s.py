"""The Kubernetes subset: pods by label, logs (tail, previous), events with their TTL, auth,
Status errors and the kubeconfig - shapes checked against the Kubernetes schemas."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from simulator.kubeconfig import write_kubeconfig

K8S_VERSION = "1.30.0"


@pytest.fixture
def kube(simulator):
    with httpx.Client(base_url=simulator.url,
                      headers={"Authorization": f"Bearer {simulator.k8s_token}"}) as client:
        yield client


def _episode(simulator, category: str, kind: str = "failed", variant: str | None = None,
             workload_type: str | None = None) -> dict[str, Any]:
    """The newest truth episode of a category whose workload still shows that episode."""
    headers = simulator.auth_headers()
    for ep in reversed(simulator.truth()["episodes"]):
        if ep["category"] != category or ep["kind"] != kind:
            continue
        if (variant and ep["variant"] != variant) or (workload_type and (
                ep["workload_type"] != workload_type)):
            continue
        w = httpx.get(f"{simulator.url}/api/v1/workloads/{ep['workload_id']}",
                      headers=headers).json()
        if w["phaseUpdatedAt"] == ep["phase_updated_at"] and w.get("deletedAt") is None:
            return {**ep, "workload": w}
    raise AssertionError(f"no current {kind} episode of {category} in the scenario")


def _pods(kube: httpx.Client, ep: dict[str, Any]) -> list[dict[str, Any]]:
    ns = ep["workload"]["namespace"]
    r = kube.get(f"/api/v1/namespaces/{ns}/pods",
                 params={"labelSelector": f"workloadName={ep['workload_name']}"})
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    return list(body["items"])


def test_failed_pods_carry_termination_state_and_validate(simulator, kube):
    ep = _episode(simulator, "oom_killed")
    pods = _pods(kube, ep)
    assert pods
    for pod in pods:
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        assert pod["metadata"]["labels"]["workloadName"] == ep["workload_name"]
        assert pod["metadata"]["namespace"] == f"runai-{ep['project']}"
        assert pod["spec"]["nodeName"] and pod["spec"]["containers"][0]["image"]
    status = pods[0]["status"]["containerStatuses"][0]
    assert status["state"]["terminated"]["reason"] == "OOMKilled"
    assert status["state"]["terminated"]["exitCode"] == 137
    assert status["state"]["terminated"]["finishedAt"] == ep["timestamp"]


def test_preemption_trap_is_137_without_oom(simulator, kube):
    ep = _episode(simulator, "preempted", variant="preempted-137")
    term = _pods(kube, ep)[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 137 and term["reason"] == "Error"
    ns, pod = ep["workload"]["namespace"], _pods(kube, ep)[0]["metadata"]["name"]
    simulator_events = kube.get(f"/api/v1/namespaces/{ns}/events",
                                params={"fieldSelector": f"involvedObject.name={pod}"})
    assert simulator_events.status_code == 200


def test_log_tail_ends_in_the_real_error(simulator, kube):
    ep = _episode(simulator, "gpu_oom", workload_type="training")
    pod = _pods(kube, ep)[0]
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    container = pod["spec"]["containers"][0]["name"]
    full = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log", params={"container": container})
    assert full.status_code == 200 and full.headers["content-type"].startswith("text/plain")
    lines = full.text.splitlines()
    assert len(lines) >= 150
    tail = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log", params={"tailLines": 5})
    assert tail.text.splitlines() == lines[-5:]
    assert "out of memory" in full.text.lower() or "Out of memory" in full.text
    r = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log", params={"previous": "true"})
    assert r.status_code == 400
    assert r.json()["kind"] == "Status" and "previous terminated container" in r.json()["message"]
    r = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log", params={"container": "nope"})
    assert r.status_code == 400


def test_previous_log_of_a_restarted_container(simulator, kube):
    ep = _episode(simulator, "oom_killed", kind="degraded")
    pod = _pods(kube, ep)[0]
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] > 0
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    previous = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log",
                        params={"previous": "true"})
    current = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log")
    assert previous.status_code == current.status_code == 200
    assert previous.text != current.text


def test_hardware_failures_carry_xid_events_from_the_gpu_monitor(simulator):
    ep = _episode(simulator, "gpu_hardware")
    events = httpx.get(f"{simulator.url}/api/v1/workloads/{ep['workload_id']}/events",
                       headers=simulator.auth_headers(), params={"limit": 500}).json()["events"]
    monitor = [e for e in events if e["source"] == "gpu-health-monitor"]
    assert monitor and all(e["type"] == "Warning" for e in monitor)
    assert any("Xid" in e["message"] or "GPU is lost" in e["message"] for e in monitor)


def test_k8s_events_for_a_fresh_failure_then_gone_after_an_hour(make_simulator):
    sim = make_simulator()
    headers = {"Authorization": f"Bearer {sim.k8s_token}"}
    # Advance in steps until a failure with events happens in the last few minutes.
    for _ in range(200):
        sim.advance(600)
        truth = sim.truth()
        now = truth["now"]
        fresh = [e for e in truth["episodes"] if e["kind"] == "failed"
                 and e["category"] in ("gpu_hardware", "oom_killed", "evicted", "preempted")
                 and e["timestamp"] >= _minus(now, 600)]
        if fresh:
            break
    else:
        raise AssertionError("no fresh failure with events in 33 simulated hours")
    ep = fresh[0]
    ns = f"runai-{ep['project']}"
    pods = httpx.get(f"{sim.url}/api/v1/namespaces/{ns}/pods", headers=headers,
                     params={"labelSelector": f"workloadName={ep['workload_name']}"}).json()
    name = pods["items"][0]["metadata"]["name"]
    url = f"{sim.url}/api/v1/namespaces/{ns}/events"
    params = {"fieldSelector": f"involvedObject.name={name}"}
    body = httpx.get(url, headers=headers, params=params).json()
    assert body["kind"] == "EventList"
    assert body["items"] and all(e["involvedObject"]["name"] == name for e in body["items"])
    assert any(e["type"] == "Warning" for e in body["items"])
    before = {e["metadata"]["uid"] for e in body["items"]}
    now = sim.advance(2 * 3600)["now"]
    later = httpx.get(url, headers=headers, params=params).json()["items"]
    # Kubernetes keeps events about an hour; a resubmitted workload may have new ones.
    assert not before & {e["metadata"]["uid"] for e in later}
    assert all(e["lastTimestamp"] > _minus(now, 3600) for e in later)


def _minus(stamp: str, seconds: int) -> str:
    t = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pending_container_has_no_log_yet(simulator, kube):
    ep = _episode(simulator, "image_pull")
    pod = _pods(kube, ep)[0]
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    r = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}/log")
    assert r.status_code == 400 and "waiting to start" in r.json()["message"]


def test_distributed_oom_trap_peers_show_watchdog(simulator, kube):
    ep = _episode(simulator, "gpu_oom", variant="rank0-oom-peers-watchdog")
    pods = _pods(kube, ep)
    assert len(pods) >= 2
    ns = pods[0]["metadata"]["namespace"]
    logs = {p["metadata"]["name"]: kube.get(
        f"/api/v1/namespaces/{ns}/pods/{p['metadata']['name']}/log").text for p in pods}
    assert "CUDA out of memory" in logs[pods[0]["metadata"]["name"]]
    assert all("Watchdog caught collective operation timeout" in text
               for name, text in logs.items() if name != pods[0]["metadata"]["name"])


def test_auth_and_not_found_are_kubernetes_status(simulator):
    url = f"{simulator.url}/api/v1/namespaces/runai-team-nlp/pods"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.get(url, headers=headers)
        assert r.status_code == 401
        assert r.json()["kind"] == "Status" and r.json()["code"] == 401
    # A Run:ai token is not a Kubernetes token.
    r = httpx.get(url, headers=simulator.auth_headers())
    assert r.status_code == 401
    r = httpx.get(f"{url}/no-such-pod/log",
                  headers={"Authorization": f"Bearer {simulator.k8s_token}"})
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound" and r.json()["details"]["name"] == "no-such-pod"


def test_label_selector_is_parsed_strictly(kube):
    r = kube.get("/api/v1/namespaces/runai-team-nlp/pods", params={"labelSelector": "justaword"})
    assert r.status_code == 400 and r.json()["kind"] == "Status"
    r = kube.get("/api/v1/namespaces/runai-team-nlp/pods")
    assert r.status_code == 200
    assert all(p["metadata"]["namespace"] == "runai-team-nlp" for p in r.json()["items"])


def test_a_set_based_label_selector_lists_several_workloads_pods(simulator, kube):
    """`workloadName in (a,b)` as the API server takes it: one listing, both workloads."""
    r = kube.get("/api/v1/namespaces/runai-team-nlp/pods")
    by_name: dict[str, list[str]] = {}
    for pod in r.json()["items"]:
        by_name.setdefault(pod["metadata"]["labels"]["workloadName"], []).append(
            pod["metadata"]["name"])
    assert len(by_name) >= 3
    a, b, c = sorted(by_name)[:3]
    r = kube.get("/api/v1/namespaces/runai-team-nlp/pods",
                 params={"labelSelector": f"workloadName in ({a}, {b})"})
    assert r.status_code == 200
    assert sorted(p["metadata"]["name"] for p in r.json()["items"]) == sorted(
        by_name[a] + by_name[b])
    r = kube.get("/api/v1/namespaces/runai-team-nlp/pods",
                 params={"labelSelector": f"workloadName notin ({a}),project=team-nlp"})
    names = {p["metadata"]["labels"]["workloadName"] for p in r.json()["items"]}
    assert a not in names and {b, c} <= names
    for bad in (f"workloadName in ({a}", f"workloadName in ({a}) {b}"):
        r = kube.get("/api/v1/namespaces/runai-team-nlp/pods", params={"labelSelector": bad})
        assert r.status_code == 400 and r.json()["kind"] == "Status"


def test_kubeconfig_points_at_the_simulator(simulator, tmp_path):
    path = write_kubeconfig(tmp_path / "kube" / "config", simulator.url, simulator.k8s_token)
    assert path.stat().st_mode & 0o077 == 0
    config = yaml.safe_load(path.read_text())
    cluster = config["clusters"][0]["cluster"]
    token = config["users"][0]["user"]["token"]
    assert cluster["server"] == simulator.url
    r = httpx.get(f"{cluster['server']}/api/v1/namespaces/runai-team-nlp/pods",
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


def test_stuck_in_scheduling_has_no_node_but_stuck_mounting_has_one(simulator, kube):
    unscheduled = _pods(kube, _episode(simulator, "unschedulable", kind="pending"))[0]
    assert "nodeName" not in unscheduled["spec"]
    assert unscheduled["status"]["conditions"][0]["reason"] == "Unschedulable"
    mounting = _pods(kube, _episode(simulator, "storage", kind="pending"))[0]
    assert mounting["spec"]["nodeName"]
    assert mounting["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == (
        "ContainerCreating")


def test_a_long_stuck_pod_keeps_its_scheduling_event_fresh(simulator, kube):
    ep = _episode(simulator, "unschedulable", kind="pending")
    pod = _pods(kube, ep)[0]["metadata"]
    now = simulator.truth()["now"]
    assert ep["timestamp"] < _minus(now, 3600)  # stuck for more than the events' TTL
    items = kube.get(f"/api/v1/namespaces/{pod['namespace']}/events",
                     params={"fieldSelector": f"involvedObject.name={pod['name']}"}).json()["items"]
    assert items, "FailedScheduling repeats while the pod waits"
    event = items[-1]
    assert event["firstTimestamp"] < event["lastTimestamp"] and event["count"] > 1
    assert event["lastTimestamp"] > _minus(now, 3600)
