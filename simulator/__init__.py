"""A Run:ai control-plane API simulator, with the Kubernetes subset the monitor needs.

    from simulator import SimulatorConfig, create_app
    app = create_app(SimulatorConfig(scenario="demo", seed=7, speed=0))   # a Starlette app

`python -m simulator --help` serves it over HTTP; tests use the `simulator` and
`make_simulator` fixtures of tests/fixtures_simulator.py.
"""

from simulator.app import create_app
from simulator.config import FaultSettings, SimulatorConfig

__all__ = ["FaultSettings", "SimulatorConfig", "create_app"]
