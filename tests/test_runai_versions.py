"""The Run:ai client against every published control-plane version, 2.18 to 2.24.

The server is tests/strict_runai.py: built from each version's published spec alone, strict
where the spec is (token bodies, declared query parameters, filterBy as one parameter whose
items match the version's pattern), with the simulator's workloads behind it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.http_retry import RetryPolicy
from exporter.kube.client import KubeAccess, KubeClient
from exporter.metrics import MetricsState
from exporter.model import Workload
from exporter.monitor import CycleReport, Monitor, Settings
from exporter.runai import versions
from exporter.runai.client import RunaiClient
from history.store import HistoryStore
from simulator.config import SimulatorConfig
from simulator.generator import CLUSTER_ID
from tests.strict_runai import SPEC_DIR, VERSIONS, StrictRunai, resolve, spec
from tests.test_monitor import sim_now

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, timeout_s=10.0)
TOKEN_FORM = {
    "2.18": "v1 app_token (JSON)", "2.19": "v1 app_token (JSON)",
    **dict.fromkeys(("2.20", "2.21", "2.22", "2.23"), "v1 client_credentials (JSON)"),
    "2.24": "v2 client_credentials (OAuth2 form)",
}


def cluster(version: str, uuid: str = CLUSTER_ID, name: str = "sim") -> dict[str, Any]:
    return {"uuid": uuid, "name": name, "tenantId": 1, "createdAt": "2026-01-01T00:00:00Z",
            "version": f"{version}.3"}


# -- the tables are the specs ------------------------------------------------------------------
def _declared(version: str, path: str) -> dict[str, Any]:
    doc = spec(version)
    params = [resolve(doc, p) for p in doc["paths"][path]["get"].get("parameters", [])]
    return {p["name"]: p for p in params if p.get("in") == "query"}


@pytest.mark.parametrize("version", VERSIONS)
def test_the_tables_are_what_each_spec_declares(version: str) -> None:
    assert versions.VERSIONS == VERSIONS
    shipped = Path(versions.__file__).parent / "specs" / f"runai-{version}-subset.json"
    # The copies the exporter ships (the doctor validates against them) are the published ones.
    assert shipped.read_bytes() == (SPEC_DIR / shipped.name).read_bytes()
    exact = versions.ControlPlane.exactly(version, "test")
    for path in versions.QUERY_PARAMS_SINCE:
        declared = _declared(version, path)
        assert exact.params(path) == set(declared), path
        if "filterBy" in declared:
            doc = spec(version)
            pattern = resolve(doc, declared["filterBy"]["schema"])["items"]["pattern"]
            match = re.match(r"^\^\(([^)]*)\)", pattern)
            assert match
            fields = {f for f in match.group(1).split("|") if f}
            assert exact.filter_fields(path) == fields, path
            assert declared["filterBy"]["explode"] is False  # one parameter, comma-joined


@pytest.mark.parametrize("version", VERSIONS)
def test_the_token_forms_are_what_each_spec_takes(version: str) -> None:
    doc = spec(version)
    request = resolve(doc, doc["components"]["schemas"]["TokenRequest"])
    grants = set(resolve(doc, request["properties"]["grantType"])["enum"])
    working = [
        form for form in versions.TOKEN_FORMS
        if (form.path in doc["paths"]) and (form.form_encoded or (
            form.grant in grants and {form.id_field, form.secret_field} <= set(
                request["properties"])))
    ]
    first = working[0]
    assert first.name == TOKEN_FORM[version]
    plane = versions.control_plane_of(first)
    assert plane.low <= version <= plane.high


# -- the client and the monitor against each version ------------------------------------------
@pytest.fixture
def strict(make_simulator: Callable[..., Any]) -> Iterator[Callable[..., StrictRunai]]:
    made: list[StrictRunai] = []
    sims: dict[int, Any] = {}

    def make(version: str, *, secret: str | None = None, **options: Any) -> StrictRunai:
        sim = sims.get(0) or make_simulator(scale=60)
        sims[0] = sim
        server = StrictRunai(version, sim.url, sim.token(), sim.client_id,
                             sim.client_secret, clusters=[cluster(version)], **options)
        server.sim = sim  # type: ignore[attr-defined]
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def client_for(server: StrictRunai, secret: str | None = None, **kw: Any) -> RunaiClient:
    http = httpx.Client(transport=server, base_url="https://runai.example")
    server.clients.append(http)
    return RunaiClient("https://runai.example", server.client_id,
                       secret or server.client_secret, http=http, policy=FAST, **kw)


def _negotiation_400s(server: StrictRunai) -> list[str]:
    return [s.path for s in server.answered(400)]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_endpoint_the_sidecar_reads_is_taken(strict, version: str) -> None:
    server = strict(version)
    client = client_for(server)
    client.authenticate()
    assert client.token_form == TOKEN_FORM[version]
    assert client.control_plane.low <= version <= client.control_plane.high
    workloads = client.list_workloads()
    assert workloads and {w.cluster_id for w in workloads} == {CLUSTER_ID}
    assert client.cluster_id == CLUSTER_ID
    gone = client.list_workloads(deleted=True, deleted_since="2020-01-01T00:00:00Z")
    wid = workloads[0].id
    client.workload(wid)
    client.events(wid)
    client.history(wid)
    client.pods(wid)
    list(client.all_pods())
    list(client.all_pods(deleted=True))
    project = workloads[0].project
    assert {w.project for w in client.list_workloads([project])} == {project}
    assert isinstance(gone, list)
    assert server.answered(400, tokens=False) == []
    # Only the negotiation's own tries are answered 400: v1 client_credentials on 2.18/2.19.
    expected = ["/api/v1/token"] if version in ("2.18", "2.19") else []
    assert _negotiation_400s(server) == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_an_applications_credentials_are_taken_first_try_on_every_version(
    strict, version: str
) -> None:
    """app_token (appID/appSecret) is in every version's TokenRequest, 2.18 to 2.24: with an
    application's credentials no version refuses a try, and the version range stays open
    until the cluster's own version narrows it."""
    server = strict(version)
    client = client_for(server, application=True)
    client.authenticate()
    assert client.token_form == "v1 app_token (JSON)"
    assert [s.status for s in server.seen] == [200]
    client.list_workloads()
    assert client.control_plane.low <= version <= client.control_plane.high
    assert server.answered(400) == []
    from common.errors import AuthError

    with pytest.raises(AuthError, match=r"app_token.*check RUNAI_APP_ID and RUNAI_APP_SECRET$"):
        client_for(server, secret="wrong-secret", application=True).authenticate()


