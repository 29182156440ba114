"""Finding the Kubernetes API (kubeconfig or service account) and reading pods, logs, events."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import yaml

from common.errors import ConfigError, KubernetesError
from exporter.http_retry import RetryPolicy
from exporter.kube.client import (
    LOG_LIMIT_BYTES,
    KubeAccess,
    KubeClient,
    discover,
    from_kubeconfig,
)
from tests.fixtures_exporter import Answer, ScriptedServer

FAST = RetryPolicy(attempts=2, base_delay_s=0.001, max_delay_s=0.002, timeout_s=2.0)


def kubeconfig(path: Path, server: str, user: dict[str, object]) -> Path:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sim",
        "contexts": [{"name": "sim", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": server,
                                               "certificate-authority-data":
                                               base64.b64encode(b"CA PEM").decode()}}],
        "users": [{"name": "u", "user": user}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_kubeconfig_current_context(tmp_path: Path) -> None:
    access = from_kubeconfig(str(kubeconfig(tmp_path / "kc", "https://k8s:6443/",
                                            {"token": "kube-token-1"})))
    assert access.server == "https://k8s:6443"
    assert access.token == "kube-token-1"
    assert isinstance(access.verify, str) and Path(access.verify).read_bytes() == b"CA PEM"
    assert "kube-token-1" not in repr(access)


def test_kubeconfig_token_file_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file\n")
    access = from_kubeconfig(str(kubeconfig(tmp_path / "kc", "https://k8s",
                                            {"tokenFile": "tok"})))
    assert access.token_file == str(tmp_path / "tok")


@pytest.mark.parametrize(
    ("content", "message"),
    [("key: [unclosed", "not valid YAML"), ("[]", "not a kubeconfig"),
     ("current-context: nope\ncontexts: []\n", "context 'nope' not found")],
)
def test_broken_kubeconfig_is_a_one_line_config_error(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "kc").write_text(content)
    with pytest.raises(ConfigError, match=message):
        from_kubeconfig(str(tmp_path / "kc"))


def test_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read KUBECONFIG"):
        discover({"KUBECONFIG": str(tmp_path / "absent")})


def test_in_cluster_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("CA")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    access = discover(env, sa_dir=tmp_path)
    assert access is not None
    assert access.server == "https://10.0.0.1:443"
    assert access.token_file == str(tmp_path / "token")
    assert access.verify == str(tmp_path / "ca.crt")


def test_no_kubernetes_access(tmp_path: Path) -> None:
    assert discover({}, sa_dir=tmp_path) is None


@pytest.fixture
def kube(scripted: ScriptedServer, tmp_path: Path) -> Iterator[KubeClient]:
    (tmp_path / "token").write_text("sa-token-abc\n")
    access = KubeAccess(server=scripted.url, token_file=str(tmp_path / "token"))
    with httpx.Client() as http:
        yield KubeClient(access, http=http, policy=FAST)


def test_pods_by_workload_label(scripted: ScriptedServer, kube: KubeClient) -> None:
    scripted.script("/api/v1/namespaces/runai-team-a/pods",
                    Answer(200, json.dumps({"items": [{"metadata": {"name": "p0"}}]})))
    assert kube.pods("runai-team-a", "train-1") == [{"metadata": {"name": "p0"}}]
    seen = scripted.requests_to("/api/v1/namespaces/runai-team-a/pods")[0]
    assert parse_qs(seen.query) == {"labelSelector": ["workloadName=train-1"]}
    assert seen.headers["authorization"] == "Bearer sa-token-abc"


def test_log_tail_previous_container(scripted: ScriptedServer, kube: KubeClient) -> None:
    scripted.script("/api/v1/namespaces/ns/pods/p0/log",
                    Answer(200, "Traceback\nKeyError: 'x'\n", media_type="text/plain"))
    assert kube.log("ns", "p0", "main", tail_lines=200, previous=True) == \
        "Traceback\nKeyError: 'x'\n"
    query = parse_qs(scripted.requests_to("/api/v1/namespaces/ns/pods/p0/log")[0].query)
    # limitBytes bounds what a log of endless lines (progress bars) can cost us
    assert query == {"container": ["main"], "tailLines": ["200"], "previous": ["true"],
                     "limitBytes": [str(LOG_LIMIT_BYTES)]}
    assert LOG_LIMIT_BYTES <= 4 * 2**20


def test_log_of_a_container_that_never_ran_is_none(scripted: ScriptedServer, kube) -> None:
    scripted.script("/api/v1/namespaces/ns/pods/p0/log", Answer(400, "waiting to start"))
    assert kube.log("ns", "p0", "main", tail_lines=10) is None


def test_forbidden_names_the_rbac_needed(scripted: ScriptedServer, kube: KubeClient) -> None:
    scripted.script("/api/v1/namespaces/ns/events", Answer(403, "{}"))
    with pytest.raises(KubernetesError, match="get/list on pods, pods/log and events"):
        kube.events("ns", "p0")
