"""Start every installed provider's simulator on 127.0.0.1 — for ``fth demo`` and ``fth simulate``.

Each provider gets its own fleet (seed offset by the provider's position, so fleets differ) and
its own :class:`SimServer`. Nothing here reaches beyond the loopback interface.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from fth_core.errors import ProviderNotFoundError
from fth_core.registry import EndpointRegistry
from fth_core.sim.fleet import Fleet
from fth_core.sim.server import SimServer
from fth_core.sim.wire import SimulatedProvider

__all__ = ["RunningSimulator", "launch_simulators"]


@dataclass(frozen=True)
class RunningSimulator:
    provider: str
    simulator: SimulatedProvider
    server: SimServer

    @property
    def base_url(self) -> str:
        return self.server.base_url


@contextmanager
def launch_simulators(
    registry: EndpointRegistry,
    providers: Sequence[str] | None = None,
    *,
    vehicles: int = 10,
    seed: int = 7,
    latency_ms: float = 0.0,
    port: int = 0,
) -> Iterator[list[RunningSimulator]]:
    """Serve the simulators of ``providers`` (default: every installed one that has a simulator).

    ``port`` non-zero gives the first simulator that port and the next ones the ports after it.
    """
    names = list(providers) if providers else registry.list_providers()
    running: list[RunningSimulator] = []
    with ExitStack() as stack:
        for offset, name in enumerate(names):
            spec = registry.spec(name)
            if spec.simulator is None:
                if providers:
                    raise ProviderNotFoundError(f"provider {name!r} ships no simulator")
                continue
            simulator = spec.simulator(Fleet(seed + offset, vehicles))
            server = SimServer(simulator, latency_ms=latency_ms, port=port + offset if port else 0)
            stack.enter_context(server)
            running.append(RunningSimulator(name, simulator, server))
        yield running
