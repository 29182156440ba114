"""`--clusters N`: one control plane, several clusters. Workloads carry their cluster's id,
`clusterId==` filters work, the clusters endpoint lists them, and the Kubernetes subset (the
cluster a sidecar runs in) has only the first cluster's pods."""

from __future__ import annotations

import httpx
import pytest

from simulator.generator import CLUSTER_ID
from tests.fixtures_simulator import assert_valid, fetch_all, serving


@pytest.fixture(scope="module")
def served():
    with serving(clusters=2) as both:
        yield both


@pytest.fixture(scope="module")
def sim(served):
    return served[0]


@pytest.fixture(scope="module")
def api(served):
    return served[1]



def test_clusters_endpoint_lists_both(api):
    body = assert_valid("/api/v1/clusters", "get", api.get("/api/v1/clusters"))
    ids = [c["uuid"] for c in body]
    assert len(ids) == 2 and ids[0] == CLUSTER_ID and len(set(ids)) == 2
    assert all(c["status"]["state"] == "Connected" for c in body)
    assert len({c["name"] for c in body}) == 2


def test_workloads_carry_their_cluster_and_filters_scope_them(api):
    everything = fetch_all(api)
    ids = [c["uuid"] for c in api.get("/api/v1/clusters").json()]
    per_cluster = {cid: fetch_all(api, filterBy=f"clusterId=={cid}") for cid in ids}
    assert all(per_cluster.values())
    assert sum(len(v) for v in per_cluster.values()) == len(everything)
    for cid, workloads in per_cluster.items():
        assert {w["clusterId"] for w in workloads} == {cid}
        count = api.get("/api/v1/workloads/count",
                        params={"filterBy": f"clusterId=={cid},phase==Failed"}).json()["count"]
        assert count == sum(w["phase"] == "Failed" for w in workloads)
    # A project lives in one cluster.
    project_clusters: dict[str, set[str]] = {}
    for w in everything:
        project_clusters.setdefault(w["projectName"], set()).add(w["clusterId"])
    assert all(len(c) == 1 for c in project_clusters.values())
    # Pods and events say the same cluster.
    other = next(w for w in per_cluster[ids[1]] if w["phase"] == "Failed")
    pods = api.get(f"/api/v1/workloads/{other['id']}/pods").json()["pods"]
    events = api.get(f"/api/v1/workloads/{other['id']}/events").json()["events"]
    assert {p["clusterId"] for p in pods} | {e["clusterId"] for e in events} == {ids[1]}


def test_projects_name_their_cluster(api):
    projects = api.get("/api/v1/org-unit/projects").json()["projects"]
    by_name = {p["name"]: p["clusterId"] for p in projects}
    assert len(set(by_name.values())) == 2
    for w in fetch_all(api):
        assert by_name[w["projectName"]] == w["clusterId"]
    cid = projects[0]["clusterId"]
    scoped = api.get("/api/v1/org-unit/projects", params={"filterBy": f"clusterId=={cid}"})
    assert {p["clusterId"] for p in scoped.json()["projects"]} == {cid}


def test_truth_names_the_cluster(sim, api):
    listed = {w["id"]: w["clusterId"] for w in fetch_all(api) + fetch_all(api, deleted="true")}
    episodes = sim.truth()["episodes"]
    assert {e["cluster_id"] for e in episodes} == set(listed.values())
    assert all(listed[e["workload_id"]] == e["cluster_id"] for e in episodes)


def test_the_kubernetes_subset_is_the_first_cluster(sim, api):
    ids = [c["uuid"] for c in api.get("/api/v1/clusters").json()]
    kube = httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {sim.k8s_token}"})
    with kube:
        for cid, found in ((ids[0], True), (ids[1], False)):
            w = next(w for w in fetch_all(api, filterBy=f"clusterId=={cid},phase==Running"))
            ns = w["namespace"]
            pods = kube.get(f"/api/v1/namespaces/{ns}/pods",
                            params={"labelSelector": f"workloadName={w['name']}"}).json()
            assert bool(pods["items"]) is found, (cid, w["name"])
            runai_pod = api.get(f"/api/v1/workloads/{w['id']}/pods").json()["pods"][0]
            r = kube.get(f"/api/v1/namespaces/{ns}/pods/{runai_pod['name']}")
            assert r.status_code == (200 if found else 404)


def test_one_cluster_is_the_default(make_simulator):
    sim = make_simulator(scale=50)
    r = httpx.get(f"{sim.url}/api/v1/clusters", headers=sim.auth_headers())
    assert [c["uuid"] for c in r.json()] == [CLUSTER_ID]
