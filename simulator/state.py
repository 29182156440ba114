"""Everything one running simulator holds, shared by the route modules."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from simulator.auth import TokenStore
from simulator.config import SimulatorConfig
from simulator.faults import FaultState
from simulator.versions import ApiVersion, api_version
from simulator.world import World


@dataclass
class Sim:
    config: SimulatorConfig
    world: World
    tokens: TokenStore
    faults: FaultState
    version: ApiVersion
    # The status of every API answer (not /admin), and the first requests answered 400, so a
    # test can say "no request was refused" of any client, ours or not.
    statuses: Counter[int] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    # Requests being answered right now and the most at once, per API ("runai", "k8s"): a
    # client's cap on requests in flight, measured where it matters.
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)

    def answered(self, method: str, path: str, status: int) -> None:
        self.statuses[status] += 1
        if status == 400 and len(self.refused) < 100:
            self.refused.append(f"{method} {path}")

    def arrived(self, api: str) -> None:
        self.in_flight[api] += 1
        self.max_in_flight[api] = max(self.max_in_flight[api], self.in_flight[api])

    def left(self, api: str) -> None:
        self.in_flight[api] -= 1

    @classmethod
    def build(cls, config: SimulatorConfig) -> Sim:
        return cls(
            config=config,
            world=World(config),
            tokens=TokenStore(config.client_id, config.client_secret, config.token_ttl_s,
                              config.clock),
            faults=FaultState(config.faults, config.seed),
            version=api_version(config.api_version),
        )

    def reset(self) -> None:
        """Back to the scenario start: a fresh world and no faults. Tokens stay valid."""
        self.world = World(self.config, start=self.world.clock.start)
        self.faults.reset()
