"""No secret ever reaches a log line, a metric, an API answer or a stored row.

Everything runs for real with recognisable secret values: the simulator (its client secret,
its Kubernetes token, and every Run:ai access token it issues), the sidecar (text and JSON logs,
API faults, an expired token, rejected credentials), and the agent with an LLM key, pointed at
the scripted OpenAI-compatible server, and an API token. The scripted model even tries to say
the secrets back. Then every log, every scrape, every answer (chat, stream, OpenAI facade,
statistics, errors) and every row of every table is searched for each value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from history.connection import connect
from simulator.kubeconfig import write_kubeconfig
from tests.fixtures_llm import ScriptedLLM, answer, call, error
from tests.fixtures_processes import Processes, child_env, sidecar_env, sim_start

CLIENT_SECRET = "SECRET-client-9f3a"
WRONG_SECRET = "SECRET-wrong-client-0b1d"
K8S_TOKEN = "SECRET-k8s-token-5d21"
WRONG_K8S_TOKEN = "SECRET-k8s-wrong-77aa"
LLM_KEY = "nvapi-SECRET-key-77"
AGENT_TOKEN = "SECRET-agent-token-4e2d"
FIXED = (CLIENT_SECRET, WRONG_SECRET, K8S_TOKEN, WRONG_K8S_TOKEN, LLM_KEY, AGENT_TOKEN)
# What the model says back: the agent's own secrets (it cannot know, so cannot scrub, the
# sidecar's, which never reach the agent container or the model).
LEAKY = f"The key is {LLM_KEY} and the token {AGENT_TOKEN}."


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    return [s for s in secrets if s in text]


def dump_tables(db: Path) -> str:
    """Every row of every table as text."""
    conn = connect(db, read_only=True, timeout_s=30)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()]
        parts = [f"{t}: {conn.execute(f'SELECT * FROM {t}').fetchall()!r}" for t in tables]
    finally:
        conn.close()
    assert {"failure_events", "workload_runs"} <= set(tables)
    return "\n".join(parts)


@pytest.mark.slow
def test_no_secret_reaches_logs_metrics_answers_or_rows(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path,
    scripted_llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_simulator(scale=150, start=sim_start(), client_secret=CLIENT_SECRET,
                         k8s_token=K8S_TOKEN)
    issued: list[str] = []
    tokens = sim.app.state.sim.tokens
    real_issue = tokens.issue

    def issue() -> str:
        issued.append(real_issue())
        return issued[-1]

    monkeypatch.setattr(tokens, "issue", issue)
    data = tmp_path / "data"
    data.mkdir()
    db = data / "history.db"
    outputs: list[str] = []

    # Rejected credentials: a start-up error, in both log formats.
    for log_format in ("text", "json"):
        done = processes.sidecar_once(sim, db, secret=WRONG_SECRET,
                                      args=["--log-format", log_format])
        assert done.returncode == 1 and "rejected the credentials" in done.stderr
        outputs.append(done.stdout + done.stderr)

    # A Kubernetes token the API rejects: every pod status and log read answers 401.
    env = sidecar_env(sim, tmp_path, CLIENT_SECRET)
    env["KUBECONFIG"] = str(write_kubeconfig(tmp_path / "wrong-kubeconfig", sim.url,
                                             WRONG_K8S_TOKEN))
    done = processes.sidecar_once(sim, tmp_path / "wrong-k8s.db", env=env)
    assert done.returncode == 0 and "incomplete evidence" in done.stdout, done.stdout[-2000:]
    outputs.append(done.stdout + done.stderr)

    # The sidecar through faults: 5xx beyond the retries, malformed pages, an expired token.
    car = processes.sidecar(sim, db, secret=CLIENT_SECRET, args=["--log-format", "json"])
    car.wait_polls(success=1)
    sim.set_faults(error_rate=1.0)
    car.wait_polls(failure=1)
    sim.set_faults(error_rate=0.0, malformed_next=2)
    sim.expire_tokens()
    sim.advance(6 * 3600)
    car.settle()
    scrapes = [car.metrics_text(), httpx.get(f"{car.base}/readyz", timeout=5).text]

    # The agent with an LLM key and an API token; the scripted model repeats the secrets.
    env = child_env(NVIDIA_API_KEY=LLM_KEY, LLM_BASE_URL=scripted_llm.base_url,
                    AGENT_API_TOKEN=AGENT_TOKEN, LLM_MAX_RETRIES="0")
    agent = processes.agent(db, env=env, args=["--log-level", "debug"])
    auth = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    answers: list[str] = []
    with httpx.Client(base_url=agent.base, timeout=60) as client:
        scripted_llm.play(call("failure_statistics", {"window": "last 30 days"}), answer(LEAKY))
        reply = client.post("/api/chat", json={"question": "failures this month?"}, headers=auth)
        assert reply.status_code == 200 and reply.json()["mode"] == "llm", reply.text
        answers.append(reply.text)
        scripted_llm.play(answer(LEAKY))
        reply = client.post("/api/chat", json={"question": f"is {LLM_KEY} my key?",
                                               "stream": True}, headers=auth)
        answers.append(reply.text)
        scripted_llm.play(answer(LEAKY))
        reply = client.post("/v1/chat/completions", headers=auth, json={
            "model": "runai-failure-analysis",
            "messages": [{"role": "user", "content": "what failed?"}]})
        assert reply.status_code == 200, reply.text
        answers.append(reply.text)
        scripted_llm.play(error(401))  # the LLM rejects the key: a deterministic fallback
        reply = client.post("/api/chat", json={"question": "what failed today?"}, headers=auth)
        assert reply.status_code == 200 and reply.json()["note"], reply.text
        answers.append(reply.text)
        for path in ("/api/stats", "/api/failures?limit=50", "/api/failures-per-day",
                     "/v1/models", "/healthz"):
            reply = client.get(path, headers=auth)
            assert reply.status_code == 200, (path, reply.text)
            answers.append(reply.text)
        refusals = [
            client.get("/api/stats"),
            client.get("/api/stats", headers={"Authorization": f"Bearer {AGENT_TOKEN}x"}),
            client.post("/api/chat", content=b"{not json",
                        headers={**auth, "content-type": "application/json"}),
            client.post("/api/chat", json={"question": AGENT_TOKEN * 200}, headers=auth),
            client.post("/api/chat", json={"question": AGENT_TOKEN * 3000}, headers=auth),
            client.get("/api/nowhere", headers=auth),
        ]
        assert [r.status_code for r in refusals] == [401, 401, 400, 400, 413, 404]
        answers += [r.text for r in refusals]

    assert agent.stop() == 0 and car.stop() == 0
    secrets = (*FIXED, *issued)
    assert len(issued) >= 2  # the first token and the one after the expiry
    logs = [p.logs() for p in processes.started] + outputs
    assert any("Received SIGTERM" in t for t in logs)  # shutdown lines are searched too
    for text in logs:
        assert not leaks(text, secrets), leaks(text, secrets)
    for text in scrapes + answers:
        assert not leaks(text, secrets), (leaks(text, secrets), text[:300])
    assert LLM_KEY in scripted_llm.sent_text()  # the key did go where it belongs
    assert "[redacted]" in answers[0]  # and the model's echo of it was caught
    assert not leaks(dump_tables(db), secrets)
    assert not leaks(dump_tables(tmp_path / "wrong-k8s.db"), secrets)  # its evidence gaps too
    for stored in data.iterdir():  # the history, its sync state, anything else beside it
        raw = stored.read_bytes().decode("latin-1")
        assert not leaks(raw, secrets), (stored.name, leaks(raw, secrets))
    # The search finds a secret where one is meant to be: the kubeconfig the sidecar reads.
    assert leaks((tmp_path / "kubeconfig").read_text(), secrets) == [K8S_TOKEN]
