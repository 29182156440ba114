"""The cluster's Kubernetes API: pod statuses, container log tails and pod events.

Run:ai's API has no logs and no container termination state; these come from Kubernetes, reached
with a KUBECONFIG file or the in-cluster service account. The monitor needs get/list on pods,
pods/log and events, nothing more.

Kubeconfigs from EKS, GKE and AKS carry no token: an `exec` credential plugin prints one
(exporter.kube.exec_credentials). The official `kubernetes` client's loader was tried and not
used: when a plugin fails it logs and falls back to no credentials (the anonymous calls this
replaces), it runs the plugin without a time limit, and it brings aiohttp, pydantic, requests
and urllib3 into a sidecar that speaks httpx.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from common.errors import ConfigError, KubernetesError
from exporter.config import DEFAULT_KUBE_MAX_IN_FLIGHT
from exporter.gate import Gate
from exporter.http_retry import Observer, Reply, RetryPolicy, ignore, send
from exporter.kube.exec_credentials import ExecPlugin

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_TOKEN_REREAD_S = 60.0  # projected service-account tokens rotate; re-read the file now and then
_EXEC_EARLY = timedelta(seconds=60)  # run the plugin again this long before its token expires
# A log read returns at most this much: a container that prints megabytes without a newline
# (progress bars) would otherwise be read whole into memory for its last 300 lines.
LOG_LIMIT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class KubeAccess:
    """How to reach the API server: its URL and credentials (never printed)."""

    server: str
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    verify: bool | str = True  # False (insecure-skip-tls-verify) or a CA bundle path
    client_cert: tuple[str, str] | None = None  # (cert file, key file)
    source: str = ""  # "kubeconfig <path>" or "in-cluster service account", for the banner
    exec_plugin: ExecPlugin | None = None  # the kubeconfig user's credential plugin
    token_expires_at: datetime | None = None  # of `token`, when a plugin gave it

    @property
    def tls(self) -> str:
        """How the server's certificate is checked, for the banner."""
        if self.verify is False:
            return "TLS verification OFF"
        return f"CA {self.verify}" if isinstance(self.verify, str) else "system CAs"


def discover(env: Mapping[str, str], sa_dir: Path = SERVICE_ACCOUNT_DIR) -> KubeAccess | None:
    """KUBECONFIG when set, else the in-cluster service account when mounted, else None.
    KUBE_CA_BUNDLE / KUBE_INSECURE_SKIP_TLS_VERIFY go over it in exporter.cli.with_tls."""
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
    token = user.get("token") or None
    plugin: ExecPlugin | None = None
    expires: datetime | None = None
    if not token and not token_file and not cert:
        _unsupported_auth(user, path)
        if isinstance(user.get("exec"), dict):
            plugin = ExecPlugin.from_kubeconfig(user["exec"], base, cluster)
            try:
                credential = plugin.run()
            except KubernetesError as exc:
                raise ConfigError(f"KUBECONFIG {path}: {exc}") from None
            token, expires = credential.token, credential.expires_at
            if credential.client_cert is not None:
                cert = (_data_file(credential.client_cert[0], "exec-client.crt", encoded=False),
                        _data_file(credential.client_cert[1], "exec-client.key", encoded=False))
    return KubeAccess(
        server=server,
        token=token,
        token_file=str(base / token_file) if token_file else None,
        verify=verify,
        client_cert=cert,
        source=f"kubeconfig {path}" + (f" (exec plugin {plugin.name})" if plugin else ""),
        exec_plugin=plugin,
        token_expires_at=expires,
    )


def _unsupported_auth(user: dict[str, Any], path: str) -> None:
    """One clear error for the ways a kubeconfig user authenticates that we do not speak,
    rather than calls that go out anonymous and fail one by one."""
    provider = user.get("auth-provider")
    if isinstance(provider, dict):
        name = provider.get("name")
        raise ConfigError(
            f"KUBECONFIG {path}: auth-provider {name!r} is not supported; use the provider's "
            "exec credential plugin (e.g. gke-gcloud-auth-plugin, kubelogin)"
        )
    if user.get("username") or user.get("password"):
        raise ConfigError(
            f"KUBECONFIG {path}: basic authentication (username/password) is not supported; "
            "use a token, a client certificate or an exec credential plugin"
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


def _data_file(data: str, name: str, *, encoded: bool = True) -> str:
    # ssl loads CA and client certificates from files; the data lives only in this process.
    folder = tempfile.mkdtemp(prefix="runai-exporter-kube-")
    target = Path(folder) / name
    target.touch(0o600)
    target.write_bytes(base64.b64decode(data) if encoded else data.encode())
    return str(target)


def ssl_context(access: KubeAccess) -> ssl.SSLContext:
    """The TLS settings of `access` as one context. ConfigError (one line) when its CA bundle
    or client certificate cannot be loaded."""
    try:
        if access.verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif isinstance(access.verify, str):
            context = ssl.create_default_context(cafile=access.verify)
        else:
            context = ssl.create_default_context()
        if access.client_cert is not None:
            context.load_cert_chain(*access.client_cert)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"Kubernetes TLS: cannot load the CA bundle or client certificate "
            f"({getattr(exc, 'strerror', None) or exc})"
        ) from None
    return context


