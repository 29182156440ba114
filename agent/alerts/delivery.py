"""Sending notices to the configured chat targets: secrets kept, bursts grouped, rate limited.

- Targets come from the environment (AGENT_SLACK_WEBHOOK_URL, AGENT_TEAMS_WEBHOOK_URL,
  AGENT_NOTIFY_WEBHOOK_URL). A webhook URL is itself the credential, so it is never logged,
  never returned, and redacted from any error text (httpx puts URLs in some messages).
- One message per burst: an Alertmanager group is one notice. The ledger remembers what each
  open group last announced, so Alertmanager's repeat of the same firing alerts is not posted
  again, a new alert joining the group is, and a resolution closes the group's thread once.
- Rate limit: at most AGENT_NOTIFY_PER_MINUTE posts per target in any 60 s; a notice over the
  limit is held back and counted, and the next one sent says how many were.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from agent.alerts.formats import FORMATS, Notice
from common.bounds import bounded_int
from common.errors import ConfigError
from common.redaction import redact_json, redact_secrets

log = logging.getLogger("agent.alerts")

TARGET_VARIABLES = {
    "slack": "AGENT_SLACK_WEBHOOK_URL",
    "teams": "AGENT_TEAMS_WEBHOOK_URL",
    "webhook": "AGENT_NOTIFY_WEBHOOK_URL",
}
DEFAULT_PER_MINUTE = 10
SEND_TIMEOUT_S = 10.0
# A group still firing is announced again after this long (Alertmanager's default
# repeat_interval), so a long incident is not forgotten in the channel.
REPEAT_AFTER_S = 4 * 3600
LEDGER_GROUPS = 1000  # open groups remembered; the oldest is forgotten first


@dataclass(frozen=True)
class Target:
    kind: str  # slack, teams or webhook
    url: str = field(repr=False)


@dataclass(frozen=True)
class NotifySettings:
    targets: tuple[Target, ...] = ()
    ui_url: str | None = None  # AGENT_UI_URL: where the chat messages link to
    per_minute: int = DEFAULT_PER_MINUTE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if env is None else env
        targets = []
        for kind, variable in TARGET_VARIABLES.items():
            url = env.get(variable, "").strip()
            if url:
                _check_url(variable, url, secret=True)
                targets.append(Target(kind, url))
        ui_url = env.get("AGENT_UI_URL", "").strip() or None
        if ui_url:
            _check_url("AGENT_UI_URL", ui_url, secret=False)
        per_minute = DEFAULT_PER_MINUTE
        if env.get("AGENT_NOTIFY_PER_MINUTE", "").strip():
            per_minute = bounded_int("AGENT_NOTIFY_PER_MINUTE", env["AGENT_NOTIFY_PER_MINUTE"])
        return cls(tuple(targets), ui_url, per_minute)

    def secrets(self) -> tuple[str, ...]:
        return tuple(t.url for t in self.targets)


def _check_url(variable: str, url: str, secret: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = "(hidden: it is a credential)" if secret else repr(url[:80])
        raise ConfigError(f"{variable} must be an http(s) URL, got {shown}")


class _UrlScrubber(logging.Filter):
    """httpx logs every request's URL at INFO; for a webhook the URL is the credential."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(url in message for url in self.urls):
            for url in self.urls:
                message = message.replace(url, "[redacted webhook URL]")
            record.msg, record.args = message, ()
        return True


_SCRUBBER = _UrlScrubber()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_SCRUBBER)


class Ledger:
    """What each Alertmanager group last announced (fingerprints firing, when)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._open: OrderedDict[str, tuple[frozenset[str], float]] = OrderedDict()

    def is_news(self, notice_key: str, status: str, fingerprints: frozenset[str]) -> bool:
        known = self._open.get(notice_key)
        if status == "resolved":
            return True  # even after a restart: a resolution that closes nothing is harmless
        if known is None:
            return True
        announced, at = known
        return not fingerprints <= announced or self.clock() - at >= REPEAT_AFTER_S

    def record(self, notice_key: str, status: str, fingerprints: frozenset[str]) -> None:
        if status == "resolved":
            self._open.pop(notice_key, None)
            return
        self._open[notice_key] = (fingerprints, self.clock())
        self._open.move_to_end(notice_key)
        while len(self._open) > LEDGER_GROUPS:
            self._open.popitem(last=False)


class RateLimit:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sent: deque[float] = deque()
        self.held_back = 0

    def allow(self) -> bool:
        now = self.clock()
        while self.sent and now - self.sent[0] >= 60:
            self.sent.popleft()
        if len(self.sent) >= self.per_minute:
            self.held_back += 1
            return False
        self.sent.append(now)
        return True


class Notifier:
    """Delivers notices; safe to call from several worker threads."""

    def __init__(
        self,
        settings: NotifySettings,
        redact: Callable[[str], str] = redact_secrets,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.redact = redact
        _SCRUBBER.urls.update(settings.secrets())
        self.ledger = Ledger(clock)
        self.limits = {t.kind: RateLimit(settings.per_minute, clock) for t in settings.targets}
        self._lock = threading.Lock()
        self._transport = transport

    def deliver(self, notice: Notice, fingerprints: frozenset[str]) -> dict[str, Any]:
        """Send `notice` to every target; a report per target, never an exception."""
        if not self.settings.targets:
            return {"delivered": {}, "note": "no notification targets configured"}
        with self._lock:
            if not self.ledger.is_news(notice.group_key, notice.status, fingerprints):
                return {"delivered": {}, "note": "already announced: nothing new in this group"}
            self.ledger.record(notice.group_key, notice.status, fingerprints)
            plan = []
            for target in self.settings.targets:
                limit = self.limits[target.kind]
                held = limit.held_back
                if limit.allow():
                    limit.held_back = 0
                    plan.append((target, held))
                else:
                    plan.append((target, -1))
        report: dict[str, str] = {}
        with httpx.Client(timeout=SEND_TIMEOUT_S, transport=self._transport) as client:
            for target, held in plan:
                if held < 0:
                    report[target.kind] = "held back by the rate limit"
                    log.warning("%s notice for %s held back by the rate limit", target.kind,
                                notice.title[:120])  # fmt: skip
                    continue
                # Evidence recorded before redaction existed, or a secret of ours, never leaves.
                body = redact_json(FORMATS[target.kind](_with_held_back(notice, held)),
                                   self.redact)  # fmt: skip
                report[target.kind] = self._post(client, target, body)
        return {"delivered": report}

    def _post(self, client: httpx.Client, target: Target, body: Mapping[str, Any]) -> str:
        try:
            response = client.post(target.url, json=body)
        except httpx.HTTPError as exc:
            reason = str(exc).replace(target.url, "[redacted]") or type(exc).__name__
            log.warning("sending the %s notice failed: %s", target.kind, reason)
            return f"failed: {reason}"
        if response.status_code >= 300:
            log.warning("the %s webhook answered HTTP %d", target.kind, response.status_code)
            return f"failed: HTTP {response.status_code}"
        return "sent"


def _with_held_back(notice: Notice, held: int) -> Notice:
    if not held:
        return notice
    return Notice(notice.group_key, notice.status, notice.findings, notice.external_url,
                  notice.truncated_alerts, notice.resolved_alerts, held)  # fmt: skip
