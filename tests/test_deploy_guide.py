"""The earlier agent's deployment guide, followed as its users type it.

docs/coming-from-the-guide.md holds the guide's steps verbatim (plus the IMAGE line it lacks):
they are run here exactly as written, with plain `envsubst` over the whole environment, and
every object is validated offline (kubernetes-validate, strict) with the guide's names checked.
The page's command table is parsed and every container, label, path and flag it names is
checked against the rendered manifests and the commands' own `--help`; its `db` commands are
run against a real history file. deploy/k8s/deploy.sh is run in its render-only mode.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from history.records import FailureRecord
from history.store import HistoryStore
from tests.test_deploy_k8s import (
    CREDENTIALS_SECRET,
    KUBERNETES_VERSION,
    kubectl,
    literal_secret_problems,
    one,
    pod_specs,
    security_problems,
    template_secret_problems,
)

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
PAGE = ROOT / "docs" / "coming-from-the-guide.md"
DEPLOY_SH = K8S / "deploy.sh"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CREDENTIAL_VARS = ("RUNAI_BASE_URL", "RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET", "NVIDIA_API_KEY",
                   "AGENT_API_TOKEN")


# ---- the guide's steps, as typed ----


def section(title: str) -> str:
    return PAGE.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def guide_lines() -> list[str]:
    (block,) = re.findall(r"```sh\n(.*?)```", section("The guide's steps"), flags=re.DOTALL)
    return [line.strip() for line in block.splitlines() if line.strip()]


def guide_exports() -> dict[str, str]:
    return dict(re.fullmatch(r"export (\w+)=(\S+)", line).groups()  # type: ignore[union-attr]
                for line in guide_lines() if line.startswith("export "))


def run_guide(exports: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The steps as a shell would run them: `cd`, the exports, each `envsubst < F | kubectl
    apply -f -` with plain envsubst (every variable of the environment)."""
    lines = guide_lines()
    assert lines[0] == "cd deploy/k8s"
    env = {**os.environ, **(guide_exports() if exports is None else exports)}
    objs: list[dict[str, Any]] = []
    for line in lines[1:]:
        if line.startswith("export "):
            continue
        left, right = (part.strip() for part in line.split("|"))
        assert right == "kubectl apply -f -" and left.startswith("envsubst < "), line
        out = subprocess.run(["sh", "-c", left], cwd=ROOT / "deploy" / "k8s", env=env,
                             capture_output=True, text=True, check=True, timeout=30).stdout
        objs += [doc for doc in yaml.safe_load_all(out) if doc]
    return objs


@pytest.fixture(scope="module")
def guide() -> list[dict[str, Any]]:
    return run_guide()


