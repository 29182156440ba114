"""The sidecar's configuration: command-line flags over environment variables over defaults.

Every problem becomes one ConfigError with a one-line message; nothing here ever prints a secret
(the client secret is kept out of the dataclass repr).
"""

from __future__ import annotations

import argparse
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from common.bounds import bounded, env_flag
from common.errors import ConfigError
from common.version import add_version_flag
from exporter.runai.versions import parse_version

DEFAULT_DB_PATH = "/data/runai_failure_history.db"
DEFAULT_LISTEN = "0.0.0.0:10108"
DEFAULT_POLL_INTERVAL_S = 60.0
DEFAULT_RETENTION_DAYS = 90
DEFAULT_PENDING_THRESHOLD_S = 30 * 60.0
# Requests in flight at once, per API (exporter.gate; the reasoning: docs/sizing.md): Run:ai is
# a shared control plane, the Kubernetes API server is the cluster's own.
DEFAULT_RUNAI_MAX_IN_FLIGHT = 8
DEFAULT_KUBE_MAX_IN_FLIGHT = 16
DEFAULT_CENSUS_INTERVAL_S = 30 * 60.0  # exporter.listing: a full listing at least this often
DEFAULT_LISTING_OVERLAP_S = 5 * 60.0
REQUIRED_ENV = ("RUNAI_BASE_URL", "RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET")
# Instead of the client pair: an application's ID and secret, sent as app_token (every
# version 2.18-2.24 takes it; the only machine credential before 2.20).
APPLICATION_ENV = ("RUNAI_APP_ID", "RUNAI_APP_SECRET")


@dataclass(frozen=True)
class Config:
    base_url: str  # scheme://host[:port][/prefix], no trailing slash, no userinfo
    client_id: str
    client_secret: str = field(repr=False)
    db_path: str = DEFAULT_DB_PATH
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    projects: tuple[str, ...] = ()  # empty: every project
    listen_host: str = "0.0.0.0"
    # 9108 (our earlier default) is graphite_exporter's registered port, and the Prometheus
    # default-port allocations cover 9100-9999, all taken: ours lies outside that range.
    listen_port: int = 10108
    once: bool = False
    retention_days: int = DEFAULT_RETENTION_DAYS
    log_format: str = "text"
    log_level: str = "info"
    pending_threshold_s: float = DEFAULT_PENDING_THRESHOLD_S
    census_interval_s: float = DEFAULT_CENSUS_INTERVAL_S
    runai_max_in_flight: int = DEFAULT_RUNAI_MAX_IN_FLIGHT
    kube_max_in_flight: int = DEFAULT_KUBE_MAX_IN_FLIGHT
    listing_overlap_s: float = DEFAULT_LISTING_OVERLAP_S
    kubeconfig: str | None = None  # KUBECONFIG; None: in-cluster service account when present
    # The `cluster` label of every metric series; None: the Run:ai cluster id, else "default".
    cluster_name: str | None = None
    cluster_id: str | None = None  # RUNAI_CLUSTER_ID; None: the tenant's only cluster
    api_version: str | None = None  # RUNAI_API_VERSION; None: detected from the token form
    # The credentials are an application's (RUNAI_APP_ID/RUNAI_APP_SECRET: app_token), not a
    # service account's or access key's (RUNAI_CLIENT_ID/RUNAI_CLIENT_SECRET).
    application: bool = False
    runai_tls: TlsSettings = field(default_factory=lambda: TlsSettings())
    kube_tls: TlsSettings = field(default_factory=lambda: TlsSettings())  # read by exporter.kube


