"""Settings of one simulator instance: what it serves, to whom, and which faults are on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from simulator.versions import LATEST

# Demo values, printed in the start banner when they are the ones in use. Never real secrets.
DEMO_CLIENT_ID = "runai-sim-client"
DEMO_CLIENT_SECRET = "runai-sim-demo-secret"
DEMO_K8S_TOKEN = "runai-sim-k8s-token"


def wall_clock() -> float:
    """Real time in epoch seconds; looked up at call time so freezegun can move it."""
    return time.time()


@dataclass
class FaultSettings:
    """Faults the simulator injects into API answers (never into /admin).

    Counters ("..._next") are consumed one request at a time, so a test can say exactly which
    requests fail. `error_rate` draws from a generator seeded with the scenario seed.
    """

    latency_ms: float = 0.0
    # Realistic per-request latency (0 = off): a draw between min and max from a generator
    # seeded with the scenario seed, scaled up with the number of items a page carries.
    latency_min_ms: float = 0.0
    latency_max_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    fail_next: int = 0
    rate_limit_next: int = 0
    retry_after_s: int = 1
    truncate_next: int = 0
    malformed_next: int = 0
    page_drift: bool = False
    v1_token_only: bool = False
    path_prefix: str = "/api/"


@dataclass
class SimulatorConfig:
    scenario: str = "demo"
    seed: int = 7
    speed: float = 1.0
    scale: int | None = None
    # The control-plane version served: endpoints, parameters, fields exactly as its spec.
    api_version: str = LATEST
    # Clusters the tenant has; projects (and so workloads) are spread over them.
    clusters: int = 1
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    k8s_token: str = DEMO_K8S_TOKEN
    token_ttl_s: int = 3600
    # Scenario start in simulated time; None means "real now" (floored to the second).
    start: datetime | None = None
    admin_enabled: bool = True
    # Kubernetes drops events about an hour after they happened.
    k8s_event_ttl_s: int = 3600
    faults: FaultSettings = field(default_factory=FaultSettings)
    clock: Callable[[], float] = wall_clock