def test_the_guides_flow_as_typed_validates_strictly_with_its_names(
    guide: list[dict[str, Any]],
) -> None:
    env = guide_exports()
    assert sorted(o["kind"] for o in guide) == [
        "Deployment", "PersistentVolumeClaim", "Role", "RoleBinding", "Secret", "Service",
        "ServiceAccount"]
    for obj in guide:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == f"runai-{env['RUNAI_PROJECT']}"

    deployment = one(guide, "Deployment")
    template = deployment["spec"]["template"]
    containers = {c["name"]: c for c in template["spec"]["containers"]}
    assert set(containers) == {"nat-agent", "monitor-sidecar"}
    assert template["metadata"]["labels"]["job-name"] == env["RUNAI_JOB_NAME"]
    assert deployment["metadata"]["name"] == env["RUNAI_JOB_NAME"]
    assert {c["image"] for c in containers.values()} == {env["IMAGE"]}
    assert "--log-format=text" in containers["monitor-sidecar"]["args"]  # the guide's lines
    claim = one(guide, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "failure-analysis-pvc"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert {v["persistentVolumeClaim"]["claimName"] for v in template["spec"]["volumes"]
            if "persistentVolumeClaim" in v} == {"failure-analysis-pvc"}


def test_the_credentials_go_into_the_secret_and_nowhere_else(
    guide: list[dict[str, Any]],
) -> None:
    env = guide_exports()
    secret = one(guide, "Secret")
    assert secret["metadata"]["name"] == CREDENTIALS_SECRET
    # The application's pair (2.18/2.19) is not the guide's: it renders empty, read as not given.
    assert secret["stringData"] == {**{name: env[name] for name in CREDENTIAL_VARS},
                                    "RUNAI_APP_ID": "", "RUNAI_APP_SECRET": ""}
    others = yaml.safe_dump_all([o for o in guide if o["kind"] != "Secret"])
    for name in ("RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET", "NVIDIA_API_KEY"):
        assert env[name] not in others, name
    assert literal_secret_problems(guide, frozenset({CREDENTIALS_SECRET})) == []
    assert security_problems(guide) == []
    assert template_secret_problems(K8S / "runai-agent-with-sidecar.yaml") == []
    refs = {(var["valueFrom"]["secretKeyRef"]["name"], var["valueFrom"]["secretKeyRef"]["key"],
             bool(var["valueFrom"]["secretKeyRef"].get("optional")))
            for _, spec in pod_specs(guide) for c in spec["containers"]
            for var in c.get("env", []) if "secretKeyRef" in var.get("valueFrom", {})}
    assert {name for name, _, _ in refs} == {CREDENTIALS_SECRET}
    assert {key for _, key, optional in refs if not optional} <= set(secret["stringData"])


def test_a_secret_with_quotes_colons_and_backslashes_arrives_exactly() -> None:
    tricky = {**guide_exports(), "RUNAI_CLIENT_SECRET": "a\"b: c #d\\e'f{g}",
              "NVIDIA_API_KEY": ""}
    secret = one(run_guide(tricky), "Secret")
    assert secret["stringData"]["RUNAI_CLIENT_SECRET"] == tricky["RUNAI_CLIENT_SECRET"]
    assert secret["stringData"]["NVIDIA_API_KEY"] == ""


def test_the_template_check_catches_a_literal_secret(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                     "stringData:\n  RUNAI_CLIENT_SECRET: hunter2\n  OK: ${RUNAI_CLIENT_ID}\n")
    assert template_secret_problems(leaky) == [
        "leaky.yaml: Secret key RUNAI_CLIENT_SECRET holds a value, not a ${VAR}"]


def test_without_image_the_guides_flow_fails_as_the_issue_says() -> None:
    """Why deploy.sh exists: the guide never sets IMAGE, and the API server rejects image ''."""
    exports = {k: v for k, v in guide_exports().items() if k != "IMAGE"}
    env_image = os.environ.get("IMAGE")
    if env_image:
        pytest.skip("IMAGE is set in this environment")
    deployment = one(run_guide(exports), "Deployment")
    assert {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]} == {None}


# ---- deploy.sh ----


