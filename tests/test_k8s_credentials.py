"""Reaching a real Kubernetes API from outside the cluster: exec credential plugins (EKS, GKE,
AKS kubeconfigs) against the simulator's Kubernetes subset, and TLS with a private CA against
a real TLS server on loopback."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from common.errors import ConfigError, KubernetesError
from exporter.cli import tls_warnings, with_tls
from exporter.config import Config, TlsSettings
from exporter.http_retry import RetryPolicy
from exporter.kube.client import KubeAccess, KubeClient, discover, make_http
from simulator.app import create_app
from simulator.config import SimulatorConfig

FAST = RetryPolicy(attempts=1, base_delay_s=0.001, max_delay_s=0.002, timeout_s=5.0)
EXEC_API = "client.authentication.k8s.io/v1beta1"


def write_kubeconfig(path: Path, server: str, user: dict[str, Any],
                     cluster: dict[str, Any] | None = None) -> Path:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def write_plugin(folder: Path, tokens: list[str], expires_in_s: float | None = 3600,
                 exit_code: int = 0) -> Path:
    """A credential plugin: the n-th run prints tokens[n] (the last repeats) in an
    ExecCredential, and leaves what it was given (KUBERNETES_EXEC_INFO) beside itself."""
    expiry = ""
    if expires_in_s is not None:
        at = datetime.now(UTC) + timedelta(seconds=expires_in_s)
        expiry = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    script = folder / "plugin.sh"
    lines = ["#!/bin/sh", 'here="$(dirname "$0")"', 'echo run >> "$here/runs"',
             'printf "%s" "$KUBERNETES_EXEC_INFO" > "$here/exec-info.json"',
             'printf "%s" "$PLUGIN_GREETING" > "$here/env-seen"',
             'n=$(wc -l < "$here/runs")']
    if exit_code:
        lines += ['echo "plugin: not logged in" >&2', f"exit {exit_code}"]
    for i, token in enumerate(tokens):
        body = {"apiVersion": EXEC_API, "kind": "ExecCredential",
                "status": {"token": token, **({"expirationTimestamp": expiry} if expiry else {})}}
        test = "true" if i == len(tokens) - 1 else f'[ "$n" -le {i + 1} ]'
        lines.append(f"if {test}; then echo '{json.dumps(body)}'; exit 0; fi")
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def runs(folder: Path) -> int:
    path = folder / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def exec_user(**extra: Any) -> dict[str, Any]:
    return {"exec": {"apiVersion": EXEC_API, "command": "./plugin.sh", "args": ["--x"],
                     "env": [{"name": "PLUGIN_GREETING", "value": "hello"}], **extra}}


def namespaced_workload(simulator: Any) -> tuple[str, str]:
    listing = httpx.get(f"{simulator.url}/api/v1/workloads",
                        headers=simulator.auth_headers(), timeout=30).json()
    workload = next(w for w in listing["workloads"] if w.get("namespace"))
    return workload["namespace"], workload["name"]


def client(access: KubeAccess, http: httpx.Client) -> KubeClient:
    return KubeClient(access, http=http, policy=FAST)


def test_an_exec_plugin_s_token_reaches_the_api_server(simulator, tmp_path: Path) -> None:
    write_plugin(tmp_path, [simulator.k8s_token])
    path = write_kubeconfig(tmp_path / "kubeconfig", simulator.url, exec_user())
    access = discover({"KUBECONFIG": str(path)})
    assert access is not None and "exec plugin plugin.sh" in access.source
    assert simulator.k8s_token not in repr(access)
    namespace, name = namespaced_workload(simulator)
    with httpx.Client() as http:
        # The simulator answers 401 to any other bearer token (and to none).
        kube = client(access, http)
        assert isinstance(kube.pods(namespace, name), list)
        assert isinstance(kube.events(namespace, "any-pod"), list)
    assert runs(tmp_path) == 1  # once at start; the token is good for an hour
    info = json.loads((tmp_path / "exec-info.json").read_text())
    assert info == {"apiVersion": EXEC_API, "kind": "ExecCredential",
                    "spec": {"interactive": False}}
    assert (tmp_path / "env-seen").read_text() == "hello"


def test_an_expiring_token_is_fetched_again(simulator, tmp_path: Path) -> None:
    write_plugin(tmp_path, [simulator.k8s_token], expires_in_s=30)  # inside the early margin
    path = write_kubeconfig(tmp_path / "kubeconfig", simulator.url, exec_user())
    access = discover({"KUBECONFIG": str(path)})
    assert access is not None
    namespace, name = namespaced_workload(simulator)
    with httpx.Client() as http:
        kube = client(access, http)
        kube.pods(namespace, name)
        kube.pods(namespace, name)
    assert runs(tmp_path) == 3


def test_a_rejected_token_runs_the_plugin_once_more(simulator, tmp_path: Path) -> None:
    write_plugin(tmp_path, ["revoked-token", simulator.k8s_token])
    path = write_kubeconfig(tmp_path / "kubeconfig", simulator.url, exec_user())
    access = discover({"KUBECONFIG": str(path)})
    assert access is not None
    namespace, name = namespaced_workload(simulator)
    with httpx.Client() as http:
        assert isinstance(client(access, http).pods(namespace, name), list)
    assert runs(tmp_path) == 2


def test_a_token_the_plugin_keeps_giving_wrong_is_a_clear_error(simulator, tmp_path) -> None:
    write_plugin(tmp_path, ["wrong-token"])
    path = write_kubeconfig(tmp_path / "kubeconfig", simulator.url, exec_user())
    access = discover({"KUBECONFIG": str(path)})
    assert access is not None
    with httpx.Client() as http, pytest.raises(KubernetesError, match="HTTP 401"):
        client(access, http).pods("runai-x", "y")
    assert runs(tmp_path) == 2  # the start, and once after the 401; no loop


@pytest.mark.parametrize(
    ("user", "plugin", "message"),
    [
        (exec_user(), "fails", "exec plugin plugin.sh exited with status 3: plugin: not "
                               "logged in"),
        (exec_user(command="no-such-plugin-anywhere"), None, "not found"),
        (exec_user(apiVersion="client.authentication.k8s.io/v1alpha1"), None,
         "apiVersion 'client.authentication.k8s.io/v1alpha1' is not supported"),
        ({"auth-provider": {"name": "gcp", "config": {}}}, None,
         "auth-provider 'gcp' is not supported"),
        ({"username": "admin", "password": "pw"}, None, "basic authentication"),
    ],
)
def test_unusable_credentials_are_one_error_at_start(
    tmp_path: Path, user: dict[str, Any], plugin: str | None, message: str
) -> None:
    if plugin == "fails":
        write_plugin(tmp_path, ["t"], exit_code=3)
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k8s.example:6443", user)
    with pytest.raises(ConfigError, match=message) as raised:
        discover({"KUBECONFIG": str(path)})
    assert "\n" not in str(raised.value) and "pw" not in str(raised.value)


def test_a_plugin_that_prints_something_else_is_an_error(tmp_path: Path) -> None:
    script = tmp_path / "plugin.sh"
    script.write_text("#!/bin/sh\necho '{\"kind\": \"Status\"}'\n")
    script.chmod(0o755)
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k8s:6443", exec_user())
    with pytest.raises(ConfigError, match="did not print an ExecCredential"):
        discover({"KUBECONFIG": str(path)})


# ---- TLS with a private CA --------------------------------------------------------------
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a server certificate it signed for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
             "-subj", "/CN=throwaway test CA", cwd=folder)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext",
             cwd=folder)
    return folder


@pytest.fixture(scope="module")
def tls_simulator(pki: Path) -> Iterator[tuple[str, str]]:
    """The simulator's Kubernetes subset served over TLS on loopback: (url, bearer token)."""
    config = SimulatorConfig(scenario="demo", seed=7, speed=0.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), log_level="warning", access_log=False, lifespan="off", ws="none",
        ssl_certfile=str(pki / "server.crt"), ssl_keyfile=str(pki / "server.key"),
    ))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "TLS server did not start"
        time.sleep(0.01)
    yield f"https://127.0.0.1:{port}", config.k8s_token
    server.should_exit = True
    thread.join(timeout=10)


