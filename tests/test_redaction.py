"""Redaction replaces secrets as whole tokens of at least 8 characters, plus key shapes (issue 18).

`AGENT_API_TOKEN=1` turned answers into `2026-[redacted][redacted]-27` (and so revealed the
token); a dummy `OPENAI_API_KEY=k` ate every letter k. Each test here failed on that code.
"""

from __future__ import annotations

import httpx
import pytest

from agent.api.app import create_api_app
from agent.api.edges import ApiSettings, redact
from agent.llm.settings import LLMSettings
from common.errors import ConfigError
from common.redaction import Redactor
from exporter.logging_setup import REDACTED, SecretScrubber
from tests.fixtures_agent import AgentHistory
from tests.fixtures_llm import ScriptedLLM, ServerThread, answer

DATE_TEXT = "On 2026-11-27, 11 jobs of kubeflow-kit failed (k-means, 1 node)."


@pytest.mark.parametrize("short", ["1", "k", "abc1234"])
def test_a_short_secret_never_mangles_text(short: str) -> None:
    assert redact(DATE_TEXT, (short,)) == DATE_TEXT
    scrubber = SecretScrubber()
    assert scrubber.add(short) is False
    assert scrubber.scrub(DATE_TEXT) == DATE_TEXT


def test_a_long_secret_is_replaced_as_a_whole_token() -> None:
    secret = "tok-3c9f1e77"
    text = f"Bearer {secret}; url?t={secret}&x=1; '{secret}' but xtok-3c9f1e77y stays"
    assert redact(text, (secret,)) == (
        "Bearer [redacted]; url?t=[redacted]&x=1; '[redacted]' but xtok-3c9f1e77y stays"
    )


@pytest.mark.parametrize(
    "key",
    [
        "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWx",
        "nvapi-Q2w3E4r5T6y7U8i9O0pAsDfGh",
        "ghp_" + "aB3" * 12,
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_well_known_key_shapes_are_redacted_unconfigured(key: str) -> None:
    assert redact(f"the key is {key}.", ()) == "the key is [redacted]."
    assert key not in SecretScrubber().scrub(f"token={key}")


@pytest.mark.parametrize(
    "name", ["sk-learn-training-job-1234567", "nvapi-proxy-deployment-7f9c8d6b5", "eyJ"]
)
def test_kubernetes_names_are_not_taken_for_keys(name: str) -> None:
    assert redact(f"workload {name} failed", ()) == f"workload {name} failed"


def test_a_short_api_token_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="AGENT_API_TOKEN must have at least 8 characters"):
        ApiSettings.from_env({"AGENT_API_TOKEN": "1"})
    assert ApiSettings.from_env({"AGENT_API_TOKEN": "12345678"}).api_token == "12345678"


def test_a_placeholder_llm_key_is_not_redacted_from_answers(
    agent_history: AgentHistory, scripted_llm: ScriptedLLM
) -> None:
    llm = LLMSettings(api_key="k", base_url=scripted_llm.base_url, model="scripted",
                      timeout_s=5, max_retries=0)  # fmt: skip
    assert llm.placeholder_key
    scripted_llm.play(answer(DATE_TEXT))
    settings = ApiSettings(db_path=str(agent_history.path), llm=llm,
                           clock=lambda: agent_history.now)  # fmt: skip
    with ServerThread(create_api_app(settings)) as server:
        reply = httpx.post(f"{server.url}/api/chat", json={"question": "what failed?"}, timeout=30)
    assert reply.status_code == 200
    assert DATE_TEXT in reply.json()["markdown"]  # unmangled (notes may come before or after)


def test_the_scrubber_uses_its_own_replacement_and_grows() -> None:
    redactor = Redactor(replacement=REDACTED)
    assert redactor.add("first-secret-1") and redactor.add("second-secret-2")
    assert redactor.redact("first-secret-1 second-secret-2") == f"{REDACTED} {REDACTED}"
