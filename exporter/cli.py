"""`python -m exporter`: the monitoring sidecar's process.

Start-up problems (configuration, the history file, rejected credentials, the listen address)
end the process with one `ERROR: ...` line and a non-zero exit. After start-up nothing the APIs
do can end it: a failed cycle is logged and counted, and the next one tries again. SIGTERM and
SIGINT finish the current cycle's write, close the file and exit 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import FrameType

import httpx

from common.errors import AuthError, ConfigError, StoreError, UpstreamError
from common.redaction import MIN_SECRET_CHARS
from common.version import product_version
from exporter.config import Config, TlsSettings, load_config
from exporter.gate import Gate
from exporter.kube.client import KubeAccess, KubeClient, discover, make_http
from exporter.listing import ListingSettings
from exporter.logging_setup import SCRUBBER, setup_logging
from exporter.metrics import MetricsState
from exporter.monitor import Monitor, Settings
from exporter.runai.client import RunaiClient
from exporter.server import BackgroundServer, make_app

log = logging.getLogger("exporter")


def _fail(message: str) -> int:
    print(f"ERROR: {SCRUBBER.scrub(message)}", file=sys.stderr, flush=True)
    return 1


def banner(
    config: Config, kube: KubeAccess | None, started: datetime, port: int | None,
    runai: RunaiClient | None = None,
) -> list[str]:
    projects = ", ".join(config.projects) if config.projects else "All projects"
    if kube is None:
        k8s = "not configured (Run:ai evidence only; no pod statuses or logs)"
    else:
        k8s = f"{kube.server} via {kube.source}, {kube.tls}"
    lines = [
        "Run:AI Failure Monitor starting",
        f"Version: {product_version()}",
        f"Poll interval: {config.poll_interval_s:g} seconds",
        f"Projects: {projects}",
        f"Database: {config.db_path}",
        f"Start time: {started.strftime('%Y-%m-%d %H:%M:%S')} UTC",
        "Run:AI credentials configured",
        f"Cluster URL: {config.base_url}",
    ]
    if runai is not None:
        lines += [
            f"Run:AI token: {runai.token_form or 'not obtained yet (control plane unreachable)'}",
            f"Run:AI control plane: {runai.control_plane.label()}",
            f"Run:AI cluster: {runai.cluster_id or '-'} ({runai.cluster_note})",
        ]
    lines.append(f"Kubernetes API: {k8s}")
    if port is not None:
        lines.append(f"Metrics: http://{config.listen_host}:{port}/metrics, /healthz, /readyz")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args, os.environ)
    except ConfigError as exc:
        return _fail(str(exc))
    secret_redacted = SCRUBBER.add(config.client_secret)
    setup_logging(config.log_format, level=config.log_level)
    if not secret_redacted:
        log.warning(
            "RUNAI_CLIENT_SECRET has fewer than %d characters: it cannot be told apart from "
            "ordinary words, so it is not redacted from logs",
            MIN_SECRET_CHARS,
        )

    from history.store import HistoryStore  # imported late: `--help` needs no DuckDB

    store = HistoryStore(config.db_path)
    try:
        store.open()
        # runs a kubeconfig's exec plugin once, here: a failing one is a start-up error
        kube_access = with_tls(discover(os.environ), config.kube_tls)
        runai_verify = config.runai_tls.verify()
        kube_http = (make_http(kube_access, config.kube_max_in_flight)
                     if kube_access is not None else None)
    except (StoreError, ConfigError) as exc:
        return _fail(str(exc))
    if kube_access is not None:
        SCRUBBER.add(kube_access.token)
    for warning in tls_warnings(config, kube_access):
        log.warning(warning)

    state = MetricsState(config.projects, cluster=config.cluster_name or "default")
    runai_http = httpx.Client(limits=httpx.Limits(max_connections=config.runai_max_in_flight),
                              verify=runai_verify)
    runai = RunaiClient(
        config.base_url, config.client_id, config.client_secret,
        http=runai_http, observe=state.observe_request, on_token=SCRUBBER.add_token,
        api_version=config.api_version, cluster_id=config.cluster_id,
        application=config.application, gate=Gate(config.runai_max_in_flight),
    )
    kube = (
        KubeClient(kube_access, http=kube_http, observe=state.observe_request,
                   on_token=SCRUBBER.add_token, gate=Gate(config.kube_max_in_flight))
        if kube_access is not None and kube_http is not None
        else None
    )
    server: BackgroundServer | None = None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("Received %s: finishing the current cycle", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            runai.authenticate()
            runai.settle_scope()
            # Without a name, the cluster's Run:ai id tells a fleet's series apart.
            state.cluster = config.cluster_name or runai.cluster_id or "default"
        except (AuthError, ConfigError) as exc:
            return _fail(str(exc))
        except UpstreamError as exc:
            # Unreachable now is not fatal: the loop keeps trying and /readyz says not ready.
            log.warning("Run:ai is not reachable yet: %s", exc)
        if not config.once:
            app = make_app(state, config.poll_interval_s)
            try:
                server = BackgroundServer(app, config.listen_host, config.listen_port).start()
            except OSError as exc:
                return _fail(
                    f"Cannot listen on {config.listen_host}:{config.listen_port}: "
                    f"{exc.strerror or exc}"
                )
        port = server.port if server is not None else None
        for line in banner(config, kube_access, datetime.now(UTC), port, runai):
            log.info(line)
        settings = Settings(
            projects=config.projects,
            poll_interval_s=config.poll_interval_s,
            pending_threshold_s=config.pending_threshold_s,
            retention_days=config.retention_days,
            listing=ListingSettings(config.census_interval_s, config.listing_overlap_s),
            # Enough threads to keep both gates full: each failure's evidence asks both APIs.
            evidence_workers=config.runai_max_in_flight + config.kube_max_in_flight,
            report_records=False,  # a first start holds one page's records, not the tenant's
        )
        monitor = Monitor(runai, kube, store, state, settings, sync_path=config.db_path)
        try:
            monitor.load_known()
        except StoreError as exc:
            return _fail(str(exc))
        return _loop(monitor, config, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()
        runai_http.close()
        if kube_http is not None:
            kube_http.close()


def with_tls(access: KubeAccess | None, tls: TlsSettings) -> KubeAccess | None:
    """KUBE_CA_BUNDLE / KUBE_INSECURE_SKIP_TLS_VERIFY over what the kubeconfig or the
    service account says."""
    if access is None or (tls.ca_bundle is None and not tls.insecure_skip_verify):
        return access
    if tls.insecure_skip_verify:
        return replace(access, verify=False)
    tls.verify()  # a bundle that cannot be read is a start-up error, not a failed cycle
    return replace(access, verify=str(tls.ca_bundle))


def tls_warnings(config: Config, kube: KubeAccess | None) -> list[str]:
    """Said at every start while certificate checks are off: anyone on the path can read the
    credentials and forge the answers."""
    out = []
    if config.runai_tls.insecure_skip_verify:
        out.append("INSECURE: TLS certificate verification is OFF for the Run:ai control plane "
                   "(RUNAI_INSECURE_SKIP_TLS_VERIFY); set RUNAI_CA_BUNDLE instead")
    if kube is not None and kube.verify is False:
        out.append("INSECURE: TLS certificate verification is OFF for the Kubernetes API "
                   "(KUBE_INSECURE_SKIP_TLS_VERIFY or the kubeconfig's insecure-skip-tls-verify)"
                   "; set KUBE_CA_BUNDLE instead")
    return out


def _loop(monitor: Monitor, config: Config, stop: threading.Event) -> int:
    try:
        while not stop.is_set():
            report = monitor.run_cycle(stop)
            if config.once:
                ok = report.ok and report.write_error is None
                log.info("Single check %s", "succeeded" if ok else "failed")
                return 0 if ok else 1
            if stop.wait(max(0.0, config.poll_interval_s - report.duration_s)):
                break
    finally:
        _final_flush(monitor)
    log.info("Stopped after %d check(s)", monitor.cycles)
    return 0


def _final_flush(monitor: Monitor) -> None:
    if monitor.store.pending:
        outcome = monitor.store.flush()
        if outcome.error:
            log.error("%d record(s) could not be written at exit: %s", outcome.pending,
                      outcome.error)

