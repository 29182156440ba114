"""The cluster's Kubernetes API: pod statuses, container log tails and pod events.

Run:ai's API has no logs and no container termination state; these come from Kubernetes, reached
with a KUBECONFIG file or the in-cluster service account. The monitor needs get/list on pods,
pods/log and events, nothing more.
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from common.errors import ConfigError, KubernetesError
from exporter.http_retry import Observer, Reply, RetryPolicy, ignore, send

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_TOKEN_REREAD_S = 60.0  # projected service-account tokens rotate; re-read the file now and then


@dataclass(frozen=True)
class KubeAccess:
    """How to reach the API server: its URL and credentials (never printed)."""

    server: str
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    verify: bool | str = True  # False (insecure-skip-tls-verify) or a CA bundle path
    client_cert: tuple[str, str] | None = None  # (cert file, key file)
    source: str = ""  # "kubeconfig <path>" or "in-cluster service account", for the banner


def discover(env: Mapping[str, str], sa_dir: Path = SERVICE_ACCOUNT_DIR) -> KubeAccess | None:
    """KUBECONFIG when set, else the in-cluster service account when mounted, else None."""
    kubeconfig = env.get("KUBECONFIG")
    if kubeconfig:
        return from_kubeconfig(kubeconfig.split(os.pathsep)[0])
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token_file = sa_dir / "token"
    if host and token_file.is_file():
        ca = sa_dir / "ca.crt"
        netloc = f"[{host}]" if ":" in host else host
        return KubeAccess(
            server=f"https://{netloc}:{port or '443'}",
            token_file=str(token_file),
            verify=str(ca) if ca.is_file() else True,
            source="in-cluster service account",
        )
    return None


def from_kubeconfig(path: str) -> KubeAccess:
    """The current context of a kubeconfig file. ConfigError (one line) when unusable."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"Cannot read KUBECONFIG {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError:
        raise ConfigError(f"KUBECONFIG {path} is not valid YAML") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"KUBECONFIG {path} is not a kubeconfig file")
    base = Path(path).resolve().parent
    context = _named(doc, "contexts", doc.get("current-context"), path, "context")
    cluster = _named(doc, "clusters", context.get("cluster"), path, "cluster")
    user = _named(doc, "users", context.get("user"), path, "user", required=False)
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"KUBECONFIG {path}: the cluster has no http(s) server URL")
    verify: bool | str = True
    if cluster.get("insecure-skip-tls-verify"):
        verify = False
    elif cluster.get("certificate-authority-data"):
        verify = _data_file(cluster["certificate-authority-data"], "ca.crt")
    elif cluster.get("certificate-authority"):
        verify = str(base / cluster["certificate-authority"])
    cert: tuple[str, str] | None = None
    if user.get("client-certificate-data") and user.get("client-key-data"):
        cert = (
            _data_file(user["client-certificate-data"], "client.crt"),
            _data_file(user["client-key-data"], "client.key"),
        )
    elif user.get("client-certificate") and user.get("client-key"):
        cert = (str(base / user["client-certificate"]), str(base / user["client-key"]))
    token_file = user.get("tokenFile")
    return KubeAccess(
        server=server,
        token=user.get("token") or None,
        token_file=str(base / token_file) if token_file else None,
        verify=verify,
        client_cert=cert,
        source=f"kubeconfig {path}",
    )


def _named(
    doc: dict[str, Any], section: str, name: Any, path: str, what: str, required: bool = True
) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(what)
            return body if isinstance(body, dict) else {}
    if required:
        raise ConfigError(f"KUBECONFIG {path}: {what} {name!r} not found")
    return {}


def _data_file(b64: str, name: str) -> str:
    # httpx wants files for CA and client certificates; the data lives only in this process.
    folder = tempfile.mkdtemp(prefix="runai-exporter-kube-")
    target = Path(folder) / name
    target.write_bytes(base64.b64decode(b64))
    target.chmod(0o600)
    return str(target)


def make_http(access: KubeAccess, max_connections: int = 16) -> httpx.Client:
    return httpx.Client(
        verify=access.verify,
        cert=access.client_cert,
        limits=httpx.Limits(max_connections=max_connections),
    )


