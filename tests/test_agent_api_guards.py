"""The guards every API endpoint gets (issue 18), over real HTTP on a loopback port.

Deep JSON answered 500 with a RecursionError, text/plain bodies and any Host were accepted
(cross-site POSTs, DNS rebinding), and 45 slow questions held every worker thread while
/healthz stayed green. Each test here failed on that code.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from agent.api.app import create_api_app
from agent.api.edges import MAX_JSON_DEPTH, ApiSettings, json_depth, quiet_lost_connection_writes
from agent.api.guards import HostAllowList, HostPolicy, host_of
from agent.llm.settings import LLMSettings
from agent.web import create_ui_app
from common.errors import ConfigError
from tests.fixtures_agent import AgentHistory, make_agent_history
from tests.fixtures_llm import ScriptedLLM, ServerThread, slow

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> AgentHistory:
    return make_agent_history(tmp_path_factory.mktemp("guards"))


def serve(history: AgentHistory, **settings: object) -> ServerThread:
    values = {"db_path": str(history.path), "clock": lambda: history.now, **settings}
    return ServerThread(create_api_app(ApiSettings(**values)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def http(history: AgentHistory) -> Iterator[httpx.Client]:
    with serve(history) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions", "/api/alertmanager", "/mcp"])
def test_deeply_nested_json_is_a_400_not_a_500(http: httpx.Client, path: str) -> None:
    body = b'{"messages": ' + b"[" * 30000 + b"]" * 30000 + b"}"  # under the 64 KiB limit
    headers = {**JSON, "Accept": "application/json, text/event-stream"}
    response = http.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text[:200]
    if path == "/mcp":  # the MCP SDK parses its own bodies: a JSON-RPC parse error
        assert "recursion limit exceeded" in response.json()["error"]["message"]
        return
    assert response.json()["error"] == f"body is nested deeper than {MAX_JSON_DEPTH} levels"


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"q": "[[[[{{{{\\"[[["}') == 1
    assert json_depth(b'{"messages": [{"role": "user"}]}') == 3


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_must_be_declared_json(http: httpx.Client, media: str | None) -> None:
    headers = {"content-type": media} if media else {}
    response = http.post("/api/chat", content=b'{"question": "stats"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["error"].startswith("send the body as Content-Type: application/json")
    ok = http.post("/api/chat", content=b'{"question": "stats"}',
                   headers={"content-type": "application/json; charset=utf-8"})  # fmt: skip
    assert ok.status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "localhost.evil"])
def test_a_foreign_host_is_refused(http: httpx.Client, host: str) -> None:
    for method, path in (("GET", "/api/stats"), ("POST", "/api/chat"), ("GET", "/healthz")):
        response = http.request(method, path, json={"question": "x"}, headers={"host": host})
        assert response.status_code == 421, (method, path)
        assert "AGENT_ALLOWED_HOSTS" in response.json()["error"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "10.1.2.3:8000"])
def test_loopback_names_and_ip_literals_pass(http: httpx.Client, host: str) -> None:
    assert http.get("/api/stats", headers={"host": host}).status_code == 200


def test_configured_hosts_pass(history: AgentHistory) -> None:
    env = {"AGENT_ALLOWED_HOSTS": "agent.example, .corp.example", "RUNAI_FAILURE_DB_PATH": "x"}
    settings = ApiSettings.from_env(env, bind_host="agent-pod")
    policy = HostPolicy.build(settings.allowed_hosts, settings.bind_host)
    assert all(map(policy.allows, ["agent.example", "ui.corp.example", "agent-pod"]))
    assert not any(map(policy.allows, ["corp.example.evil", "example", "other"]))
    assert host_of(b"[::1]:3000") == "::1" and host_of(b"Agent.Example:80") == "agent.example"


def test_the_ui_page_checks_the_host_too(history: AgentHistory) -> None:
    api = create_api_app(ApiSettings(db_path=str(history.path)))
    ui = HostAllowList(create_ui_app(api), HostPolicy.build((), None))
    with ServerThread(ui) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/").status_code == 200
        assert client.get("/", headers={"host": "rebound.example"}).status_code == 421


@pytest.mark.parametrize("raw", ["0", "0.5", "inf", "nan", "1e12", "many"])
def test_the_answer_pool_size_is_validated(raw: str) -> None:
    with pytest.raises(ConfigError, match=f"Invalid AGENT_MAX_ANSWERS '{raw}'"):
        ApiSettings.from_env({"AGENT_MAX_ANSWERS": raw})


def test_answers_beyond_the_pool_get_429_and_readyz_says_saturated(
    history: AgentHistory, scripted_llm: ScriptedLLM
) -> None:
    llm = LLMSettings(api_key="sk-test-guards-0123456789", base_url=scripted_llm.base_url,
                      model="scripted", timeout_s=10, max_retries=0)  # fmt: skip
    scripted_llm.play(*(slow(1.5, "slow answer") for _ in range(2)))
    with serve(history, llm=llm, max_answers=2) as server:
        codes: list[int] = []

        def ask() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                codes.append(client.post("/api/chat", json={"question": "why?"}).status_code)

        askers = [threading.Thread(target=ask) for _ in range(2)]
        for asker in askers:
            asker.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 5
            while client.get("/readyz").status_code != 503:
                assert time.monotonic() < deadline, "the pool never filled"
                time.sleep(0.02)
            assert client.get("/readyz").json()["answers_in_flight"] == 2
            third = client.post("/api/chat", json={"question": "and now?"})
            assert third.status_code == 429 and third.headers["retry-after"] == "5"
            assert "already answering 2 questions" in third.json()["error"]
            started = time.monotonic()
            assert client.get("/api/stats").status_code == 200
            assert time.monotonic() - started < 1.0
            for asker in askers:
                asker.join(timeout=30)
            assert codes == [200, 200]
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize(
    "path",
    [
        "/api/stats?window=between%202030-01-01%20and%202020-01-01",
        "/api/failures?window=from%202026-11-20%20to%202026-11-02",
        "/api/failures-per-day?window=between%202030-01-01%20and%202020-01-01",
        "/api/stats?window=2026-02-30",
    ],
)
def test_inverted_or_impossible_windows_are_a_400(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "the range ends before it starts" in error or "is not a date" in error


def test_a_chat_question_with_an_inverted_range_says_so(http: httpx.Client) -> None:
    reply = http.post("/api/chat", json={"question": "failures between 2030-01-01 and 2020-01-01"})
    assert reply.status_code == 200
    body = reply.json()
    assert "the range ends before it starts" in body["markdown"]
    assert body["tool_calls"] == []  # nothing was answered for a guessed window


# ---- a client leaving a stream: once, at debug -------------------------------------------
def test_writes_to_a_lost_connection_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    """asyncio's `socket.send() raised exception.` per write after a client left (about ten per
    disconnect) is dropped once the agent's logging is set up."""
    quiet_lost_connection_writes()

    async def write_after_the_peer_left() -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        theirs.close()
        await asyncio.sleep(0.05)
        for _ in range(12):
            transport.write(b"event: delta\n\n")
        await asyncio.sleep(0.05)
        transport.close()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(write_after_the_peer_left())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", b'{"question": "what failed?", "stream": true}'),
        ("/v1/chat/completions",
         b'{"messages": [{"role": "user", "content": "what failed?"}], "stream": true}'),
    ],
)  # fmt: skip
def test_a_client_leaving_a_stream_is_logged_once_at_debug(
    history: AgentHistory, scripted_llm: ScriptedLLM, caplog: pytest.LogCaptureFixture,
    path: str, body: bytes,
) -> None:  # fmt: skip
    llm = LLMSettings(api_key="sk-test-guards-0123456789", base_url=scripted_llm.base_url,
                      model="scripted", timeout_s=10, max_retries=0)  # fmt: skip
    scripted_llm.play(slow(1.0, "line of the answer\n" * 400))
    with caplog.at_level(logging.DEBUG, logger="agent.api.app"), serve(history, llm=llm) as server:
        client = socket.create_connection(("127.0.0.1", server.port))
        client.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        assert client.recv(100).startswith(b"HTTP/1.1 200")
        client.close()  # while the model is still thinking
        deadline = time.monotonic() + 10
        while not [r for r in caplog.records if "left the" in r.getMessage()]:
            assert time.monotonic() < deadline, "the disconnect was never noticed"
            time.sleep(0.05)
        time.sleep(1.5)  # the answer arrives for nobody
    left = [r for r in caplog.records if "left the" in r.getMessage()]
    assert len(left) == 1 and left[0].levelno == logging.DEBUG
    assert left[0].getMessage() == f"the client left the {path} stream before its end"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
