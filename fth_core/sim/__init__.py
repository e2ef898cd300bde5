"""Simulated fleets and provider simulators: the embedded default and the test oracle.

:class:`Fleet` is deterministic ground truth from a seed; a plugin's
:class:`SimulatedProvider` renders it in the provider's wire format, with :class:`BadRecords`
corrupted on request; :class:`SimServer` serves that over real HTTP on 127.0.0.1 with latency,
rate limits and faults (scripted, or a seeded :class:`Chaos` mix).
"""

from fth_core.sim.bad_records import BadRecords
from fth_core.sim.fleet import Fleet, SimDriver, SimVehicle
from fth_core.sim.server import Chaos, Fault, InjectedFault, LoggedRequest, SimServer
from fth_core.sim.wire import SimRequest, SimResponse, SimulatedProvider

__all__ = [
    "BadRecords",
    "Chaos",
    "Fault",
    "Fleet",
    "InjectedFault",
    "LoggedRequest",
    "SimDriver",
    "SimRequest",
    "SimResponse",
    "SimServer",
    "SimVehicle",
    "SimulatedProvider",
]