@dataclass(frozen=True)
class TlsSettings:
    """How one client checks its server's certificate (the same shape for Run:ai and
    Kubernetes): the system CAs, a private CA bundle, or (loudly) not at all."""

    ca_bundle: str | None = None
    insecure_skip_verify: bool = False

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx takes as `verify`; ConfigError when the bundle cannot be read."""
        if self.insecure_skip_verify:
            return False
        if self.ca_bundle is None:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ConfigError(f"Cannot read the CA bundle {self.ca_bundle}: {reason}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exporter",
        description=(
            "Run:ai failure monitoring sidecar: polls the Run:ai API, classifies workload "
            "failures, records them in a DuckDB file and serves Prometheus metrics."
        ),
        epilog=(
            "Environment: RUNAI_BASE_URL, RUNAI_CLIENT_ID, RUNAI_CLIENT_SECRET (required; or "
            "RUNAI_APP_ID, RUNAI_APP_SECRET for an application's credentials); "
            f"RUNAI_FAILURE_DB_PATH (default {DEFAULT_DB_PATH}); KUBECONFIG, or the in-cluster "
            "service account, for pod statuses and logs; RUNAI_CLUSTER_ID, RUNAI_API_VERSION, "
            "RUNAI_CA_BUNDLE, RUNAI_INSECURE_SKIP_TLS_VERIFY, KUBE_CA_BUNDLE, "
            "KUBE_INSECURE_SKIP_TLS_VERIFY (see the flags). Flags override the environment. "
            "Other commands: `python -m exporter classify --help`, `python -m exporter db "
            "--help`, `python -m exporter doctor --help` (will the sidecar work here?)."
        ),
    )
    add_version_flag(parser, "runai-failure-exporter")
    parser.add_argument(
        "--poll-interval", default=None, metavar="SECONDS",
        help=f"seconds between polls (default {DEFAULT_POLL_INTERVAL_S:g})",
    )
    parser.add_argument(
        "--project", action="extend", nargs="+", default=None, metavar="NAME",
        help="watch only these projects: --project a b, or repeat the flag (default: all)",
    )
    parser.add_argument(
        "--db", default=None, metavar="PATH",
        help=f"DuckDB history file (default $RUNAI_FAILURE_DB_PATH or {DEFAULT_DB_PATH})",
    )
    parser.add_argument(
        "--listen", default=None, metavar="HOST:PORT",
        help=f"where /metrics, /healthz and /readyz are served (default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--once", action="store_true",
        help="run one cycle, write it, exit 0 if it succeeded and 1 if it failed",
    )
    parser.add_argument(
        "--retention-days", default=None, metavar="DAYS",
        help=f"delete history older than this, checked daily (default {DEFAULT_RETENTION_DAYS})",
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default=None,
        help="text lines (default) or one JSON object per line",
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default=None,
        help="info (default); debug adds a `Checking: <job> (project=..., phase=...)` line "
        "per workload and poll",
    )
    parser.add_argument(
        "--pending-threshold", default=None, metavar="SECONDS",
        help="a workload Pending longer than this is recorded as a pending episode "
        f"(default {DEFAULT_PENDING_THRESHOLD_S:g})",
    )
    parser.add_argument(
        "--census-interval", default=None, metavar="SECONDS",
        help="on Run:ai 2.22+, steady cycles list only the workloads that changed; a full "
        "listing runs at least this often ($RUNAI_CENSUS_INTERVAL, default "
        f"{DEFAULT_CENSUS_INTERVAL_S:g}; 0: every cycle lists every workload)",
    )
    parser.add_argument(
        "--runai-max-in-flight", default=None, metavar="N",
        help="requests to Run:ai in flight at once, at most; halved while it answers 429/503 "
        f"($RUNAI_MAX_IN_FLIGHT, default {DEFAULT_RUNAI_MAX_IN_FLIGHT})",
    )
    parser.add_argument(
        "--kube-max-in-flight", default=None, metavar="N",
        help="requests to the Kubernetes API in flight at once, at most ($KUBE_MAX_IN_FLIGHT, "
        f"default {DEFAULT_KUBE_MAX_IN_FLIGHT})",
    )
    parser.add_argument(
        "--listing-overlap", default=None, metavar="SECONDS",
        help="changes are listed from the newest phaseUpdatedAt seen less this, for a change "
        f"the control plane shows late ($RUNAI_LISTING_OVERLAP, default "
        f"{DEFAULT_LISTING_OVERLAP_S:g})",
    )
    parser.add_argument(
        "--cluster-name", default=None, metavar="NAME",
        help="the `cluster` label on every metric series (default $RUNAI_CLUSTER_NAME, else "
        "the Run:ai cluster id, else 'default'); one per cluster, so a fleet's series stay apart",
    )
    add_connection_flags(parser)
    return parser


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """Where the control plane is and how to reach it (the sidecar and `doctor` share them)."""
    parser.add_argument(
        "--base-url", default=None, metavar="URL",
        help="Run:ai control-plane URL (default $RUNAI_BASE_URL)",
    )
    parser.add_argument(
        "--cluster-id", default=None, metavar="UUID",
        help="the Run:ai cluster this sidecar runs in (default $RUNAI_CLUSTER_ID, else the "
        "tenant's only cluster)",
    )
    parser.add_argument(
        "--api-version", default=None, metavar="X.Y",
        help="the control plane's version, e.g. 2.22 (default $RUNAI_API_VERSION, else "
        "detected from the token endpoint)",
    )
    parser.add_argument(
        "--runai-ca-bundle", default=None, metavar="PATH",
        help="PEM CA bundle for the control plane's certificate (default $RUNAI_CA_BUNDLE)",
    )
    parser.add_argument(
        "--runai-insecure-skip-tls-verify", action="store_true", default=None,
        help="do not verify the control plane's certificate (insecure; warned at every start)",
    )
    parser.add_argument(
        "--kube-ca-bundle", default=None, metavar="PATH",
        help="PEM CA bundle for the Kubernetes API's certificate (default $KUBE_CA_BUNDLE)",
    )
    parser.add_argument(
        "--kube-insecure-skip-tls-verify", action="store_true", default=None,
        help="do not verify the Kubernetes API's certificate (insecure; warned at every start)",
    )


def parse_base_url(raw: str) -> str:
    """Validate and normalise the control-plane URL; userinfo is refused (it would be a secret)."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError as exc:
        raise ConfigError(f"Invalid RUNAI_BASE_URL {text!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Invalid RUNAI_BASE_URL {_shown_url(text)!r}: expected https://<host>[:port]"
        )
    if parts.username or parts.password:
        raise ConfigError(
            "Invalid RUNAI_BASE_URL: credentials in the URL are not supported; "
            "use RUNAI_CLIENT_ID and RUNAI_CLIENT_SECRET"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"Invalid RUNAI_BASE_URL {text!r}: no query or fragment allowed")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _shown_url(text: str) -> str:
    # Never echo anything that could be userinfo.
    return text.rsplit("@", 1)[-1] if "@" in text else text


