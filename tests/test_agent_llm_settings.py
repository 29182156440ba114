import re

import pytest

from agent.llm.settings import (
    NVIDIA_BASE_URL,
    NVIDIA_DEFAULT_MODEL,
    OPENAI_BASE_URL,
    LLMSettings,
)
from common.errors import ConfigError

KEY = "nvapi-SECRET-1234567890"


def test_no_key_means_deterministic():
    settings = LLMSettings.from_env({})
    assert not settings.enabled
    assert settings.describe() == "LLM: off (deterministic answers)"


def test_nvidia_key_selects_nvidia_endpoint_and_default_model():
    settings = LLMSettings.from_env({"NVIDIA_API_KEY": KEY})
    assert settings.enabled
    assert settings.base_url == NVIDIA_BASE_URL
    assert settings.model == NVIDIA_DEFAULT_MODEL
    assert settings.describe() == f"LLM: {NVIDIA_DEFAULT_MODEL} at integrate.api.nvidia.com"


def test_openai_compatible_endpoint_and_overrides():
    settings = LLMSettings.from_env(
        {
            "OPENAI_API_KEY": KEY,
            "LLM_BASE_URL": "http://127.0.0.1:9999/v1/",
            "LLM_MODEL": "local-model",
            "LLM_TIMEOUT_S": "2.5",
            "LLM_MAX_STEPS": "3",
            "LLM_MASK_NAMES": "1",
        }
    )
    assert settings.base_url == "http://127.0.0.1:9999/v1"
    assert (settings.model, settings.timeout_s, settings.max_steps) == ("local-model", 2.5, 3)
    assert settings.mask_names
    assert LLMSettings.from_env({"OPENAI_API_KEY": KEY}).base_url == OPENAI_BASE_URL


def test_key_never_in_repr_or_description():
    settings = LLMSettings.from_env({"NVIDIA_API_KEY": KEY, "LLM_MASK_NAMES": "yes"})
    assert KEY not in repr(settings)
    assert KEY not in settings.describe()
    assert KEY not in str(settings)
    assert settings.secrets() == (KEY,)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_TIMEOUT_S": "soon"}, "Invalid LLM_TIMEOUT_S 'soon': must be a number from 0.1"),
        ({"LLM_TIMEOUT_S": "0"}, "Invalid LLM_TIMEOUT_S '0': must be a number from 0.1"),
        ({"LLM_MAX_STEPS": "-1"}, "Invalid LLM_MAX_STEPS '-1': must be a whole number from 1"),
        ({"LLM_MAX_STEPS": "inf"}, "Invalid LLM_MAX_STEPS 'inf'"),
        ({"LLM_MAX_STEPS": "0.5"}, "Invalid LLM_MAX_STEPS '0.5': must be a whole number"),
        ({"LLM_MAX_STEPS": "nan"}, "Invalid LLM_MAX_STEPS 'nan'"),
        ({"LLM_MAX_RETRIES": "1e12"}, "Invalid LLM_MAX_RETRIES '1e12'"),
        ({"LLM_TIMEOUT_S": "1e-9"}, "Invalid LLM_TIMEOUT_S '1e-9'"),
        ({"LLM_MASK_NAMES": "maybe"}, "Invalid LLM_MASK_NAMES 'maybe': expected true or false"),
        ({"LLM_BASE_URL": "ftp://x"}, "LLM_BASE_URL must be an http(s) URL"),
    ],
)
def test_bad_values_give_one_line_errors(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        LLMSettings.from_env({"OPENAI_API_KEY": KEY, **env})
    assert "\n" not in str(info.value)
    assert KEY not in str(info.value)