def _read_pods(access: KubeAccess) -> list[dict[str, Any]]:
    with make_http(access) as http:
        return client(access, http).pods("runai-x", "nothing")


def _access(tmp_path: Path, url: str, token: str, tls: TlsSettings | None = None,
            cluster: dict[str, Any] | None = None) -> KubeAccess:
    """As the sidecar starts: the kubeconfig, then KUBE_CA_BUNDLE / KUBE_INSECURE_... over it."""
    path = write_kubeconfig(tmp_path / "kubeconfig", url, {"token": token}, cluster)
    access = with_tls(discover({"KUBECONFIG": str(path)}), tls or TlsSettings())
    assert access is not None
    return access


def test_kube_ca_bundle_is_used(tls_simulator, pki: Path, tmp_path: Path) -> None:
    url, token = tls_simulator
    access = _access(tmp_path, url, token, TlsSettings(ca_bundle=str(pki / "ca.crt")))
    assert access.tls == f"CA {pki / 'ca.crt'}"
    assert _read_pods(access) == []


def test_without_the_ca_verification_fails(tls_simulator, tmp_path: Path) -> None:
    url, token = tls_simulator
    with pytest.raises(KubernetesError, match="TLS certificate verification failed"):
        _read_pods(_access(tmp_path, url, token))


