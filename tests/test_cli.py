"""`python -m exporter` as a real process: start-up errors, banner, --once, signals, secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_exporter import Answer, ScriptedServer

REPO = Path(__file__).resolve().parent.parent
SECRET = "sEcReT-4f9a1c-never-print-me"


def base_env(url: str = "http://127.0.0.1:9", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RUNAI_", "KUBE")) and k != "KUBECONFIG"}
    env.update({"RUNAI_BASE_URL": url, "RUNAI_CLIENT_ID": "monitor",
                "RUNAI_CLIENT_SECRET": SECRET, "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60,
        prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "exporter", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_help_documents_the_default_listen_address() -> None:
    done = run(["--help"], base_env())
    assert done.returncode == 0
    assert "0.0.0.0:10108" in done.stdout and "RUNAI_FAILURE_DB_PATH" in done.stdout


def test_missing_secret(tmp_path: Path) -> None:
    env = base_env()
    del env["RUNAI_CLIENT_SECRET"]
    done = run(["--db", str(tmp_path / "h.db")], env)
    assert done.returncode != 0
    assert done.stderr.strip() == "ERROR: Missing required environment variables: " \
        "RUNAI_CLIENT_SECRET"


def test_unparsable_base_url(tmp_path: Path) -> None:
    done = run(["--db", str(tmp_path / "h.db")], base_env("not a url"))
    assert done.returncode != 0
    assert done.stderr.startswith("ERROR: Invalid RUNAI_BASE_URL 'not a url'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_permission_denied_on_the_database(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root ignores file modes: drop the capabilities that allow it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        caps = "-dac_override,-dac_read_search,-fowner"
        prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    try:
        db = folder / "runai_failure_history.db"
        done = run([], base_env(RUNAI_FAILURE_DB_PATH=str(db)), prefix=prefix)
    finally:
        folder.chmod(0o755)
    assert done.returncode != 0
    assert done.stderr.strip() == f"ERROR: Permission denied: {db}"


def test_bad_credentials(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.script("/api/v2/token", Answer(401, json.dumps(
        {"error": "invalid_client", "error_description": "Client authentication failed"})))
    done = run(["--db", str(tmp_path / "h.db"), "--once"], base_env(scripted.url))
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "ERROR: Run:ai rejected the credentials (v2 client_credentials (OAuth2 form)): HTTP 401 "
        "invalid_client: Client authentication failed; check RUNAI_CLIENT_ID and "
        "RUNAI_CLIENT_SECRET")
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.slow
def test_unreachable_api_is_not_fatal_and_once_reports_the_failed_cycle(tmp_path: Path) -> None:
    done = run(["--db", str(tmp_path / "h.db"), "--once"], base_env("http://127.0.0.1:9"))
    assert done.returncode == 1
    assert "WARNING: Run:ai is not reachable yet: POST /api/v2/token: connection failed" \
        in done.stdout
    assert "ERROR: Monitoring check #1 failed: " in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_broken_kubeconfig(scripted: ScriptedServer, tmp_path: Path) -> None:
    done = run(["--db", str(tmp_path / "h.db"), "--once"],
               base_env(scripted.url, KUBECONFIG=str(tmp_path / "missing")))
    assert done.returncode != 0
    assert done.stderr.startswith("ERROR: Cannot read KUBECONFIG")


# ---- against the simulator ------------------------------------------------------------------
def sim_env(sim: Any, tmp_path: Path, **extra: str) -> dict[str, str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(url=sim.url, token=sim.k8s_token))
    return base_env(sim.url, RUNAI_CLIENT_ID=sim.client_id, RUNAI_CLIENT_SECRET=SECRET,
                    KUBECONFIG=str(kubeconfig), **extra)


KUBECONFIG = """apiVersion: v1
kind: Config
current-context: sim
clusters: [{{name: sim, cluster: {{server: "{url}"}}}}]
contexts: [{{name: sim, context: {{cluster: sim, user: sim}}}}]
users: [{{name: sim, user: {{token: "{token}"}}}}]
"""


def file_counts(db: Path) -> tuple[int, int]:
    from history.connection import connect

    conn = connect(str(db), read_only=True)
    try:
        failures = conn.execute("SELECT count(*) FROM failure_events").fetchone()
        runs = conn.execute("SELECT count(*) FROM workload_runs").fetchone()
    finally:
        conn.close()
    assert failures is not None and runs is not None
    return int(failures[0]), int(runs[0])


def test_once_records_the_truth_prints_the_banner_and_exits_0(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=120, client_secret=SECRET)
    db = tmp_path / "h.db"
    done = run(["--once", "--db", str(db), "--project", "recsys", "--project", "speech"],
               sim_env(sim, tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for expected in ("Run:AI Failure Monitor starting", "Poll interval: 60 seconds",
                     "Projects: recsys, speech", f"Database: {db}",
                     "Run:AI credentials configured", f"Cluster URL: {sim.url}",
                     "Run:AI token: v2 client_credentials (OAuth2 form)",
                     "Run:AI control plane: 2.24 (token form v2 client_credentials",
                     "Monitoring check #1 at ", "Found "):
        assert any(line.startswith(expected) for line in lines), expected
    assert any(line.startswith("Start time: ") and line.endswith(" UTC") for line in lines)
    assert any(line.startswith("New failure: ") for line in lines)
    truth = sim.truth()
    wanted = [e for e in truth["episodes"] if e["project"] in ("recsys", "speech")]
    assert file_counts(db)[0] == len(wanted) > 0
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.slow
def test_once_exits_non_zero_when_the_cycle_fails(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=50, client_secret=SECRET)
    sim.set_faults(error_rate=1.0, path_prefix="/api/v1/workloads")
    done = run(["--once", "--db", str(tmp_path / "h.db")], sim_env(sim, tmp_path))
    assert done.returncode == 1
    assert "ERROR: Monitoring check #1 failed: GET /api/v1/workloads: HTTP 503" in done.stdout
    assert file_counts(tmp_path / "h.db") == (0, 0)


def test_json_logs(make_simulator: Callable[..., Any], tmp_path: Path) -> None:
    sim = make_simulator(scale=50, client_secret=SECRET)
    done = run(["--once", "--log-format", "json", "--db", str(tmp_path / "h.db")],
               sim_env(sim, tmp_path))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert "Run:AI credentials configured" in messages
    assert all(r["time"].endswith("+00:00") for r in records)
    assert any(r.get("category") for r in records)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout_s: float = 60, status: int = 200) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == status:
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer {status} in {timeout_s}s")
        time.sleep(0.1)


@pytest.mark.slow
def test_serves_metrics_and_health_survives_faults_and_stops_on_sigterm(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=120, client_secret=SECRET)
    port = free_port()
    db = tmp_path / "h.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--db", str(db), "--listen", f"127.0.0.1:{port}",
         "--poll-interval", "1"],
        cwd=REPO, env=sim_env(sim, tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(f"{base}/healthz").text == "ok\n"
        wait_for(f"{base}/readyz")
        # The first poll's failures are history: counted as backfilled (every kind), not live;
        # each new series is exposed at zero first, its count from the next scrape on.
        episodes = len(sim.truth()["episodes"])

        def counted(metrics: str) -> float:
            return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                       if line.startswith(("runai_workload_failures_backfilled_total{",
                                           "runai_workload_episodes_total{")))

        first = httpx.get(f"{base}/metrics").text
        assert re.search(r'runai_failure_exporter_up\{cluster="[^"]+"\} 1\.0', first)
        assert "runai_workload_failures_backfilled_total{" in first and counted(first) == 0
        assert counted(httpx.get(f"{base}/metrics").text) == episodes > 0
        # An outage: cycles fail, the process lives on, up drops to 0, health stays alive.
        sim.set_faults(error_rate=1.0)
        deadline = time.monotonic() + 60
        down = re.compile(r'runai_failure_exporter_up\{cluster="[^"]+"\} 0\.0')
        while not down.search(httpx.get(f"{base}/metrics").text):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        assert httpx.get(f"{base}/healthz").status_code == 200
        sim.set_faults(error_rate=0.0)
        sim.expire_tokens()  # the next request meets a 401: refreshed once, not printed
        sim.advance(6 * 3600)
        deadline = time.monotonic() + 60
        while file_counts_safe(db)[0] < len(sim.truth()["episodes"]):
            assert time.monotonic() < deadline, "new failures were not recorded"
            time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out
    assert "Received SIGTERM" in out and "Stopped after" in out
    assert "ERROR: Monitoring check #" in out
    assert SECRET not in out and sim.k8s_token not in out
    assert "Bearer" not in out and "eyJ" not in out  # no token (the simulator's are JWTs)
    assert file_counts(db)[0] == len(sim.truth()["episodes"])


def file_counts_safe(db: Path) -> tuple[int, int]:
    try:
        return file_counts(db)
    except Exception:  # the writer holds the file this instant
        return (0, 0)


def test_busy_listen_port(make_simulator: Callable[..., Any], tmp_path: Path) -> None:
    import socket

    sim = make_simulator(scale=20, client_secret=SECRET)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        done = run(["--db", str(tmp_path / "h.db"), "--listen", f"127.0.0.1:{port}"],
                   sim_env(sim, tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == f"ERROR: Cannot listen on 127.0.0.1:{port}: " \
        "Address already in use"


def test_retention_prunes_old_history(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from history.store import HistoryStore
    from tests.fixtures_store import make_failure, make_run

    db = tmp_path / "h.db"
    store = HistoryStore(db)
    store.open()
    old = datetime.now(UTC) - timedelta(days=400)
    store.enqueue([make_failure("ancient", old)], [make_run("ancient", old)])
    assert store.flush().error is None
    sim = make_simulator(scale=40, client_secret=SECRET)
    done = run(["--once", "--db", str(db), "--retention-days", "30"], sim_env(sim, tmp_path))
    assert done.returncode == 0, done.stderr
    from history.connection import connect

    conn = connect(str(db), read_only=True)
    try:
        left = conn.execute(
            "SELECT count(*) FROM failure_events WHERE workload_id = 'ancient'").fetchone()
    finally:
        conn.close()
    assert left == (0,)


READER = """
import sys, time
from history.connection import connect
from common.errors import StoreLocked
reads = locked = 0
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        conn = connect(sys.argv[1], read_only=True, timeout_s=10)
    except StoreLocked:
        locked += 1
        continue
    try:
        conn.execute("SELECT count(*) FROM failure_events").fetchone()
        reads += 1
    finally:
        conn.close()
    time.sleep(0.02)
