"""Everything one running simulator holds, shared by the route modules."""

from __future__ import annotations

from dataclasses import dataclass

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
