"""Bearer tokens for the Run:ai API: issued for the configured client, expiring in real time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenStore:
    """Issues JWT-shaped tokens (opaque to clients) and remembers when each one expires."""

    def __init__(self, client_id: str, client_secret: str, ttl_s: int,
                 clock: Callable[[], float]) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.ttl_s = ttl_s
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._expiry: dict[str, float] = {}

    def credentials_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return (client_id is not None and client_secret is not None
                and hmac.compare_digest(client_id.encode(), self.client_id.encode())
                and hmac.compare_digest(client_secret.encode(), self._secret.encode()))

    def issue(self) -> str:
        now = self._clock()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps({
            "iss": "runai-simulator", "sub": self.client_id, "iat": int(now),
            "exp": int(now + self.ttl_s), "jti": secrets.token_hex(8)}).encode())
        signature = _b64(hmac.new(self._key, f"{header}.{payload}".encode(),
                                  hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self._expiry[token] = now + self.ttl_s
        return token

    def valid(self, token: str) -> bool:
        expires = self._expiry.get(token)
        if expires is None:
            return False
        if self._clock() >= expires:
            del self._expiry[token]
            return False
        return True

    def expire_all(self) -> int:
        count = len(self._expiry)
        self._expiry.clear()
        return count


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