class KubeClient:
    def __init__(
        self,
        access: KubeAccess,
        *,
        http: httpx.Client,
        policy: RetryPolicy | None = None,
        observe: Observer = ignore,
        on_token: Callable[[str], None] = lambda token: None,
    ) -> None:
        self._access = access
        self._on_token = on_token  # lets the log scrubber learn a token read from a file
        self._http = http
        self._policy = policy or RetryPolicy(attempts=2)
        self._observe = observe
        self._lock = threading.Lock()
        self._file_token: tuple[str, float] | None = None  # (token, read at)

    @property
    def server(self) -> str:
        return self._access.server

    def _headers(self) -> dict[str, str]:
        token = self._access.token
        if self._access.token_file:
            with self._lock:
                now = time.monotonic()
                if self._file_token is None or now - self._file_token[1] > _TOKEN_REREAD_S:
                    try:
                        text = Path(self._access.token_file).read_text().strip()
                    except OSError as exc:
                        raise KubernetesError(
                            f"cannot read the service-account token: {exc.strerror or exc}"
                        ) from None
                    self._on_token(text)
                    self._file_token = (text, now)
                token = self._file_token[0]
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _get(
        self, path: str, endpoint: str, params: Any, deadline: float | None, expect_json: bool
    ) -> Reply:
        reply = send(
            self._http, "GET", f"{self._access.server}{path}", endpoint=endpoint,
            error=KubernetesError, policy=self._policy, observe=self._observe,
            params=params, headers=self._headers(), deadline=deadline, expect_json=expect_json,
        )
        if reply.status in (401, 403):
            raise KubernetesError(
                f"GET {endpoint}: HTTP {reply.status}: the service account needs get/list "
                "on pods, pods/log and events"
            )
        return reply

    def pod(
        self, namespace: str, name: str, deadline: float | None = None
    ) -> dict[str, Any] | None:
        """One pod by name (found through Run:ai's pod list); None when it is gone."""
        endpoint = "k8s:/pods/{pod}"
        reply = self._get(
            f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}",
            endpoint, None, deadline, True,
        )
        if reply.status == 404:
            return None
        if reply.status != 200 or not isinstance(reply.data, dict):
            raise KubernetesError(f"GET {endpoint}: HTTP {reply.status}")
        return reply.data

    def pods(
        self, namespace: str, workload_name: str, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """The workload's pods (Run:ai labels them workloadName=<name>)."""
        return self._list(
            namespace, "pods", {"labelSelector": f"workloadName={workload_name}"}, deadline
        )

    def log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int,
        previous: bool = False,
        deadline: float | None = None,
    ) -> str | None:
        """A container's log tail; None when Kubernetes has none (pod gone, never started)."""
        reply = self._get(
            f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log",
            "k8s:/pods/{pod}/log",
            {"container": container, "tailLines": str(tail_lines),
             "previous": "true" if previous else "false"},
            deadline, False,
        )
        if reply.status in (400, 404):
            return None
        if reply.status != 200:
            raise KubernetesError(f"GET k8s:/pods/{{pod}}/log: HTTP {reply.status}")
        return reply.text

    def events(
        self, namespace: str, involved_name: str, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """Events about one object (a pod), as Kubernetes still holds them."""
        return self._list(
            namespace, "events", {"fieldSelector": f"involvedObject.name={involved_name}"}, deadline
        )

    def _list(
        self, namespace: str, resource: str, params: dict[str, str], deadline: float | None
    ) -> list[dict[str, Any]]:
        """The items of one namespaced list; a 404 (namespace gone) is an empty list."""
        endpoint = f"k8s:/{resource}"
        reply = self._get(
            f"/api/v1/namespaces/{quote(namespace, safe='')}/{resource}", endpoint,
            params, deadline, True,
        )
        if reply.status == 404:
            return []
        if reply.status != 200 or not isinstance(reply.data, dict):
            raise KubernetesError(f"GET {endpoint}: HTTP {reply.status}")
        items = reply.data.get("items")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