def make_http(access: KubeAccess, max_connections: int = 16) -> httpx.Client:
    return httpx.Client(
        verify=ssl_context(access), limits=httpx.Limits(max_connections=max_connections)
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
        gate: Gate | None = None,  # the cap on requests in flight (exporter.gate)
    ) -> None:
        self.gate = gate or Gate(DEFAULT_KUBE_MAX_IN_FLIGHT)
        self._access = access
        self._on_token = on_token  # lets the log scrubber learn a token read from a file
        self._http = http
        self._policy = policy or RetryPolicy(attempts=2)
        self._observe = observe
        self._lock = threading.Lock()
        self._file_token: tuple[str, float] | None = None  # (token, read at)
        # The exec plugin's token and its expiry (None: no expiry given, kept until a 401)
        self._exec_token: tuple[str | None, datetime | None] = (
            access.token, access.token_expires_at
        )

    @property
    def server(self) -> str:
        return self._access.server

    @property
    def _refreshes_by_plugin(self) -> bool:
        # A plugin that gave a client certificate instead is read at start only: the
        # certificate is part of the TLS connection, not of each request.
        return self._access.exec_plugin is not None and self._access.token is not None

    def _headers(self) -> dict[str, str]:
        token = self._access.token
        if self._refreshes_by_plugin:
            token = self._plugin_token()
        elif self._access.token_file:
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

    def _plugin_token(self, *, rejected: str | None = None) -> str | None:
        """The exec plugin's token, run again shortly before it expires or once the API
        server rejected it (`rejected`)."""
        plugin = self._access.exec_plugin
        assert plugin is not None
        with self._lock:
            token, expires = self._exec_token
            stale = expires is not None and datetime.now(UTC) >= expires - _EXEC_EARLY
            if token is None or stale or (rejected is not None and token == rejected):
                credential = plugin.run()  # KubernetesError: a gap in this episode's evidence
                if credential.token:
                    self._on_token(credential.token)
                self._exec_token = (credential.token, credential.expires_at)
            return self._exec_token[0]

    def _get(
        self, path: str, endpoint: str, params: Any, deadline: float | None, expect_json: bool
    ) -> Reply:
        headers = self._headers()
        reply = self._send(path, endpoint, params, headers, deadline, expect_json)
        if reply.status == 401 and self._refreshes_by_plugin:
            # Revoked or expired early: the plugin may know better now; once, then give up.
            sent = headers.get("Authorization", "").removeprefix("Bearer ")
            token = self._plugin_token(rejected=sent)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            reply = self._send(path, endpoint, params, headers, deadline, expect_json)
        if reply.status in (401, 403):
            raise KubernetesError(
                f"GET {endpoint}: HTTP {reply.status}: the service account needs get/list "
                "on pods, pods/log and events"
            )
        return reply

    def _send(
        self, path: str, endpoint: str, params: Any, headers: dict[str, str],
        deadline: float | None, expect_json: bool,
    ) -> Reply:
        return send(
            self._http, "GET", f"{self._access.server}{path}", endpoint=endpoint,
            error=KubernetesError, policy=self._policy, observe=self._observe,
            params=params, headers=headers, deadline=deadline, expect_json=expect_json,
            gate=self.gate,
        )

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

    def pods_of(
        self, namespace: str, workload_names: Sequence[str], deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """The pods of several workloads of one namespace, with one set-based selector."""
        return self._list(namespace, "pods", {
            "labelSelector": f"workloadName in ({','.join(workload_names)})"}, deadline)

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
             "previous": "true" if previous else "false", "limitBytes": str(LOG_LIMIT_BYTES)},
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

    def pod_events(self, namespace: str, deadline: float | None = None) -> list[dict[str, Any]]:
        """Events about every pod of one namespace, as Kubernetes still holds them."""
        return self._list(namespace, "events", {"fieldSelector": "involvedObject.kind=Pod"},
                          deadline)

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