def parse_listen(raw: str) -> tuple[str, int]:
    host, sep, port_text = raw.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"Invalid --listen {raw!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return (host.strip("[]") or "0.0.0.0"), int(port_text)


def _number(flag: str, raw: str | None, default: float) -> float:
    return default if raw is None else bounded(flag, raw)


def load_config(argv: Sequence[str], env: Mapping[str, str]) -> Config:
    """Flags, then environment, then defaults. Raises ConfigError (one line) on any problem;
    argparse itself exits 2 with its usage message on an unknown flag."""
    args = build_parser().parse_args(list(argv))
    connection = connection_config(args, env)
    # Numbers are read as text and checked against common.bounds: argparse's float() would
    # accept inf and nan.
    poll = _number("--poll-interval", args.poll_interval, DEFAULT_POLL_INTERVAL_S)
    retention = int(_number("--retention-days", args.retention_days, DEFAULT_RETENTION_DAYS))
    pending = _number("--pending-threshold", args.pending_threshold, DEFAULT_PENDING_THRESHOLD_S)
    census = _number("--census-interval", args.census_interval
                     or env.get("RUNAI_CENSUS_INTERVAL") or None, DEFAULT_CENSUS_INTERVAL_S)
    overlap = _number("--listing-overlap", args.listing_overlap
                      or env.get("RUNAI_LISTING_OVERLAP") or None, DEFAULT_LISTING_OVERLAP_S)
    runai_in_flight = int(_number("--runai-max-in-flight", args.runai_max_in_flight
                                  or env.get("RUNAI_MAX_IN_FLIGHT") or None,
                                  DEFAULT_RUNAI_MAX_IN_FLIGHT))
    kube_in_flight = int(_number("--kube-max-in-flight", args.kube_max_in_flight
                                 or env.get("KUBE_MAX_IN_FLIGHT") or None,
                                 DEFAULT_KUBE_MAX_IN_FLIGHT))
    db_path = args.db or env.get("RUNAI_FAILURE_DB_PATH") or DEFAULT_DB_PATH
    host, port = parse_listen(args.listen or DEFAULT_LISTEN)
    projects = tuple(dict.fromkeys(p.strip() for p in (args.project or []) if p.strip()))
    cluster_name = (args.cluster_name or env.get("RUNAI_CLUSTER_NAME") or "").strip() or None
    if cluster_name is not None and not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", cluster_name
    ):
        raise ConfigError(
            f"Invalid --cluster-name {cluster_name!r}: letters, digits, '.', '_' and '-', "
            "at most 63 characters"
        )
    return replace(
        connection,
        db_path=db_path,
        poll_interval_s=poll,
        projects=projects,
        listen_host=host,
        listen_port=port,
        once=args.once,
        retention_days=retention,
        log_format=args.log_format or "text",
        log_level=args.log_level or "info",
        pending_threshold_s=pending,
        census_interval_s=census,
        runai_max_in_flight=runai_in_flight,
        kube_max_in_flight=kube_in_flight,
        listing_overlap_s=overlap,
        cluster_name=cluster_name,
    )


