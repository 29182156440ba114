"""Every numeric setting of the product, with its bounds, checked in one place.

A flag or variable outside its range is one ConfigError at start, in one form:
`Invalid --poll-interval 'inf': must be a number from 0.1 to 86400 (seconds)`. `inf`, `nan`,
`1e12`, `1e-9` and `0.5` for a whole number are all refused here, so none of them can reach a
sleep, a timer or a loop counter and fail later (or silently become 0).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from common.errors import ConfigError


@dataclass(frozen=True)
class Bound:
    minimum: float
    maximum: float
    unit: str
    whole: bool = False  # a count: 0.5 is refused, not truncated


# name (as the operator writes it) -> allowed range. Values are generous on purpose: the bound
# catches typos and nonsense, the docs (configuration.md) give the sensible values.
BOUNDS: dict[str, Bound] = {
    # the sidecar (exporter/config.py)
    "--poll-interval": Bound(0.1, 86_400, "seconds"),
    "--retention-days": Bound(1, 36_500, "days", whole=True),
    "--pending-threshold": Bound(0, 3650 * 86_400, "seconds"),
    "--census-interval": Bound(0, 7 * 86_400, "seconds"),
    "--listing-overlap": Bound(0, 86_400, "seconds"),
    "--runai-max-in-flight": Bound(1, 256, "requests", whole=True),
    "--kube-max-in-flight": Bound(1, 256, "requests", whole=True),
    # the agent's LLM (agent/llm/settings.py)
    "LLM_TIMEOUT_S": Bound(0.1, 3600, "seconds"),
    "LLM_MAX_STEPS": Bound(1, 50, "round trips", whole=True),
    "LLM_MAX_RETRIES": Bound(0, 10, "retries", whole=True),
    # the agent's API (agent/api/edges.py)
    "AGENT_MAX_ANSWERS": Bound(1, 256, "answers", whole=True),
    # operator and developer commands (history/cli.py, agent/cli/run_evals.py)
    "--lock-timeout": Bound(0, 3600, "seconds"),
    "--timeout": Bound(0.1, 3600, "seconds"),  # db sql
    "--older-than-days": Bound(1, 36_500, "days", whole=True),
    "--min-pass-rate": Bound(0, 1, "fraction of cases"),
    # chat notifications from Alertmanager (agent/alerts/delivery.py)
    "AGENT_NOTIFY_PER_MINUTE": Bound(1, 600, "messages a minute per target", whole=True),
}


def bounded(name: str, raw: str | float | int) -> float:
    """`raw` (text from the environment or a flag) as a number inside BOUNDS[name]."""
    bound = BOUNDS[name]
    text = str(raw).strip()
    kind = "a whole number" if bound.whole else "a number"
    shown = f"{_plain(bound.minimum)} to {_plain(bound.maximum)} ({bound.unit})"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if (
        not math.isfinite(value)
        or not bound.minimum <= value <= bound.maximum
        or (bound.whole and not value.is_integer())
    ):
        raise ConfigError(f"Invalid {name} {text!r}: must be {kind} from {shown}")
    return value


def bounded_int(name: str, raw: str | float | int) -> int:
    return int(bounded(name, raw))


# The spellings of yes and no every on/off variable accepts; unset is no.
_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"", "0", "false", "no", "off"})


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """An on/off environment variable, read the same way by every process: anything outside
    the two spellings above is refused at start rather than read as off."""
    raw = env.get(name, "").strip().lower()
    if raw in _YES:
        return True
    if raw in _NO:
        return False
    raise ConfigError(f"Invalid {name} {raw!r}: expected true or false (or 1/0, yes/no, on/off)")


def argument(name: str) -> Callable[[str], float]:
    """An argparse `type=` for a flag in BOUNDS: the same check, as argparse's own error."""

    def parse(text: str) -> float:
        try:
            value = bounded(name, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return int(value) if BOUNDS[name].whole else value

    return parse


def _plain(number: float) -> str:
    return f"{number:g}" if number < 1e6 else f"{number:.0f}"