print(reads, locked)
"""


@pytest.mark.slow
def test_a_reader_process_and_the_sidecar_share_the_file(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=80, client_secret=SECRET)
    db = tmp_path / "h.db"
    sidecar = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--db", str(db), "--listen", "127.0.0.1:0",
         "--poll-interval", "0.5"],
        cwd=REPO, env=sim_env(sim, tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not db.exists() or file_counts_safe(db)[0] == 0:
            assert time.monotonic() < deadline and sidecar.poll() is None
            time.sleep(0.2)
        reader = subprocess.Popen([sys.executable, "-c", READER, str(db), "6"], cwd=REPO,
                                  stdout=subprocess.PIPE, text=True)
        for _ in range(12):  # the cluster keeps failing while both hold the file in turn
            sim.advance(3600)
            time.sleep(0.5)
        out, _ = reader.communicate(timeout=60)
        reads, locked = map(int, out.split())
        assert reader.returncode == 0 and reads > 20 and locked == 0
        expected = len(sim.truth()["episodes"])
        deadline = time.monotonic() + 60
        while file_counts_safe(db)[0] < expected:
            assert time.monotonic() < deadline, "the sidecar fell behind"
            time.sleep(0.3)
        sidecar.send_signal(signal.SIGINT)
        log, _ = sidecar.communicate(timeout=60)
    finally:
        if sidecar.poll() is None:
            sidecar.kill()
            sidecar.communicate()
    assert sidecar.returncode == 0, log
    assert "Could not write" not in log
    assert file_counts(db)[0] == len(sim.truth()["episodes"])


@pytest.mark.slow
def test_sigterm_mid_cycle_writes_what_it_has_and_a_restart_completes_it(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=600, client_secret=SECRET)
    db = tmp_path / "h.db"
    env = sim_env(sim, tmp_path)
    sim.set_faults(latency_ms=5)  # a slower API: the signal lands while evidence is gathered
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--db", str(db), "--listen", "127.0.0.1:0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Found "):
            break
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert time.monotonic() - started < 30  # inside Kubernetes' default grace period
    assert "Stopped after 1 check(s)" in rest
    sim.set_faults(latency_ms=0)
    truth = sim.truth()
    recorded = file_counts(db)[0]
    assert recorded <= len(truth["episodes"])
    done = run(["--once", "--db", str(db)], env)
    assert done.returncode == 0, done.stderr
    assert file_counts(db)[0] == len(truth["episodes"])


@pytest.mark.slow
def test_verification_off_is_warned_at_every_start(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=20, client_secret=SECRET)
    env = sim_env(sim, tmp_path) | {"RUNAI_INSECURE_SKIP_TLS_VERIFY": "true"}
    for _ in range(2):
        done = run(["--once", "--db", str(tmp_path / "h.db")], env)
        assert done.returncode == 0, done.stderr
        assert "INSECURE: TLS certificate verification is OFF for the Run:ai control plane" \
            in done.stdout + done.stderr


def test_an_unreadable_ca_bundle_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    done = run(["--once", "--db", str(tmp_path / "h.db")],
               base_env(RUNAI_CA_BUNDLE=str(tmp_path / "ca.pem")))
    assert done.returncode == 1
    assert done.stderr.startswith(f"ERROR: Cannot read the CA bundle {tmp_path / 'ca.pem'}: ")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_private_ca_bundle_is_used_for_the_control_plane(tmp_path: Path) -> None:
    """A TLS server whose certificate only the given CA vouches for: with RUNAI_CA_BUNDLE the
    handshake succeeds (then 401: these credentials are wrong); without it, it fails."""
    ssl_dir = tmp_path / "tls"
    ssl_dir.mkdir()
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(ssl_dir / "key.pem"), "-out", str(ssl_dir / "cert.pem")],
                   check=True, capture_output=True)
    server = subprocess.Popen(
        [sys.executable, "-c", TLS_SERVER, str(ssl_dir / "cert.pem"), str(ssl_dir / "key.pem")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"https://127.0.0.1:{port}"
        trusted = run(["--once", "--db", str(tmp_path / "h.db")],
                      base_env(url, RUNAI_CA_BUNDLE=str(ssl_dir / "cert.pem")))
        assert "Run:ai rejected the credentials" in trusted.stderr
        untrusted = run(["--once", "--db", str(tmp_path / "h.db")], base_env(url))
        assert "Run:ai rejected the credentials" not in untrusted.stderr
        assert "TLS certificate verification failed" in untrusted.stdout + untrusted.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


TLS_SERVER = """
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"error": "invalid_client"}).encode()
        self.send_response(401); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def test_kube_tls_settings_override_the_kubeconfig(tmp_path: Path) -> None:
    from common.errors import ConfigError
    from exporter.cli import tls_warnings, with_tls
    from exporter.config import Config, TlsSettings
    from exporter.kube.client import KubeAccess

    access = KubeAccess(server="https://k8s.example:6443", token="t", verify="/kc/ca.crt")
    assert with_tls(access, TlsSettings()) is access
    insecure = with_tls(access, TlsSettings(insecure_skip_verify=True))
    assert insecure is not None and insecure.verify is False
    config = Config(base_url="https://runai.example", client_id="c", client_secret="s")
    assert tls_warnings(config, insecure) == [
        "INSECURE: TLS certificate verification is OFF for the Kubernetes API "
        "(KUBE_INSECURE_SKIP_TLS_VERIFY or the kubeconfig's insecure-skip-tls-verify); set "
        "KUBE_CA_BUNDLE instead"]
    assert tls_warnings(config, access) == []
    missing = TlsSettings(ca_bundle=str(tmp_path / "none.pem"))
    with pytest.raises(ConfigError, match="Cannot read the CA bundle"):
        with_tls(access, missing)