def connection_config(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    """The Config of add_connection_flags (and the credentials), other fields at defaults:
    all `doctor` needs."""
    base_url_raw = args.base_url if args.base_url is not None else env.get("RUNAI_BASE_URL", "")
    values = {
        "RUNAI_BASE_URL": base_url_raw,
        **{name: env.get(name, "") for name in (*REQUIRED_ENV[1:], *APPLICATION_ENV)},
    }
    application = any(values[name].strip() for name in APPLICATION_ENV)
    if application and any(values[name].strip() for name in REQUIRED_ENV[1:]):
        raise ConfigError(
            "Set RUNAI_CLIENT_ID/RUNAI_CLIENT_SECRET (a service account or access key) or "
            "RUNAI_APP_ID/RUNAI_APP_SECRET (an application), not both"
        )
    required = ("RUNAI_BASE_URL", *APPLICATION_ENV) if application else REQUIRED_ENV
    missing = [name for name in required if not values[name].strip()]
    if missing:
        raise ConfigError(f"Missing required environment variables: {', '.join(missing)}")
    id_name, secret_name = required[1:]
    return Config(
        base_url=parse_base_url(base_url_raw),
        client_id=values[id_name].strip(),
        client_secret=values[secret_name].strip(),
        application=application,
        kubeconfig=env.get("KUBECONFIG") or None,
        **connection_settings(args, env),
    )


def connection_settings(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """The Config fields of add_connection_flags (besides the URL), flags over environment."""
    cluster = (args.cluster_id or env.get("RUNAI_CLUSTER_ID") or "").strip() or None
    version_text = (args.api_version or env.get("RUNAI_API_VERSION") or "").strip()
    return {
        "cluster_id": cluster,
        "api_version": parse_version(version_text) if version_text else None,
        "runai_tls": _tls(args.runai_ca_bundle, args.runai_insecure_skip_tls_verify, env,
                          "RUNAI_CA_BUNDLE", "RUNAI_INSECURE_SKIP_TLS_VERIFY"),
        "kube_tls": _tls(args.kube_ca_bundle, args.kube_insecure_skip_tls_verify, env,
                         "KUBE_CA_BUNDLE", "KUBE_INSECURE_SKIP_TLS_VERIFY"),
    }


def _tls(
    bundle_flag: str | None, insecure_flag: bool | None, env: Mapping[str, str],
    bundle_var: str, insecure_var: str,
) -> TlsSettings:
    bundle = (bundle_flag or env.get(bundle_var) or "").strip() or None
    insecure = insecure_flag or env_flag(env, insecure_var)
    if bundle and insecure:
        raise ConfigError(f"{bundle_var} and {insecure_var} contradict each other: set one")
    return TlsSettings(bundle, bool(insecure))

