"""Which LLM the agent talks to, read once from the environment.

NVIDIA_API_KEY selects NVIDIA's hosted endpoint; OPENAI_API_KEY (with LLM_BASE_URL) any other
OpenAI-compatible one. No key means deterministic answers only. The key lives in a field that
repr() leaves out, and `describe()` never includes it, so it cannot leak through a log line.

    NVIDIA_API_KEY     key for https://integrate.api.nvidia.com/v1 (wins over OPENAI_API_KEY)
    OPENAI_API_KEY     key for LLM_BASE_URL (default https://api.openai.com/v1)
    LLM_BASE_URL       any OpenAI-compatible endpoint (vLLM, NIM, Ollama's /v1, ...)
    LLM_MODEL          model id (default meta/llama-3.1-70b-instruct on NVIDIA, else gpt-4o-mini)
    LLM_TIMEOUT_S      per request (30)
    LLM_MAX_STEPS      model round trips per question (6)
    LLM_MAX_RETRIES    retries of a timeout, 429 or 5xx, with the client's backoff (2)
    LLM_MASK_NAMES     1: workload, project and node names never leave the pod (0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from common.bounds import bounded, env_flag
from common.errors import ConfigError
from common.redaction import is_redactable

NVIDIA_BASE_URL = "https://integrate.api.nvidia.com/v1"
NVIDIA_DEFAULT_MODEL = "meta/llama-3.1-70b-instruct"
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class LLMSettings:
    api_key: str | None = field(default=None, repr=False)
    base_url: str = NVIDIA_BASE_URL
    model: str = NVIDIA_DEFAULT_MODEL
    timeout_s: float = 30.0
    max_steps: int = 6  # model round trips per question, tool calls included
    max_retries: int = 2  # per request, for timeouts, 429 and 5xx (the openai client's backoff)
    mask_names: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    def describe(self) -> str:
        """One line for banners and /healthz: never the key."""
        if not self.enabled:
            return "LLM: off (deterministic answers)"
        host = urlsplit(self.base_url).netloc or self.base_url
        masking = ", names masked" if self.mask_names else ""
        return f"LLM: {self.model} at {host}{masking}"

    def secrets(self) -> tuple[str, ...]:
        """Values that must be scrubbed from anything shown to a person."""
        return (self.api_key,) if self.api_key else ()

    @property
    def placeholder_key(self) -> bool:
        """A key too short to be a real one (`k` for a local model server): not redacted, since
        replacing it would mangle answers; serve warns about it at start."""
        return bool(self.api_key) and not is_redactable(self.api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMSettings:
        env = os.environ if env is None else env
        nvidia_key = env.get("NVIDIA_API_KEY", "").strip()
        openai_key = env.get("OPENAI_API_KEY", "").strip()
        base_url = env.get("LLM_BASE_URL", "").strip()
        model = env.get("LLM_MODEL", "").strip()
        if nvidia_key:
            key, default_url, default_model = nvidia_key, NVIDIA_BASE_URL, NVIDIA_DEFAULT_MODEL
        else:
            key, default_url, default_model = openai_key, OPENAI_BASE_URL, OPENAI_DEFAULT_MODEL
        url = base_url or default_url
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"LLM_BASE_URL must be an http(s) URL, got {url!r}")
        return cls(
            api_key=key or None,
            base_url=url.rstrip("/"),
            model=model or default_model,
            timeout_s=_number(env, "LLM_TIMEOUT_S", 30.0),
            max_steps=int(_number(env, "LLM_MAX_STEPS", 6)),
            max_retries=int(_number(env, "LLM_MAX_RETRIES", 2)),
            mask_names=env_flag(env, "LLM_MASK_NAMES"),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    """The variable checked against common.bounds (inf, nan, 0.5 steps refused), or default."""
    raw = env.get(name, "").strip()
    return bounded(name, raw) if raw else default

