"""Kubeconfig `exec` credential plugins: the way EKS, GKE and AKS kubeconfigs authenticate.

The user entry names a command (aws eks get-token, gke-gcloud-auth-plugin, kubelogin...);
run with KUBERNETES_EXEC_INFO in its environment, it prints an ExecCredential whose status
holds a bearer token (or a client certificate) and, usually, when it expires. The contract is
Kubernetes' client-go credential plugin API (client.authentication.k8s.io v1 and v1beta1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common.errors import ConfigError, KubernetesError
from exporter.model import parse_time

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TIMEOUT_S = 30.0  # a plugin that asks for a browser login never answers: do not wait forever


@dataclass(frozen=True)
class ExecCredential:
    token: str | None = field(repr=False)
    client_cert: tuple[str, str] | None = field(repr=False)  # (certificate PEM, key PEM)
    expires_at: datetime | None


@dataclass(frozen=True)
class ExecPlugin:
    command: str  # a path (relative ones are taken from the kubeconfig's folder) or a name
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = field(repr=False)
    api_version: str
    cwd: str
    cluster: Mapping[str, Any] | None = field(default=None, repr=False)  # provideClusterInfo

    @property
    def name(self) -> str:
        return Path(self.command).name

    @classmethod
    def from_kubeconfig(
        cls, spec: Mapping[str, Any], base: Path, cluster: Mapping[str, Any]
    ) -> ExecPlugin:
        """From a kubeconfig user's `exec` section; ConfigError (one line) when unusable."""
        command = spec.get("command")
        if not isinstance(command, str) or not command:
            raise ConfigError("KUBECONFIG: the exec credential plugin has no command")
        api_version = str(spec.get("apiVersion") or "")
        if api_version not in API_VERSIONS:
            raise ConfigError(
                f"KUBECONFIG: exec plugin {Path(command).name}: apiVersion {api_version!r} is "
                f"not supported (use {' or '.join(API_VERSIONS)})"
            )
        if os.sep in command and not os.path.isabs(command):
            command = str(base / command)  # as kubectl does: relative to the kubeconfig
        env = tuple(
            (str(e.get("name")), str(e.get("value") or ""))
            for e in spec.get("env") or [] if isinstance(e, dict) and e.get("name")
        )
        args = tuple(str(a) for a in spec.get("args") or [])
        return cls(command, args, env, api_version, str(base),
                   cluster if spec.get("provideClusterInfo") else None)

    def run(self) -> ExecCredential:
        """Run the plugin once; KubernetesError (one line, no secret) when it gives nothing."""
        executable = shutil.which(self.command)
        if executable is None:
            raise KubernetesError(f"exec plugin {self.command!r} not found or not executable")
        info: dict[str, Any] = {"apiVersion": self.api_version, "kind": "ExecCredential",
                                "spec": {"interactive": False}}
        if self.cluster is not None:
            info["spec"]["cluster"] = {
                "server": self.cluster.get("server"),
                "certificate-authority-data": self.cluster.get("certificate-authority-data"),
                "insecure-skip-tls-verify": bool(self.cluster.get("insecure-skip-tls-verify")),
            }
        env = {**os.environ, **dict(self.env), "KUBERNETES_EXEC_INFO": json.dumps(info)}
        try:
            done = subprocess.run(
                [executable, *self.args], env=env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired:
            raise KubernetesError(
                f"exec plugin {self.name} gave no credential within {TIMEOUT_S:g} s "
                "(does it wait for an interactive login?)"
            ) from None
        except OSError as exc:
            raise KubernetesError(
                f"exec plugin {self.name} could not run: {exc.strerror or exc}"
            ) from None
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise KubernetesError(
                f"exec plugin {self.name} exited with status {done.returncode}"
                + (f": {said}" if said else "")
            )
        return self._credential(done.stdout)

    def _credential(self, stdout: str) -> ExecCredential:
        try:
            data = json.loads(stdout)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("kind") != "ExecCredential":
            raise KubernetesError(f"exec plugin {self.name} did not print an ExecCredential")
        if data.get("apiVersion") != self.api_version:
            raise KubernetesError(
                f"exec plugin {self.name} answered apiVersion {data.get('apiVersion')!r}, "
                f"the kubeconfig asks for {self.api_version!r}"
            )
        status = data.get("status")
        if not isinstance(status, dict):
            status = {}
        token = status.get("token")
        cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
        pair = (cert, key) if isinstance(cert, str) and isinstance(key, str) else None
        if not (isinstance(token, str) and token) and pair is None:
            raise KubernetesError(
                f"exec plugin {self.name}: its ExecCredential has neither a token nor a "
                "client certificate and key"
            )
        return ExecCredential(
            token=token if isinstance(token, str) and token else None,
            client_cert=pair,
            expires_at=parse_time(status.get("expirationTimestamp")),
        )