@pytest.mark.parametrize("version", ["2.18", "2.20", "2.24"])
def test_a_wrong_secret_is_a_credentials_error_on_each_form(strict, version: str) -> None:
    from common.errors import AuthError

    server = strict(version)
    with pytest.raises(AuthError, match="Run:ai rejected the credentials .*"
                       + re.escape(TOKEN_FORM[version])):
        client_for(server, secret="wrong-secret").authenticate()


@pytest.mark.parametrize("projects", [(), ("team-a",)], ids=["all", "project"])
@pytest.mark.parametrize("version", VERSIONS)
def test_two_monitor_cycles_send_nothing_the_version_refuses(
    strict, tmp_path: Path, version: str, projects: tuple[str, ...]
) -> None:
    server = strict(version)
    sim = server.sim  # type: ignore[attr-defined]
    if projects:
        listed = client_for(server).list_workloads()
        projects = (sorted({w.project for w in listed})[0],)
    kube_http = httpx.Client()
    server.clients.append(kube_http)
    first, second = two_cycles(client_for(server), MetricsState(projects), sim, kube_http,
                               projects, tmp_path)
    assert first.ok and second.ok, (first.error, second.error)
    assert server.answered(400, tokens=False) == []
    recorded = first.failures + second.failures
    assert recorded and {f.cluster_id for f in recorded} == {CLUSTER_ID}
    if projects:
        assert {f.project for f in recorded} == set(projects)
    filters = [dict(s.query).get("filterBy", "") for s in server.seen
               if s.path == "/api/v1/workloads"]
    assert all(f"clusterId=={CLUSTER_ID}" in f for f in filters)


