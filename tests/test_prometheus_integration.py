"""End to end on loopback: the simulator, the real exporter process and a real Prometheus with the
product's rules and its demo scrape configuration. Every panel query of every committed
dashboard and every recording rule must return data, so a panel whose query can never show
anything fails here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.dashboard_queries import panel_queries, substitute, variable_queries
from tests.fixtures_prometheus import PrometheusServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "runai-failure-analysis.rules.yml"
EXPORTER_JOB = "runai-failure-exporter"
# Simulated time per step: what fails within the hour since the previous poll is news at the
# next one (older failures are backfilled, exporter/monitor.py), and an hour brings failures.
SIM_STEP_S = 3600
FLOW_TIMEOUT_S = 120.0
SYMPTOM_ALERTS = (
    "RunaiGPUHardwareFailures|RunaiNodeFailuresRecurring|RunaiOOMKillsRecurring"
    "|RunaiProjectFailureRatioHigh|RunaiWorkloadFailureSpike"
)


def test_prometheus_fixture_scrapes_and_reports_query_errors(
    make_prometheus: Callable[[dict[str, Any]], PrometheusServer],
) -> None:
    first = make_prometheus({"global": {"scrape_interval": "1s"}, "scrape_configs": []})
    port = first.url.rsplit(":", 1)[1]
    second = make_prometheus(
        {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [
                {"job_name": "first", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            ],
        }
    )
    assert second.wait_for('up{job="first"} == 1', timeout_s=20)[0]["metric"]["job"] == "first"
    with pytest.raises(AssertionError, match="bad_data"):
        first.query("sum(")


def demo_config(exporter_port: int) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml, sped up to 1 s, pointed at this test's exporter."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [str((PROMETHEUS_DIR / f).resolve()) for f in config["rule_files"]]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == EXPORTER_JOB]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{exporter_port}"]}]
    config["scrape_configs"] = [job]  # the demo's self-scrape would hit a fixed port
    return config


@pytest.fixture
def exporter_process(simulator_for_flow: Any, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`python -m exporter` polling the simulator every second; yields (port, log path)."""
    yield from run_exporter(simulator_for_flow, tmp_path)


