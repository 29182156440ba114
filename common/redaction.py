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
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache

MIN_SECRET_CHARS = 8

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
}
_PATTERNS = re.compile("|".join(f"(?:{p})" for p in KEY_PATTERNS.values()))
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

    def __init__(self, secrets: Iterable[str | None] = (), replacement: str = "[redacted]"):
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
        return _PATTERNS.sub(self.replacement, text)


@lru_cache(maxsize=8)
def _for(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without the given secrets (the ones long enough) or anything shaped like a key."""
    return _for(secrets).redact(text)