def deploy_sh(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECTL": kubectl(),
            "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["bash", str(DEPLOY_SH), *argv], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def guide_env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in guide_exports().items() if k not in names}


def test_deploy_sh_names_every_missing_variable_and_applies_nothing() -> None:
    done = deploy_sh("--dry-run")
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    for name in ("RUNAI_PROJECT", "RUNAI_JOB_NAME", "RUNAI_BASE_URL", "RUNAI_CLIENT_ID",
                 "RUNAI_CLIENT_SECRET"):
        assert sum(line.startswith(f"ERROR: {name} is not set: ") for line in lines) == 1, name
    assert len(lines) == 5

    one_missing = deploy_sh("--dry-run", env=guide_env_without("RUNAI_CLIENT_SECRET"))
    assert one_missing.returncode == 1
    assert one_missing.stderr.splitlines() == [
        line for line in lines if line.startswith("ERROR: RUNAI_CLIENT_SECRET")]


def test_deploy_sh_defaults_image_to_this_release_and_masks_secrets() -> None:
    env = guide_env_without("IMAGE")
    done = deploy_sh("--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert f"IMAGE not set: using runai-failure-analysis:{VERSION}" in done.stderr
    objs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    containers = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert {c["image"] for c in containers} == {f"runai-failure-analysis:{VERSION}"}
    assert set(one(objs, "Secret")["stringData"].values()) == {"******"}
    for name in ("RUNAI_CLIENT_SECRET", "NVIDIA_API_KEY", "RUNAI_CLIENT_ID"):
        assert env[name] not in done.stdout + done.stderr
    # What it renders is the guide's flow, the image aside.
    guide = run_guide({**env, "IMAGE": f"runai-failure-analysis:{VERSION}"})
    assert sorted(o["kind"] for o in objs) == sorted(o["kind"] for o in guide)
    assert one(objs, "Deployment") == one(guide, "Deployment")


@pytest.mark.parametrize(
    ("value", "name", "message"),
    [
        ("Team_A", "RUNAI_PROJECT", "RUNAI_PROJECT=Team_A is not a Run:ai project name"),
        ("mycompany.run.ai", "RUNAI_BASE_URL", "RUNAI_BASE_URL must be the control plane's URL"),
        ("two\nlines", "RUNAI_CLIENT_SECRET", "RUNAI_CLIENT_SECRET holds a line break"),
    ],
)
def test_deploy_sh_refuses_a_bad_value_in_one_line(value: str, name: str, message: str) -> None:
    done = deploy_sh("--dry-run", env={**guide_exports(), name: value})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith(f"ERROR: {message}")
    assert value not in done.stderr or name != "RUNAI_CLIENT_SECRET"


def sidecar_resources(rendered: str) -> dict[str, Any]:
    objs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    containers = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    resources: dict[str, Any] = next(c for c in containers
                                     if c["name"] == "monitor-sidecar")["resources"]
    return resources


GUIDE_SNIPPET = "resources:\n  requests:\n    memory: \"2Gi\"\n    cpu: \"500m\"\n"


def test_deploy_sh_rejects_the_guides_snippet_with_the_reason(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.yaml"
    snippet.write_text(GUIDE_SNIPPET)
    done = deploy_sh("--dry-run", "--resources", str(snippet), env=guide_exports())
    assert done.returncode == 1 and done.stdout == ""
    assert (f"ERROR: monitor-sidecar: memory request 2Gi is above its limit 1Gi, which "
            f"Kubernetes rejects; raise limits.memory to at least 2Gi in {snippet}"
            ) in done.stderr


def test_deploy_sh_accepts_the_snippet_with_limits_that_fit(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.yaml"
    snippet.write_text(GUIDE_SNIPPET + "  limits:\n    memory: 3Gi\n    cpu: '2'\n")
    done = deploy_sh("--dry-run", "--resources", str(snippet), env=guide_exports())
    assert done.returncode == 0, done.stderr
    assert sidecar_resources(done.stdout) == {"requests": {"cpu": "500m", "memory": "2Gi"},
                                              "limits": {"cpu": "2", "memory": "3Gi"}}
    assert "accepted" in done.stderr
    objs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    kubernetes_validate.validate(one(objs, "Deployment"), KUBERNETES_VERSION, strict=True)

    # The same snippet without the `resources:` key, for the agent's container.
    bare = tmp_path / "bare.yaml"
    bare.write_text("requests:\n  memory: 600Mi\nlimits:\n  memory: 500Mi\n")
    refused = deploy_sh("--dry-run", "--resources", str(bare), "--container", "nat-agent",
                        env=guide_exports())
    assert refused.returncode == 1
    assert "ERROR: nat-agent: memory request 600Mi is above its limit 500Mi" in refused.stderr


def test_deploy_sh_refuses_what_is_not_a_quantity(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.yaml"
    snippet.write_text("requests:\n  memory: 2GB\n")
    done = deploy_sh("--dry-run", "--resources", str(snippet), env=guide_exports())
    assert done.returncode == 1
    assert "memory quantity '2GB' is not a Kubernetes quantity" in done.stderr


# ---- the page's command table, checked against the manifests and the CLI ----


def table_rows() -> list[tuple[str, str]]:
    rows = []
    for line in section("Command by command").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 2 and cells[0] not in ("The guide typed", "---"):
            rows.append((cells[0], cells[1]))
    return rows


def commands_in(cell: str) -> list[str]:
    return [code.replace("\\|", "|") for code in re.findall(r"`([^`]+)`", cell)]


@cache
def help_text(*command: str) -> str:
    if command[0] == "deploy.sh":
        return deploy_sh("--help").stdout
    return subprocess.run([sys.executable, "-m", *command, "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=60).stdout


def long_flags(words: list[str]) -> list[str]:
    return [w.split("=", 1)[0] for w in words if w.startswith("--") and w != "--"]


def expand(text: str, env: dict[str, str]) -> str:
    """$NAME and ${NAME} as the shell would expand them from the page's variables."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env[m.group(1)], text)


def check_kubectl(words: list[str], guide: list[dict[str, Any]], env: dict[str, str]) -> None:
    deployment = one(guide, "Deployment")
    template = deployment["spec"]["template"]
    containers = {c["name"]: c for c in template["spec"]["containers"]}
    labels = template["metadata"]["labels"]
    inside = words[words.index("--") + 1:] if "--" in words else []
    outside = words[: len(words) - len(inside) - (1 if inside else 0)]
    for flag, value in itertools.pairwise(outside):
        if flag in ("-c", "--container"):
            assert value in containers, f"no container {value}"
        if flag == "-l":
            key, _, wanted = value.partition("=")
            assert labels.get(key) == expand(wanted, env), f"no pod label {value}"
    for word in outside:
        if word.startswith(("deploy/", "deployment/")):
            assert expand(word.split("/", 1)[1], env) == deployment["metadata"]["name"]
        assert "runai-agent-0-0" not in word  # the guide's pod name finds nothing here
    if inside:
        check_in_container(inside, containers[outside[outside.index("-c") + 1]])


def check_in_container(argv: list[str], container: dict[str, Any]) -> None:
    db_path = {e["name"]: e.get("value") for e in container["env"]}["RUNAI_FAILURE_DB_PATH"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    for word in argv:
        if word.startswith("/"):
            assert word == db_path or any(word.startswith(m + "/") for m in mounts), word
    if argv[0] == "runai-failure-exporter":
        assert container["command"] == ["runai-failure-exporter"]
        sub = ["exporter", *[w for w in argv[1:3] if not w.startswith("-")]]
        for flag in long_flags(argv):
            assert flag in help_text(*sub), f"{' '.join(sub)} has no {flag}"
    else:
        assert argv[0] in {"sh", "mv"}, argv


def test_every_name_on_the_page_exists(guide: list[dict[str, Any]]) -> None:
    env = {**guide_exports(), "NS": f"runai-{guide_exports()['RUNAI_PROJECT']}"}
    rows = table_rows()
    assert len(rows) >= 14
    for guide_cell, now_cell in rows:
        assert commands_in(now_cell), now_cell
        for command in commands_in(now_cell):
            words = shlex.split(command)
            if words[0] == "kubectl":
                check_kubectl(words, guide, env)
            elif words[0] == "deploy/k8s/deploy.sh":
                for flag in long_flags(words):
                    assert flag in help_text("deploy.sh"), flag
            elif words[0] == "envsubst":
                assert (K8S / words[2]).is_file()
        if "(unchanged)" in now_cell:
            assert commands_in(guide_cell)[0] == commands_in(now_cell)[0]
    # The sidecar flags the page's prose names.
    for flag in re.findall(r"`(--log-[a-z]+)=", PAGE.read_text()):
        assert flag in help_text("exporter"), flag


def test_the_page_covers_the_guides_pod_name_and_sqlite_commands() -> None:
    guide_cells = [c for g, _ in table_rows() for c in commands_in(g)]
    assert sum("runai-agent-0-0" in c for c in guide_cells) >= 10
    assert sum("sqlite3" in c for c in guide_cells) >= 4
    assert any("-90 days" in c for c in guide_cells)


def record(i: int) -> FailureRecord:
    ts = datetime.now(UTC) - timedelta(days=100 - 20 * i)
    return FailureRecord(
        episode_id=f"w{i}@{ts.isoformat()}", timestamp=ts, workload_id=f"w{i}",
        workload_name=f"job-{i}", project="team-a", department=None, workload_type="training",
        kind="failed", category="gpu_oom", confidence=0.9, summary="s", evidence="",
        evidence_source="none", recommendation="", node=None, pod=None, image=None,
        gpus_requested=None, exit_code=None, details={}, logs_available=False, bundle={},
    )


def test_the_pages_db_commands_run_against_a_real_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = HistoryStore(data / "runai_failure_history.db")
    store.open()
    store.enqueue([record(i) for i in range(5)])
    assert store.flush().error is None
    commands = [shlex.split(c) for _, now in table_rows() for c in commands_in(now)
                if "runai-failure-exporter db " in c]
    assert {argv[argv.index("db") + 1] for argv in commands} >= {"sql", "prune", "backup"}
    for argv in commands:
        inside = argv[argv.index("--") + 2:]
        local = [a.replace("/data", str(data)) for a in inside]
        if local[1] == "sql":
            local[2:2] = ["--db", str(data / "runai_failure_history.db")]
        done = subprocess.run([sys.executable, "-m", "exporter", *local], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{inside}: {done.stderr}"
        if "prune" in inside:
            assert done.stdout.startswith("deleted 1 failure events")  # the one 100 days old


# ---- reaching the UI: the optional Ingress component ----


def test_the_ingress_component_renders_into_the_kustomize_variant(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    kustomization = copy / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "\ncomponents:\n  - components/ingress\n")
    out = subprocess.run([kubectl(), "kustomize", str(copy)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    objs = [doc for doc in yaml.safe_load_all(out) if doc]
    ingress = one(objs, "Ingress")
    kubernetes_validate.validate(ingress, KUBERNETES_VERSION, strict=True)
    service = one(objs, "Service")
    assert ingress["metadata"]["namespace"] == service["metadata"]["namespace"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports[backend["port"]["name"]] == 3000  # the UI, which also serves /api
    # Without the component, no Ingress: it stays optional.
    plain = subprocess.run([kubectl(), "kustomize", str(K8S)], capture_output=True, text=True,
                           check=True, timeout=60).stdout
    assert "kind: Ingress" not in plain


# ---- scheduled backups ----

BACKUP_VARIANTS = {
    "runai": {"NAMESPACE": "runai-team-a", "DEPLOYMENT": "runai-agent"},
    "kustomized": {"NAMESPACE": "runai-failure-analysis", "DEPLOYMENT": "runai-failure-analysis"},
}


def render_backup(variables: dict[str, str]) -> list[dict[str, Any]]:
    text = (K8S / "backup-cronjob.yaml").read_text()
    header = text.split("apiVersion", 1)[0]
    line = next(x for x in header.splitlines() if "envsubst" in x)
    shell_format = re.search(r"envsubst '([^']+)'", line).group(1)  # type: ignore[union-attr]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables}
    out = subprocess.run(["envsubst", shell_format], input=text, capture_output=True, text=True,
                         check=True, env=env).stdout
    assert "$" not in out.split("apiVersion", 1)[1]
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("variant", sorted(BACKUP_VARIANTS))
def test_the_backup_cronjob_validates_and_can_only_exec(variant: str) -> None:
    variables = BACKUP_VARIANTS[variant]
    objs = render_backup(variables)
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == variables["NAMESPACE"]
    assert security_problems(objs) == [] and literal_secret_problems(objs) == []
    role = one(objs, "Role")
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]),
              tuple(r.get("resourceNames", ()))) for r in role["rules"]}
    assert rules == {(("apps",), ("deployments",), ("get",), (variables["DEPLOYMENT"],)),
                     (("",), ("pods",), ("get", "list"), ()),
                     (("",), ("pods/exec",), ("create",), ())}
    cron = one(objs, "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    sa = one(objs, "ServiceAccount")["metadata"]["name"]
    assert pod["serviceAccountName"] == sa
    assert one(objs, "RoleBinding")["subjects"][0]["name"] == sa
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"

    # What it runs: `kubectl exec` into the product's Deployment and sidecar, a real db command.
    argv = pod["containers"][0]["command"] + pod["containers"][0]["args"]
    product = (run_guide() if variant == "runai" else subprocess_kustomize())
    deployment = one(product, "Deployment")
    assert deployment["metadata"]["name"] == variables["DEPLOYMENT"]
    assert argv[:3] == ["kubectl", "exec", f"--namespace={variables['NAMESPACE']}"]
    assert argv[3] == f"deploy/{deployment['metadata']['name']}"
    assert deployment["metadata"].get("namespace", variables["NAMESPACE"]) == variables["NAMESPACE"]
    container = next(a.split("=", 1)[1] for a in argv if a.startswith("--container="))
    sidecar = next(c for c in deployment["spec"]["template"]["spec"]["containers"]
                   if c["name"] == container)
    check_in_container(argv[argv.index("--") + 1:], sidecar)


def subprocess_kustomize() -> list[dict[str, Any]]:
    out = subprocess.run([kubectl(), "kustomize", str(K8S)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_the_backup_command_of_the_cronjob_runs_and_keeps_n(tmp_path: Path) -> None:
    from history.admin import backup_into

    data = tmp_path / "data"
    data.mkdir()
    store = HistoryStore(data / "runai_failure_history.db")
    store.open()
    store.enqueue([record(4)])
    assert store.flush().error is None
    pod = one(render_backup(BACKUP_VARIANTS["runai"]), "CronJob")["spec"]["jobTemplate"][
        "spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    inside = [a.replace("/data", str(data)) for a in args[args.index("--") + 2:]]
    done = subprocess.run([sys.executable, "-m", "exporter", *inside], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (made,) = (data / "backups").glob("runai_failure_history-*.db")
    assert f"backed up {data / 'runai_failure_history.db'} to {made}" in done.stdout
    # Later days: only the newest `keep` stay.
    for day in range(1, 4):
        backup_into(data / "runai_failure_history.db", data / "backups", keep=2,
                    now=datetime.now(UTC) + timedelta(days=day))
    kept = sorted(p.name for p in (data / "backups").glob("runai_failure_history-*.db"))
    assert len(kept) == 2 and made.name not in kept


def test_deploy_sh_applies_server_side_what_it_rendered(tmp_path: Path) -> None:
    """Without --dry-run: one `kubectl apply --server-side` of the rendered objects, real
    values in the Secret. There is no cluster here, so kubectl's `apply` is recorded by a
    wrapper that hands every other subcommand (the rendering) to the real kubectl."""
    record = tmp_path / "applied.yaml"
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = apply ]; then echo "$@" > {tmp_path}/argv; '
        f'for last; do :; done; cp "$last" {record}; exit 0; fi\n'
        f'exec {kubectl()} "$@"\n'
    )
    wrapper.chmod(0o755)
    env = {**guide_exports(), "RUNAI_CLIENT_SECRET": "a\"b: c #d\\e'f{g} ${HOME}"}
    done = deploy_sh(env={**env, "KUBECTL": str(wrapper)})
    assert done.returncode == 0, done.stderr
    argv = (tmp_path / "argv").read_text().split()
    assert argv[:2] == ["apply", "--server-side"] and "-f" in argv
    objs = [doc for doc in yaml.safe_load_all(record.read_text()) if doc]
    assert one(objs, "Secret")["stringData"]["RUNAI_CLIENT_SECRET"] == env["RUNAI_CLIENT_SECRET"]
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert env["RUNAI_CLIENT_SECRET"] not in done.stdout + done.stderr


def test_deploy_sh_generates_the_agent_token_when_it_is_unset() -> None:
    """The agent refuses to listen beyond loopback without a token (issue 17): deploy.sh never
    renders a Secret that would leave it unable to start."""
    done = deploy_sh("--dry-run", env=guide_env_without("AGENT_API_TOKEN"))
    assert done.returncode == 0, done.stderr
    assert "AGENT_API_TOKEN not set: generated one; read it with kubectl" in done.stderr
    secret = one([doc for doc in yaml.safe_load_all(done.stdout) if doc], "Secret")
    assert secret["stringData"]["AGENT_API_TOKEN"] == "******"


def test_deploy_sh_takes_an_applications_pair_for_2_18() -> None:
    """On Run:ai 2.18/2.19 the only machine credential is an application's (app_token): the
    sidecar reads it as RUNAI_APP_ID/RUNAI_APP_SECRET, so deploy.sh and the manifest carry it."""
    env = {**guide_env_without("RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET"),
           "RUNAI_APP_ID": "failure-monitor-app", "RUNAI_APP_SECRET": "app-secret-value"}
    done = deploy_sh("--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert "app-secret-value" not in done.stdout + done.stderr
    objs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    containers = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    sidecar = next(c for c in containers if c["name"] == "monitor-sidecar")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in sidecar["env"]
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]}
    assert refs["RUNAI_APP_ID"] == "RUNAI_APP_ID" and refs["RUNAI_APP_SECRET"] == "RUNAI_APP_SECRET"
    assert {"RUNAI_APP_ID", "RUNAI_APP_SECRET", "RUNAI_CLIENT_ID"} <= set(
        one(objs, "Secret")["stringData"])


def test_deploy_sh_refuses_both_pairs_and_a_half_application_pair() -> None:
    both = deploy_sh("--dry-run", env={**guide_exports(), "RUNAI_APP_ID": "app",
                                       "RUNAI_APP_SECRET": "app-secret"})
    assert both.returncode == 1 and both.stdout == ""
    assert both.stderr.strip().splitlines()[-1].startswith("ERROR: set RUNAI_CLIENT_ID/")
    half = deploy_sh("--dry-run", env={
        **guide_env_without("RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET"), "RUNAI_APP_ID": "app"})
    assert half.returncode == 1
    (line,) = half.stderr.splitlines()
    assert line.startswith("ERROR: RUNAI_APP_SECRET is not set: that application's secret")