def two_cycles(
    runai: RunaiClient, state: MetricsState, sim: Any, kube_http: httpx.Client,
    projects: tuple[str, ...], folder: Path,
) -> tuple[CycleReport, CycleReport]:
    """The sidecar's parts as cli.main wires them, two cycles six simulated hours apart."""
    kube = KubeClient(KubeAccess(server=sim.url, token=sim.k8s_token), http=kube_http,
                      policy=FAST, observe=state.observe_request)
    store = HistoryStore(folder / "history.db")
    store.open()
    monitor = Monitor(runai, kube, store, state, Settings(projects=projects),
                      now=sim_now(sim), sync_path=str(folder / "history.db"))
    monitor.load_known()
    first = monitor.run_cycle()
    sim.advance(6 * 3600)
    return first, monitor.run_cycle()


def test_several_clusters_refuse_to_guess(strict) -> None:
    from common.errors import ConfigError

    server = strict("2.22")
    server.clusters = [cluster("2.22"), cluster("2.22", "11111111-2222-3333-4444-555555555555",
                                                "other")]
    with pytest.raises(ConfigError, match="set RUNAI_CLUSTER_ID"):
        client_for(server).list_workloads()
    chosen = client_for(server, cluster_id=CLUSTER_ID)
    assert chosen.list_workloads()
    assert json.dumps([s.status for s in server.seen]).count("400") == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_a_stated_version_goes_straight_to_its_token_form(strict, version: str) -> None:
    server = strict(version)
    client = client_for(server, api_version=version)
    client.authenticate()
    assert client.token_form == TOKEN_FORM[version]
    assert [s.status for s in server.seen] == [200]


def test_another_clusters_workload_is_never_looked_up_locally(tmp_path: Path) -> None:
    state = MetricsState(())
    with httpx.Client() as http:
        runai = RunaiClient("http://127.0.0.1:9", "cid", "s", http=http, cluster_id=CLUSTER_ID)
        kube = KubeClient(KubeAccess(server="http://127.0.0.1:9", token="t"), http=http)
        store = HistoryStore(tmp_path / "h.db")
        monitor = Monitor(runai, kube, store, state, Settings())
        assert monitor._kube_for(Workload.from_api({"clusterId": CLUSTER_ID})) is kube
        assert monitor._kube_for(Workload.from_api({"clusterId": "another-cluster"})) is None
        unscoped = Monitor(RunaiClient("http://127.0.0.1:9", "cid", "s", http=http), kube, store,
                           state, Settings())
        assert unscoped._kube_for(Workload.from_api({"clusterId": "another-cluster"})) is kube


VERSION_TRUE_SIMULATOR = "api_version" in {f.name for f in fields(SimulatorConfig)}


@pytest.mark.skipif(not VERSION_TRUE_SIMULATOR,
                    reason="the simulator does not serve per-version APIs yet (sim-version-true)")
@pytest.mark.parametrize("projects", [(), ("FIRST",)], ids=["all", "project"])
@pytest.mark.parametrize("version", VERSIONS)
def test_two_cycles_against_the_version_true_simulator(
    make_simulator: Callable[..., Any], tmp_path: Path, version: str,
    projects: tuple[str, ...],
) -> None:
    """The simulator's own --api-version (its engineer's reading of the same specs): two
    cycles, no Run:ai request answered 400 but the negotiation's refused try on 2.18/2.19."""
    sim = make_simulator(scale=60, api_version=version)
    with httpx.Client() as http:
        state = MetricsState(())
        runai = RunaiClient(sim.url, sim.client_id, sim.client_secret, http=http, policy=FAST,
                            observe=state.observe_request)
        if projects:
            projects = (sorted({w.project for w in runai.list_workloads()})[0],)
        first, second = two_cycles(runai, state, sim, http, projects, tmp_path)
    assert first.ok and second.ok, (first.error, second.error)
    assert runai.token_form == TOKEN_FORM[version]
    refused = {endpoint: n for (endpoint, code), n in state.api_requests.items()
               if code == "400" and not endpoint.startswith("k8s:")}
    assert refused == ({"/api/v1/token": 1} if version in ("2.18", "2.19") else {})
    assert {f.cluster_id for f in first.failures + second.failures} == {runai.cluster_id}
