"""The PromQL tool against a real Prometheus (/usr/bin/prometheus) scraping a tiny exporter."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent.answer.planner import answer_deterministic
from agent.time_windows import Window
from agent.tools import promql
from agent.tools.catalog import run_tool
from agent.types import ToolContext

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

SERIES = 25  # more than promql.MAX_SERIES, so the cap shows
METRICS = (
    "".join(f'agent_test_gpu_temp_celsius{{gpu="{i}"}} {40 + i}\n' for i in range(SERIES))
    + 'runai_failures_total{category="gpu_oom"} 7\n'
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = METRICS.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the prometheus binary is not installed (scripts/install-system-deps.sh)")
    exporter = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=exporter.serve_forever, daemon=True)
    thread.start()
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: tiny\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter.server_address[1]}']\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2)
                if answer.json()["data"]["result"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        else:
            pytest.fail("Prometheus did not scrape the test exporter within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        exporter.shutdown()
        exporter.server_close()


def ctx_for(url: str | None, timeout_s: float = 10.0) -> ToolContext:
    return ToolContext(
        db_path="/nonexistent.db",
        prometheus_url=url,
        now=datetime.now(UTC),
        prometheus_timeout_s=timeout_s,
    )


def test_instant_query(prometheus_url: str) -> None:
    result = run_tool(ctx_for(prometheus_url), "promql_query", {"query": "runai_failures_total"})
    assert result.status == "ok", result.message
    (series,) = result.data["series"]
    assert series["labels"]["category"] == "gpu_oom" and series["last"] == 7.0
    assert result.data["truncated"] is False


def test_many_series_are_summarised_not_silently_cut(prometheus_url: str) -> None:
    result = run_tool(
        ctx_for(prometheus_url), "promql_query", {"query": "agent_test_gpu_temp_celsius"}
    )
    assert result.status == "ok"
    data = result.data
    assert data["series_total"] == SERIES
    assert data["series_shown"] == promql.MAX_SERIES and data["truncated"] is True
    assert [s["last"] for s in data["series"]][:3] == [64.0, 63.0, 62.0]  # top by last value
    assert f"{SERIES - promql.MAX_SERIES} more" in result.message


def test_scalar_result(prometheus_url: str) -> None:
    result = run_tool(ctx_for(prometheus_url), "promql_query", {"query": "scalar(vector(3))"})
    assert result.status == "ok"
    assert result.data["result_type"] == "scalar" and result.data["series"][0]["last"] == 3.0


def test_range_query_summarises_each_series(prometheus_url: str) -> None:
    now = datetime.now(UTC)
    window = Window(now - timedelta(minutes=2), now, "last 2 minutes")
    result = promql.range_query(
        ctx_for(prometheus_url), 'agent_test_gpu_temp_celsius{gpu="3"}', window
    )
    assert result.status == "ok", result.message
    (series,) = result.data["series"]
    assert series["min"] == series["max"] == series["last"] == 43.0
    assert series["points"] >= 1
    assert result.data["step_seconds"] == promql.MIN_STEP_S


def test_long_ranges_get_a_coarser_step(prometheus_url: str) -> None:
    result = run_tool(
        ctx_for(prometheus_url),
        "promql_range_query",
        {"query": "runai_failures_total", "window": "last 7 days"},
    )
    assert result.status == "ok"
    assert result.data["step_seconds"] >= 7 * 86400 / promql.MAX_POINTS
    assert result.data["series"][0]["points"] <= promql.MAX_POINTS + 1


def test_absent_series_is_no_data(prometheus_url: str) -> None:
    result = run_tool(ctx_for(prometheus_url), "promql_query", {"query": "DCGM_FI_DEV_XID_ERRORS"})
    assert result.status == "no_data"
    assert "no series matched" in result.message


def test_bad_query_is_a_one_line_error(prometheus_url: str) -> None:
    result = run_tool(ctx_for(prometheus_url), "promql_query", {"query": "sum(("})
    assert result.status == "error"
    assert result.message.startswith("Prometheus rejected the query (bad_data)")
    assert "\n" not in result.message


def test_unreachable_prometheus() -> None:
    result = run_tool(ctx_for(f"http://127.0.0.1:{free_port()}"), "promql_query", {"query": "up"})
    assert result.status == "error"
    assert result.message.startswith("Prometheus unreachable")


def test_silent_server_times_out(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        result = promql.instant_query(ctx_for(url, timeout_s=0.5), "up")
        assert result.status == "error"
        assert "did not answer within 0.5s" in result.message
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_not_configured() -> None:
    result = promql.instant_query(replace(ctx_for(None)), "up")
    assert result.status == "error" and "PROMETHEUS_URL" in result.message


def test_planner_answers_promql_with_a_table(prometheus_url: str) -> None:
    answer = answer_deterministic("Run PromQL `runai_failures_total`", ctx_for(prometheus_url))
    assert [c.name for c in answer.tool_calls] == ["promql_query"]
    assert "| `__name__=runai_failures_total, category=gpu_oom," in answer.markdown
    assert "| 7 |" in answer.markdown
