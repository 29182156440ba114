"""Keeping secrets out of answers and log lines, without mangling ordinary text.

Two rules, both needed:
- a configured secret (API token, LLM key, client secret, access token) is replaced where it
  stands as a whole token, and only when it has at least MIN_SECRET_CHARS characters. A plain
  substring replace of `AGENT_API_TOKEN=1` turned "2026-11-27" into
  "2026-[redacted][redacted]-27", which mangled every answer and revealed the secret besides;
  a dummy `OPENAI_API_KEY=k` for a local model server ate every letter k. Shorter secrets are
  refused or ignored (with a warning) where they are configured.
- well-known key formats are replaced whatever their value, so a key that was never configured
  here (one pasted into a question, one in a workload's log tail) does not pass either.
- evidence is quoted from pod logs word for word, and logs print what programs print: a
  database URL with its password, an `AWS_SECRET_ACCESS_KEY=...` from a dumped environment.
  CONTEXT_PATTERNS replace only the secret part of such a line and keep what tells a person
  what happened (the setting's name, the URL's user and host).

Both tables are data: a new shape is one line plus a case in tests/test_redaction_patterns.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

MIN_SECRET_CHARS = 8
REDACTED = "[redacted]"

# Random key material has an upper-case letter and a digit; a Kubernetes name (a workload or
# pod called `sk-learn-...`) is lower case, so it is never taken for a key.
_RANDOM = r"(?=[A-Za-z0-9_\-]*[A-Z])(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{20,}"
# Shapes of common credentials; each is long and specific enough not to match prose.
KEY_PATTERNS: dict[str, str] = {
    "openai": rf"\bsk-(?:proj-|svcacct-)?{_RANDOM}",
    "nvidia": rf"\bnvapi-{_RANDOM}",
    "github": r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    "aws_access_key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "slack": r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    "jwt": r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    "bearer": r"(?<=\bBearer )[A-Za-z0-9._~+/=\-]{16,}",
    "github_fine_grained": r"\bgithub_pat_[A-Za-z0-9_]{22,255}",
    "slack_webhook": r"(?<=https://hooks\.slack\.com/)(?:services|workflows|triggers)/[^\s\"'<>]+",
    "huggingface": rf"\bhf_{_RANDOM}",
    "google_api_key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
    "private_key_block": (
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
    ),
}
# Secrets known by where they stand, not by their shape: only the group `secret` is replaced.
CONTEXT_PATTERNS: dict[str, str] = {
    # scheme://user:password@host: which database, not its password. Every repeat is bounded:
    # an unbounded scan from each position made a 100 KB run of `a.a.a` take minutes.
    "url_password": (
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]{0,20}://[^\s:/@\"'<>]{1,64}:(?P<secret>[^\s@/\"'<>]{1,200})@"
    ),
    "basic_auth": r"(?i)\bbasic\s{1,3}(?P<secret>[A-Za-z0-9+/=]{8,})",
    # key=value and key: value in environment dumps, query strings, JSON and YAML (the key is
    # matched from its telling word on: AWS_SECRET_ACCESS_KEY from SECRET). `tokens` and numbers
    # are training logs (`max_tokens=4096`, `token_count: 512`), not secrets, and a value under
    # MIN_SECRET_CHARS or without a digit is a word or code (`token_type: Bearer`,
    # `self._secret = client_secret` in a traceback, `credentials: 'unauthorized: ...`).
    "secret_setting": (
        r"(?i)(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key"
        r"|private[_\-]?key|credentials?)(?!s\b)[\w.\-]{0,40}[\"']?\s{0,3}[=:]\s{0,3}[\"']?"
        r"(?!\[redacted\])(?![\d.]{1,40}(?:[\s\"'&,;}]|$))(?=[^\s\"'&,;}]{0,200}\d)"
        r"(?P<secret>[^\s\"'&,;}()]{8,200})"
    ),
}
_PATTERNS = re.compile("|".join(f"(?:{p})" for p in KEY_PATTERNS.values()))
# Each context rule runs only on text holding what it needs (a log of 400 KB without any
# credential-like word skips them): the words are lower case, the text is lower-cased once.
_CONTEXT_NEEDS: dict[str, tuple[str, ...]] = {
    "url_password": ("://",),
    "basic_auth": ("basic",),
    "secret_setting": ("pass", "pwd", "secret", "token", "key", "credential"),
}
_CONTEXT = tuple(
    (re.compile(CONTEXT_PATTERNS[name]), needs) for name, needs in _CONTEXT_NEEDS.items()
)
_TOKEN_CHAR = "A-Za-z0-9"


def is_redactable(secret: str | None) -> bool:
    return bool(secret) and len(secret or "") >= MIN_SECRET_CHARS


def _exact(secrets: Iterable[str]) -> re.Pattern[str] | None:
    usable = sorted({s for s in secrets if is_redactable(s)}, key=len, reverse=True)
    if not usable:
        return None
    alternatives = "|".join(re.escape(s) for s in usable)
    return re.compile(f"(?<![{_TOKEN_CHAR}])(?:{alternatives})(?![{_TOKEN_CHAR}])")


class Redactor:
    """A growing, thread-safe set of secrets (tokens arrive while the process runs)."""

    def __init__(self, secrets: Iterable[str | None] = (), replacement: str = REDACTED):
        self.replacement = replacement
        self._secrets: frozenset[str] = frozenset()
        self._exact: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> bool:
        """Register a secret; False (not registered) when it is too short to redact safely."""
        if not secret:
            return True
        if not is_redactable(secret):
            return False
        with self._lock:
            if secret not in self._secrets:
                self._secrets = self._secrets | {secret}
                self._exact = _exact(self._secrets)
        return True

    def redact(self, text: str) -> str:
        exact = self._exact
        if exact is not None:
            text = exact.sub(self.replacement, text)
        text = _PATTERNS.sub(self.replacement, text)
        lowered = text.lower()
        for pattern, needs in _CONTEXT:
            if any(word in lowered for word in needs):
                text = pattern.sub(self._keep_context, text)
        return text

    def _keep_context(self, match: re.Match[str]) -> str:
        start, end = match.span("secret")
        whole = match.group(0)
        offset = match.start()
        return whole[: start - offset] + self.replacement + whole[end - offset :]


@lru_cache(maxsize=8)
def _for(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without the given secrets (the ones long enough) or anything shaped like a key."""
    return _for(secrets).redact(text)


def redact_secrets(text: str) -> str:
    """`text` without anything shaped like a secret (no configured secrets needed)."""
    return redact(text, ()) if text else text


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """`fn` applied to every string inside a JSON-like value, keys included (a log line can be
    a key; the strings, not the serialisation, so an escape cannot glue onto what follows)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Mapping):
        return {fn(str(k)): map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [map_strings(v, fn) for v in value]
    return value


def redact_json(value: Any, redact_text: Callable[[str], str] = redact_secrets) -> Any:
    """Every string inside a JSON-like value redacted."""
    return map_strings(value, redact_text)
