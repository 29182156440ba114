"""The :8000 API over real HTTP on a free loopback port, against the seeded history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import openai
import pytest

from agent.api.app import create_api_app
from agent.api.edges import ApiSettings
from agent.api.openai_compat import MODEL_ID
from agent.llm.settings import LLMSettings
from tests.fixtures_agent import AgentHistory, make_agent_history
from tests.fixtures_llm import ServerThread, answer, call, error, model_text

TOKEN = "agent-token-3c9f1e"
LLM_KEY = "sk-LLM-KEY-a1b2c3d4-NEVER-SHOW"


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> AgentHistory:
    return make_agent_history(tmp_path_factory.mktemp("api"))


def serve(history: AgentHistory, **settings) -> ServerThread:
    values = {"db_path": str(history.path), "clock": lambda: history.now, **settings}
    return ServerThread(create_api_app(ApiSettings(**values)))


@pytest.fixture(scope="module")
def client(history) -> Iterator[httpx.Client]:
    with (
        serve(history, max_body_bytes=4096) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        yield http


def events(response: httpx.Response) -> list[tuple[str, dict]]:
    found = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def week_failures(history: AgentHistory, where: str = "", params: tuple = ()) -> int:
    return history.scalar(
        f'SELECT count(*) FROM failure_events WHERE "timestamp" >= ? AND "timestamp" < ? {where}',
        [history.now - timedelta(days=7), history.now, *params],
    )


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "llm": "LLM: off (deterministic answers)"}


def test_chat_json_numbers_equal_sql(client, history):
    response = client.post("/api/chat", json={"question": "Show me failure statistics"})
    assert response.status_code == 200
    body = response.json()
    total = week_failures(history)
    assert body["mode"] == "deterministic"
    assert f"**{total} failures**" in body["markdown"]
    stats = body["tool_calls"][0]
    assert stats["name"] == "failure_statistics" and stats["status"] == "ok"
    assert stats["data"]["total_failures"] == total


def test_chat_accepts_messages(client):
    body = client.post(
        "/api/chat",
        json={"messages": [{"role": "user", "content": "hello"}, {"role": "assistant",
              "content": "hi"}, {"role": "user", "content": "Why did train-llama-7b fail?"}]},
    ).json()  # fmt: skip
    assert "gpu_oom" in body["markdown"]
    assert "torch.OutOfMemoryError: CUDA out of memory" in body["markdown"]


def test_chat_stream_sends_tool_calls_then_the_answer(client, history):
    response = client.post("/api/chat", json={"question": "Why did train-llama-7b fail?",
                                              "stream": True})  # fmt: skip
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = events(response)
    kinds = [kind for kind, _ in stream]
    assert kinds[0] == "tool_call" and kinds[1] == "tool_result"
    assert kinds[-2:] == ["answer", "done"]
    assert "delta" in kinds
    final = stream[-2][1]
    assert "".join(p["text"] for k, p in stream if k == "delta") == final["markdown"]
    assert stream[0][1]["arguments"] == {"workload_name": "train-llama-7b"}
    assert stream[1][1]["data"]["failure"]["category"] == "gpu_oom"


def test_stats_endpoint_with_filter(client, history):
    body = client.get("/api/stats", params={"window": "last 7 days", "project": "team-a"}).json()
    assert body["status"] == "ok"
    assert body["data"]["total_failures"] == week_failures(history, "AND project = ?", ("team-a",))


def test_failures_endpoint(client, history):
    body = client.get("/api/failures", params={"limit": "2", "window": "last 30 days"}).json()
    assert body["status"] == "ok"
    rows = body["data"]["failures"]
    assert len(rows) == 2
    assert rows[0]["timestamp"] >= rows[1]["timestamp"]
    gpu = client.get("/api/failures", params={"category": "gpu_hardware"}).json()
    assert {r["category"] for r in gpu["data"]["failures"]} == {"gpu_hardware"}


def test_failures_per_day_matches_sql(client, history):
    body = client.get("/api/failures-per-day", params={"window": "last 14 days"}).json()
    data = body["data"]
    assert len(data["days"]) == 15  # a partial first day, 13 whole days, and today
    rows = history.sql(
        'SELECT category, count(*) FROM failure_events WHERE "timestamp" >= ? GROUP BY 1',
        [history.now - timedelta(days=14)],
    )
    assert {c: sum(v) for c, v in data["series"].items()} == dict(rows)
    assert data["total"] == sum(n for _, n in rows)


def test_openai_compatible_facade_with_the_real_client(client, history):
    llm = openai.OpenAI(
        base_url=f"{str(client.base_url).rstrip('/')}/v1", api_key="unused", max_retries=0
    )
    assert [m.id for m in llm.models.list().data] == [MODEL_ID]
    reply = llm.chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": "Show me failure statistics"}]
    )
    assert f"**{week_failures(history)} failures**" in reply.choices[0].message.content
    chunks = llm.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "Show me failure statistics"}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == reply.choices[0].message.content


BAD_REQUESTS = [
    ("POST", "/api/chat", b"{not json", 400, "body is not valid JSON"),
    ("POST", "/api/chat", b"[1, 2]", 400, "body must be a JSON object"),
    ("POST", "/api/chat", b"", 400, "empty body"),
    ("POST", "/api/chat", b'{"q": "x"}', 400, "missing 'question'"),
    ("POST", "/api/chat", b'{"question": 42}', 400, "'question' must be a string"),
    ("POST", "/api/chat", b'{"question": "   "}', 400, "the question is empty"),
    ("POST", "/api/chat", b'{"question": "x", "stream": "yes"}', 400, "'stream' must be"),
    ("POST", "/api/chat", b'{"messages": []}', 400, "non-empty list"),
    ("POST", "/api/chat", b'{"messages": [{"role": "assistant", "content": "x"}]}', 400,
     "last message must come from the user"),
    ("POST", "/api/chat", b'{"messages": [{"role": "tool", "content": "x"}]}', 400, "role"),
    ("POST", "/api/chat", json.dumps({"question": "x" * 5000}).encode(), 413, "larger than"),
    ("GET", "/api/chat", None, 405, "method GET not allowed on /api/chat"),
    ("GET", "/api/nothing", None, 404, "no such endpoint: /api/nothing"),
    ("DELETE", "/api/stats", None, 405, "not allowed"),
    ("GET", "/api/stats?colour=red", None, 400, "unknown query parameter(s): colour"),
    ("GET", "/api/stats?window=the+age+of+dragons", None, 400, "cannot read the time window"),
    ("GET", "/api/stats?group_by=colour", None, 400, "group_by must be one of"),
    ("GET", "/api/failures?limit=many", None, 400, "'limit' must be an integer"),
    ("GET", "/api/failures?limit=0", None, 400, "limit must be between"),
    ("GET", "/api/failures?category=aliens", None, 400, "category must be one of"),
    ("GET", "/api/failures-per-day?window=someday", None, 400, "cannot read the time window"),
    ("POST", "/v1/chat/completions", b'{"model": "gpt-9", "messages": []}', 404,
     "unknown model 'gpt-9'"),
    ("POST", "/v1/chat/completions", b'{"model": "runai-failure-analysis"}', 400,
     "missing 'messages'"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(client, method, path, body, status, message):
    response = client.request(method, path, content=body,
                              headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == status
    error_text = response.json()["error"]
    assert message in error_text
    assert "\n" not in error_text and "Traceback" not in error_text


def test_chunked_oversize_body_is_refused(client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    response = client.post(
        "/api/chat", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_bearer_token(history):
    with serve(history, api_token=TOKEN) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/healthz").status_code == 200
        missing = http.get("/api/stats")
        assert missing.status_code == 401
        assert "bearer token" in missing.json()["error"]
        assert missing.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in missing.text
        wrong = http.get("/api/stats", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = http.get("/api/stats", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        models = http.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
        assert models.status_code == 200


def test_missing_history_file_is_a_friendly_answer(tmp_path):
    settings = ApiSettings(db_path=str(tmp_path / "absent.db"))
    with (
        ServerThread(create_api_app(settings)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        chat = http.post("/api/chat", json={"question": "Show me failure statistics"})
        assert chat.status_code == 200
        assert "is the sidecar running" in chat.json()["markdown"]
        stats = http.get("/api/stats")
        assert stats.status_code == 200 and stats.json()["status"] == "no_data"
        per_day = http.get("/api/failures-per-day")
        assert per_day.status_code == 200 and per_day.json()["status"] == "no_data"


def test_llm_mode_over_http_never_shows_the_key(history, scripted_llm):
    llm = LLMSettings(api_key=LLM_KEY, base_url=scripted_llm.base_url, model="scripted",
                      timeout_s=5, max_retries=0)  # fmt: skip
    total = week_failures(history)
    scripted_llm.play(
        call("failure_statistics", {"window": "last 7 days"}),
        answer(f"**{total} failures** in the last 7 days."),
    )
    with serve(history, llm=llm) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/healthz").json()["llm"] == "LLM: scripted at " + server_host(
            scripted_llm.base_url
        )
        streamed = http.post("/api/chat", json={"question": "stats", "stream": True})
        kinds = [k for k, _ in events(streamed)]
        assert kinds[:2] == ["tool_call", "tool_result"]
        final = events(streamed)[-2][1]
        assert final["mode"] == "llm" and final["note"] is None
        assert model_text(final["markdown"]) == f"**{total} failures** in the last 7 days."
        scripted_llm.play(error(429))
        fallback = http.post("/api/chat", json={"question": "Show me failure statistics"}).json()
        assert fallback["mode"] == "deterministic"
        assert fallback["note"].startswith(
            "LLM unavailable: the LLM is rate limited (HTTP 429); answered deterministically"
        )
        assert f"**{total} failures**" in fallback["markdown"]
        assert LLM_KEY not in streamed.text + json.dumps(fallback) + http.get("/healthz").text


def server_host(url: str) -> str:
    return httpx.URL(url).netloc.decode()


def test_corrupt_history_file_gives_an_answer_not_a_crash(tmp_path):
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a duckdb file" * 100)
    settings = ApiSettings(db_path=str(path))
    with (
        ServerThread(create_api_app(settings)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        chat = http.post("/api/chat", json={"question": "Show me failure statistics"})
        assert chat.status_code == 200
        assert chat.json()["tool_calls"][0]["status"] == "error"
        stats = http.get("/api/stats")
        assert stats.status_code == 503
        assert "cannot read the history file" in stats.json()["message"]
        assert path.read_bytes() == b"this is not a duckdb file" * 100  # never overwritten


def test_a_bug_is_a_one_line_500_and_a_stream_error_event(history):
    def broken_clock():
        raise RuntimeError("clock is broken")

    with (
        serve(history, clock=broken_clock) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        plain = http.post("/api/chat", json={"question": "Show me failure statistics"})
        assert plain.status_code == 500
        assert plain.json() == {"error": "internal error while answering; see the agent's log"}
        streamed = http.post("/api/chat", json={"question": "stats", "stream": True})
        assert [k for k, _ in events(streamed)] == ["error", "done"]
        assert "clock is broken" not in plain.text + streamed.text
        assert http.get("/healthz").status_code == 200  # the server (and connection) lived on