def test_the_kubeconfig_s_own_ca_data_is_honoured(tls_simulator, pki, tmp_path) -> None:
    url, token = tls_simulator
    ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
    access = _access(tmp_path, url, token, cluster={"certificate-authority-data": ca})
    assert _read_pods(access) == []


def test_another_ca_is_not_trusted(tls_simulator, pki, tmp_path) -> None:
    url, token = tls_simulator
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "other.key", "-out", "other.crt", "-days", "1",
             "-subj", "/CN=other CA", cwd=tmp_path)
    access = _access(tmp_path, url, token, TlsSettings(ca_bundle=str(tmp_path / "other.crt")))
    with pytest.raises(KubernetesError, match="TLS certificate verification failed"):
        _read_pods(access)


@pytest.mark.parametrize("how", ["setting", "kubeconfig"])
def test_skipping_verification_works_and_is_warned(
    tls_simulator, tmp_path: Path, how: str
) -> None:
    url, token = tls_simulator
    if how == "setting":
        access = _access(tmp_path, url, token, TlsSettings(insecure_skip_verify=True))
    else:
        access = _access(tmp_path, url, token, cluster={"insecure-skip-tls-verify": True})
    assert access.tls == "TLS verification OFF"
    assert _read_pods(access) == []
    config = Config(base_url="https://runai.example", client_id="c", client_secret="s")
    [warning] = tls_warnings(config, access)
    assert "TLS certificate verification is OFF for the Kubernetes API" in warning


def test_a_kubeconfig_ca_that_is_not_pem_is_one_error_at_start(tmp_path: Path) -> None:
    junk = base64.b64encode(b"not a certificate\n").decode()
    access = _access(tmp_path, "https://k8s:6443", "t",
                     cluster={"certificate-authority-data": junk})
    with pytest.raises(ConfigError, match="cannot load the CA bundle"):
        make_http(access)


def test_a_plugin_s_client_certificate_is_used_and_read_once(tmp_path: Path) -> None:
    status = {"clientCertificateData": "-----BEGIN CERTIFICATE-----\nCERT\n",
              "clientKeyData": "-----BEGIN PRIVATE KEY-----\nKEY\n"}
    body = json.dumps({"apiVersion": EXEC_API, "kind": "ExecCredential", "status": status})
    script = tmp_path / "plugin.sh"
    script.write_text("#!/bin/sh\n" 'echo run >> "$(dirname "$0")/runs"\n'
                      f"printf '%s\\n' '{body}'\n")
    script.chmod(0o755)
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k8s:6443", exec_user())
    access = discover({"KUBECONFIG": str(path)})
    assert access is not None and access.token is None and access.client_cert is not None
    cert, key = (Path(p) for p in access.client_cert)
    assert cert.read_text() == status["clientCertificateData"]
    assert key.read_text() == status["clientKeyData"] and key.stat().st_mode & 0o077 == 0
    with httpx.Client() as http:
        assert client(access, http)._headers() == {}
    assert runs(tmp_path) == 1
