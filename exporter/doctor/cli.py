"""`python -m exporter doctor`: try everything the sidecar needs once, say what will not work.

Prints one line per check and writes a JSON report meant to be attached to a bug report: no
secret, no token, no log text; with --hash-names no workload, project, cluster or host name
either. Exit 0 only when no check failed (warnings allowed), 1 otherwise, 2 on bad flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from common.errors import ConfigError
from exporter.config import Config, add_connection_flags, connection_config
from exporter.doctor.checks import FAIL, Check, Doctor, Names
from exporter.kube.client import KubeAccess, KubeClient, discover, make_http
from exporter.logging_setup import SCRUBBER
from exporter.runai.client import RunaiClient

DEFAULT_REPORT = "runai-doctor-report.json"
_MARK = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exporter doctor",
        description="Check that the sidecar will work here: the Run:ai control plane's version, "
        "token and every endpoint the sidecar reads (answers held to that version's published "
        "spec), and Kubernetes pods, logs and events for one workload. Same environment as "
        "the sidecar.",
    )
    add_connection_flags(parser)
    parser.add_argument(
        "--report", default=DEFAULT_REPORT, metavar="PATH",
        help=f"where the redacted JSON report goes (default ./{DEFAULT_REPORT})",
    )
    parser.add_argument(
        "--hash-names", action="store_true",
        help="replace workload, project, cluster and host names in the output with hashes",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        config = connection_config(args, os.environ)
        from exporter.cli import tls_warnings, with_tls  # the sidecar's own wiring

        kube_access = with_tls(discover(os.environ), config.kube_tls)
        runai_verify = config.runai_tls.verify()
    except ConfigError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    SCRUBBER.add(config.client_secret)
    for warning in tls_warnings(config, kube_access):
        print(f"WARNING: {warning}", file=sys.stderr)
    with httpx.Client(verify=runai_verify) as runai_http:
        kube_http = make_http(kube_access) if kube_access is not None else None
        try:
            checks = run(config, runai_http, kube_access, kube_http, Names(args.hash_names))
        finally:
            if kube_http is not None:
                kube_http.close()
    return finish(checks, config, Path(args.report), Names(args.hash_names))


def run(
    config: Config, runai_http: httpx.Client, kube_access: KubeAccess | None,
    kube_http: httpx.Client | None, names: Names,
) -> list[Check]:
    runai = RunaiClient(
        config.base_url, config.client_id, config.client_secret, http=runai_http,
        on_token=SCRUBBER.add_token, api_version=config.api_version, cluster_id=config.cluster_id,
        application=config.application,
    )
    kube = None
    if kube_access is not None and kube_http is not None:
        SCRUBBER.add(kube_access.token)
        kube = KubeClient(kube_access, http=kube_http, on_token=SCRUBBER.add_token)
    return Doctor(runai, kube, names).run()


def report(checks: list[Check], config: Config, names: Names) -> dict[str, Any]:
    host = urlsplit(config.base_url).hostname
    failed = [c.name for c in checks if c.status == FAIL]
    return {
        "tool": "runai-failure-exporter doctor",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "control_plane_host": names(host),
        "names_hashed": names.hashed,
        "verdict": "the sidecar will work" if not failed else
                   f"the sidecar will not work: {', '.join(failed)}",
        "checks": [
            {"name": c.name, "status": c.status, "detail": c.detail, "facts": c.facts}
            for c in checks
        ],
    }


def finish(checks: list[Check], config: Config, path: Path, names: Names) -> int:
    for check in checks:
        print(SCRUBBER.scrub(f"{_MARK[check.status]}  {check.name}: {check.detail}"))
    body = report(checks, config, names)
    print(SCRUBBER.scrub(f"Verdict: {body['verdict']}"))
    text = SCRUBBER.scrub(json.dumps(body, indent=2, sort_keys=True))
    try:
        path.write_text(text + "\n")
    except OSError as exc:
        print(f"ERROR: Cannot write the report {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"Report (no secrets, no log text{', names hashed' if names.hashed else ''}): {path}")
    return 1 if any(c.status == FAIL for c in checks) else 0
