"""`python -m agent serve` as a real process: both servers, the banner, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agent.api.edges import ApiSettings
from agent.cli.serve import check_exposure
from common.errors import ConfigError
from tests.fixtures_llm import free_port

ROOT = Path(__file__).resolve().parents[1]
KEY = "nvapi-SERVE-BANNER-KEY-77aa"


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


@pytest.mark.slow
def test_serves_api_and_ui_and_stops_on_sigterm(agent_history, scripted_llm):
    api_port, ui_port = free_port(), free_port()
    process = start(
        ["--host", "127.0.0.1", "--api-port", str(api_port), "--ui-port", str(ui_port),
         "--db", str(agent_history.path)],
        {"NVIDIA_API_KEY": KEY, "LLM_BASE_URL": scripted_llm.base_url, "LLM_MODEL": "scripted",
         "AGENT_API_TOKEN": "tok-123456789"},
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{api_port}/healthz", process)
        wait_healthy(f"http://127.0.0.1:{ui_port}/healthz", process)
        page = httpx.get(f"http://127.0.0.1:{ui_port}/")
        assert page.status_code == 200 and "app.js" in page.text
        auth = {"Authorization": "Bearer tok-123456789"}
        assert httpx.get(f"http://127.0.0.1:{ui_port}/api/stats").status_code == 401
        stats = httpx.get(f"http://127.0.0.1:{ui_port}/api/stats?window=all time", headers=auth)
        # The process runs on the real clock: rows seeded "in the future" are not counted yet.
        assert stats.json()["data"]["total_failures"] == agent_history.scalar(
            'SELECT count(*) FROM failure_events WHERE "timestamp" < now()'
        )
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert f"Web UI   http://127.0.0.1:{ui_port}" in out
    assert f"API      http://127.0.0.1:{api_port}/api/chat" in out
    assert "LLM: scripted at 127.0.0.1:" in out
    assert "Auth     bearer token required" in out
    assert KEY not in out + err
    assert "tok-123456789" not in out + err


def test_taken_port_is_one_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = start(["--host", "127.0.0.1", "--api-port", str(free_port()),
                         "--ui-port", str(port), "--db", str(tmp_path / "h.db")], {})  # fmt: skip
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert err.strip() == f"ERROR: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--api-port", "eighty"], {}, "argument --api-port: not a port number: 'eighty'"),
        (["--ui-port", "70000"], {}, "port must be between 1 and 65535, got 70000"),
        ([], {"LLM_TIMEOUT_S": "soon"},
         "ERROR: Invalid LLM_TIMEOUT_S 'soon': must be a number from 0.1 to 3600 (seconds)"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(args, env, message):
    process = start(args, env)
    _out, err = process.communicate(timeout=20)
    assert process.returncode == 2
    assert err.strip().splitlines()[-1].endswith(message)


@pytest.mark.slow  # a Python process start: ~6 s on 2 idle cores
def test_a_non_loopback_address_without_a_token_exits_with_one_line(tmp_path):
    host = "0.0.0.0"
    api_port, ui_port = free_port(), free_port()
    process = start(["--host", host, "--api-port", str(api_port), "--ui-port", str(ui_port),
                     "--db", str(tmp_path / "h.db")], {})  # fmt: skip
    out, err = process.communicate(timeout=20)
    assert process.returncode == 2
    assert err.strip() == (
        f"ERROR: refusing to listen on {host} without AGENT_API_TOKEN: set AGENT_API_TOKEN, "
        "bind --host 127.0.0.1, or pass --insecure-no-auth"
    )
    assert out == ""
    with socket.socket() as probe:  # it refused before binding anything
        probe.bind(("127.0.0.1", api_port))


@pytest.mark.slow
def test_insecure_no_auth_serves_everyone_and_says_so_loudly(agent_history):
    api_port, ui_port = free_port(), free_port()
    process = start(["--host", "0.0.0.0", "--api-port", str(api_port), "--ui-port", str(ui_port),
                     "--db", str(agent_history.path), "--insecure-no-auth"], {})  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{api_port}/healthz", process)
        assert httpx.get(f"http://127.0.0.1:{api_port}/api/categories").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    assert "WARNING agent.serve: INSECURE: --insecure-no-auth: listening on 0.0.0.0 with NO " \
        "authentication" in err


@pytest.mark.parametrize(
    ("host", "token", "insecure", "refused"),
    [
        ("0.0.0.0", None, False, True),
        ("::", None, False, True),
        ("10.1.2.3", None, False, True),
        ("agent.example.com", None, False, True),
        ("0.0.0.0", "tok-123", False, False),
        ("0.0.0.0", None, True, False),
        ("127.0.0.1", None, False, False),
        ("127.0.0.2", None, False, False),
        ("::1", None, False, False),
        ("localhost", None, False, False),
    ],
)
def test_which_addresses_need_a_token(host, token, insecure, refused):
    settings = ApiSettings(api_token=token)
    if refused:
        with pytest.raises(ConfigError, match="--insecure-no-auth"):
            check_exposure(settings, host, insecure)
    else:
        check_exposure(settings, host, insecure)