def run_exporter(
    simulator: Any, tmp_path: Path, *extra: str
) -> Iterator[tuple[int, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNAI_", "KUBECONFIG"))}
    env.update(
        RUNAI_BASE_URL=simulator.url,
        RUNAI_CLIENT_ID=simulator.client_id,
        RUNAI_CLIENT_SECRET=simulator.client_secret,
    )
    log_path = tmp_path / "exporter.log"
    command = [
        sys.executable, "-m", "exporter", "--listen", f"127.0.0.1:{port}",
        "--poll-interval", "1", "--db", str(tmp_path / "history.db"), *extra,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield port, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def simulator_for_flow(make_simulator: Callable[..., Any]) -> Any:
    # A frozen clock that the test moves: failures arrive when it says so, not when CPU allows.
    return make_simulator(scenario="demo", seed=7, speed=0.0)


def wait_for_failures_to_flow(prom: PrometheusServer, simulator: Any, log_path: Path) -> None:
    """Move simulated time until Prometheus has seen failures and finished runs increase."""
    # Every panel must show data: failures, finished runs, and the categories the hardware,
    # memory and node panels read, all live.
    flowing = " and ".join(
        f"sum(increase({series}[2m])) > 0"
        for series in (
            "runai_workload_failures_total",
            "runai_workloads_finished_total",
            'runai_node_failures_total{category="gpu_hardware"}',
            'runai_node_failures_total{category!="gpu_hardware"}',
            'runai_workload_failures_total{category=~"oom_killed|gpu_oom"}',
        )
    )
    deadline = time.monotonic() + FLOW_TIMEOUT_S
    while not prom.query(flowing):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no failures flowed within {FLOW_TIMEOUT_S:.0f} s\n"
                f"exporter log:\n{log_path.read_text(errors='replace')[-3000:]}"
            )
        simulator.advance(SIM_STEP_S)
        time.sleep(1.5)


def test_every_panel_query_and_recording_rule_returns_data(
    make_prometheus: Callable[[dict[str, Any]], PrometheusServer],
    simulator_for_flow: Any,
    exporter_process: tuple[int, Path],
) -> None:
    port, log_path = exporter_process
    prom = make_prometheus(demo_config(port))
    prom.wait_for(f'up{{job="{EXPORTER_JOB}"}} == 1', timeout_s=30)
    prom.wait_for("runai_failure_exporter_up == 1", timeout_s=60)
    wait_for_failures_to_flow(prom, simulator_for_flow, log_path)
    simulator_for_flow.advance(SIM_STEP_S)  # one more step, so rates cover an increase
    time.sleep(3)

    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    records = [r["record"] for g in rules for r in g["rules"] if "record" in r]
    empty = [f"recording rule {r}" for r in records if not prom.query(r)]
    for name, selector, label in variable_queries():
        if not prom.api(f"label/{label}/values", **{"match[]": selector}):
            empty.append(f"variable ${name}: label_values({selector}, {label})")
    queries = panel_queries()
    assert len(queries) > 20
    for query in queries:
        if not prom.query(query.substituted()):
            empty.append(f"panel {query}: {query.substituted()}")
    assert not empty, "no data for:\n" + "\n".join(empty)

    # Every rule evaluates without a runtime error (e.g. a many-to-many match promtool cannot see).
    loaded = [rule for group in prom.api("rules")["groups"] for rule in group["rules"]]
    assert len(loaded) == sum(len(g["rules"]) for g in rules)
    unhealthy = [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
    assert not unhealthy

    # The 10-project demo, failures flowing in every category: a few hundred series at most.
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    series = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert len(series) <= 600, len(series)

    # Failures really flowed through the recordings the alerts read, not only zeros.
    assert float(prom.query("cluster:runai_workload_failures:rate1h")[0]["value"][1]) > 0
    ratio = prom.query("cluster_project:runai_workload_failures_per_finished:ratio_rate1h")
    assert any(0 < float(s["value"][1]) <= 1 for s in ratio)


def test_exporter_metrics_pass_promtool_check_metrics(exporter_process: tuple[int, Path]) -> None:
    port, log_path = exporter_process
    deadline = time.monotonic() + 60
    text = ""
    while not re.search(r'runai_failure_exporter_up\{cluster="[^"]+"\} 1\.0', text):
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.TransportError:
            continue
    # the first poll's past failures are backfilled, with the cluster label on every series
    assert re.search(r'runai_workload_failures_backfilled_total\{cluster="[^"]+",kind="failed"',
                     text)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make system-deps`"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # no lint findings either


def test_a_fresh_install_does_not_page_for_old_failures(
    make_prometheus: Callable[[dict[str, Any]], PrometheusServer],
    make_simulator: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """The first poll finds days of failures, GPU hardware among them. They are history: into
    the database and the backfilled counter, never into the live counters the alerts read.
    The polls fail at first (as on a real first start against a slow API), so Prometheus has
    scraped the exporter before the backfill arrives: a series it already saw must not jump."""
    sim = make_simulator(scenario="demo", seed=7, speed=0.0)
    old = [e for e in sim.truth()["episodes"] if e["kind"] == "failed"]
    hardware = sorted({e["project"] for e in old if e["category"] == "gpu_hardware"})
    assert hardware, "the demo's history should hold GPU hardware failures"
    sim.set_faults(fail_next=40)  # the first polls fail; the exporter is scraped meanwhile
    exporter = run_exporter(sim, tmp_path, "--project", *hardware)
    port, log_path = next(exporter)
    try:
        prom = make_prometheus(demo_config(port))
        prom.wait_for(f'up{{job="{EXPORTER_JOB}"}} == 1', timeout_s=30)
        try:
            prom.wait_for("sum(runai_workload_failures_backfilled_total) > 0", timeout_s=90)
        except AssertionError as exc:
            raise AssertionError(log_path.read_text(errors="replace")[-3000:]) from exc
        time.sleep(8)  # several rule evaluations (every 1 s) after the backfill was scraped
        firing = prom.query(f'ALERTS{{alertname=~"{SYMPTOM_ALERTS}"}}')
        assert firing == [], firing
        live = prom.query("sum(runai_workload_failures_total)")
        assert not live or float(live[0]["value"][1]) == 0
    finally:
        next(exporter, None)


def test_a_fleet_of_two_sidecars_under_one_prometheus(
    make_prometheus: Callable[[dict[str, Any]], PrometheusServer],
    make_simulator: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """One sidecar per cluster, each with its own history, scraped by one Prometheus: the rules
    keep the clusters apart and the dashboard's cluster variable selects one of them."""
    sims = {name: make_simulator(scenario="demo", seed=seed, speed=0.0)
            for name, seed in (("east", 7), ("west", 11))}
    exporters = {}
    for name, sim in sims.items():
        (tmp_path / name).mkdir()
        exporters[name] = run_exporter(sim, tmp_path / name, "--cluster-name", name)
    try:
        ports = [next(gen)[0] for gen in exporters.values()]
        config = demo_config(ports[0])
        (job,) = config["scrape_configs"]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for port in ports]}]
        prom = make_prometheus(config)
        prom.wait_for(f'count(up{{job="{EXPORTER_JOB}"}} == 1) == 2', timeout_s=30)
        flowing = "count(sum by (cluster) (increase(runai_workload_failures_total[2m]) > 0)) == 2"
        deadline = time.monotonic() + FLOW_TIMEOUT_S
        while not prom.query(flowing):
            assert time.monotonic() < deadline, "failures did not flow in both clusters"
            for sim in sims.values():
                sim.advance(SIM_STEP_S)
            time.sleep(1.5)
        time.sleep(3)
        clusters = {s["metric"]["cluster"] for s in prom.query(
            "cluster_project_workload_type_category:runai_workload_failures:rate5m")}
        assert clusters == {"east", "west"}
        assert len(prom.query("cluster:runai_workload_failures:rate1h")) == 2
        # The dashboard's cluster variable selects: a cluster with no sidecar shows nothing in
        # any panel, and one cluster's total is part of the fleet's.
        def panel(expr: str, cluster: str) -> list[dict[str, Any]]:
            return prom.query(substitute(expr.replace("$cluster", cluster)))

        filtered = [q for q in panel_queries() if 'cluster=~"$cluster"' in q.expr]
        assert len(filtered) > 15
        leaking = [str(q) for q in filtered
                   if any(float(s["value"][1]) for s in panel(q.expr, "nowhere"))]
        assert not leaking, leaking
        finished = 'sum(increase(runai_workloads_finished_total{cluster=~"$cluster"}[10m]))'
        east, fleet = (float(panel(finished, c)[0]["value"][1]) for c in ("east", ".*"))
        assert 0 < east < fleet
    finally:
        for gen in exporters.values():
            next(gen, None)
