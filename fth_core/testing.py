"""The conformance kit: one test base every provider plugin runs against itself.

A plugin's test suite subclasses :class:`ProviderConformance`::

    from fth_core.testing import ProviderConformance

    class TestGeotabConformance(ProviderConformance):
        provider_name = "geotab"

and pytest collects the checks below, run against the plugin's own simulator over real HTTP on
127.0.0.1, whatever the API's shape (REST or JSON-RPC, key or session): registration is sane,
every endpoint builds a valid request, every endpoint's page walk terminates, a wrong
credential is a clear :class:`~fth_core.errors.AuthError` however the provider signals it, the
provider's own rate-limit signal is waited out, fetch honours the window, flatten conforms to
the unified schema, fetch + flatten equals the simulator's ground truth — window by window
within a run, and across runs resuming from the state the last one committed.
:func:`assert_same_telemetry` is public so other end-to-end tests compare datasets the same
way. The kit needs pytest (``pip install 'fth-core[testing]'``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fth_core.auth import secret_fields
from fth_core.config import ProviderConfig
from fth_core.endpoints import EndpointDefinition, ParamSpec
from fth_core.errors import AuthError
from fth_core.provider import Provider
from fth_core.registry import EndpointRegistry
from fth_core.schema import (
    DEDUP_KEY,
    REASON,
    TELEMETRY_SCHEMA,
    concat_telemetry,
    sort_telemetry,
)
from fth_core.sim import Fleet, SimServer, SimulatedProvider
from fth_core.spec import ProviderSpec
from fth_core.telemetry import fetch_telemetry

__all__ = [
    "ProviderConformance",
    "Simulation",
    "assert_same_quarantine",
    "assert_same_telemetry",
    "reason_kinds",
    "row_keys",
    "simulated_provider",
    "wrong_credentials",
]


class Simulation:
    """A running simulator: its fleet, its wire rendering and the loopback server."""

    def __init__(self, fleet: Fleet, simulator: SimulatedProvider, server: SimServer) -> None:
        self.fleet = fleet
        self.simulator = simulator
        self.server = server


def simulated_provider(
    simulation: Simulation,
    registry: EndpointRegistry,
    name: str,
    *,
    credentials: dict[str, str] | None = None,
    **overrides: Any,
) -> Provider:
    """A :class:`Provider` pointed at a simulation, with fast retries for tests; it logs in
    with the simulator's credentials unless given others."""
    settings: dict[str, Any] = {
        "base_url": simulation.server.base_url,
        **(credentials if credentials is not None else simulation.simulator.credentials()),
        "retry_backoff_factor": 0.01,
        "request_timeout": [5, 10],
        **overrides,
    }
    return Provider(registry.spec(name), ProviderConfig.model_validate(settings), registry)


def wrong_credentials(spec: ProviderSpec, simulation: Simulation) -> dict[str, str]:
    """The simulator's credentials with every secret field replaced by a wrong value."""
    secret = set(secret_fields(spec.credentials))
    given = simulation.simulator.credentials()
    return {k: f"wrong-{k}-0123456789" if k in secret else v for k, v in given.items()}


def row_keys(table: pa.Table) -> pa.Array:
    """Each row's ``(provider, provider_vehicle_id, timestamp)`` as one string, to count or
    match rows by key."""
    columns = [table.column(name).cast(pa.string()) for name in DEDUP_KEY]
    return pc.binary_join_element_wise(*columns, "|")


def assert_same_telemetry(actual: pa.Table, expected: pa.Table, rel: float = 1e-6) -> None:
    """Fail with the first difference unless both tables hold the same rows (any order).

    Keys and strings must match exactly, floats within ``rel`` (relative, with a 1e-9
    absolute floor), nulls in the same places. Duplicate keys in ``actual`` fail too.
    """
    assert actual.schema.names == expected.schema.names, "column names differ"
    assert pc.count_distinct(row_keys(actual)).as_py() == actual.num_rows, (
        "duplicate (provider, vehicle, timestamp) rows"
    )
    _assert_same_rows(sort_telemetry(actual), sort_telemetry(expected), rel)


def assert_same_quarantine(actual: pa.Table, expected: pa.Table, rel: float = 1e-6) -> None:
    """Like :func:`assert_same_telemetry`, for quarantined rows
    (:data:`~fth_core.schema.QUARANTINE_SCHEMA`): the same rows with the same reasons, in any
    order. Keys may be null and rows may repeat (a record set aside by two windows)."""
    assert actual.schema.names == expected.schema.names, "column names differ"

    # Identity first — a reason quotes the text of a timestamp it could not read — then the
    # rest, so that rows repeated or lacking keys still line up.
    first = [*DEDUP_KEY, "fleet_number", REASON]
    names = [*first, *(n for n in expected.schema.names if n not in first)]

    def ordered(table: pa.Table) -> pa.Table:
        plain = pa.table({name: table.column(name).cast(pa.string()) for name in names})
        return table.take(pc.sort_indices(plain, sort_keys=[(n, "ascending") for n in names]))

    _assert_same_rows(ordered(actual), ordered(expected), rel)


def reason_kinds(quarantined: pa.Table) -> Counter[str]:
    """How many quarantined rows each kind of reason holds: the reason's text before a quoted
    value (``"unparseable timestamp '…'"`` counts as ``"unparseable timestamp"``)."""
    return Counter(reason.split(" '")[0] for reason in quarantined.column(REASON).to_pylist())


def _assert_same_rows(a: pa.Table, e: pa.Table, rel: float) -> None:
    """Row by row, column by column: exact, but floats within ``rel`` (1e-9 absolute floor);
    vectorised, so a million-row dataset is checked in a blink."""
    assert a.num_rows == e.num_rows, f"{a.num_rows} rows, expected {e.num_rows}"
    shown = [name for name in (*DEDUP_KEY, REASON) if name in e.schema.names]
    for name in e.schema.names:
        got, want = a.column(name), e.column(name)
        if pa.types.is_dictionary(got.type) or pa.types.is_dictionary(want.type):
            got, want = got.cast(pa.string()), want.cast(pa.string())
        if pa.types.is_floating(want.type):
            tolerance = pc.max_element_wise(pc.multiply(pc.abs(want), rel), 1e-9)
            values_agree = pc.less_equal(pc.abs(pc.subtract(got, want)), tolerance)
        else:
            values_agree = pc.equal(got, want)
        # Equal where both hold a value and agree, or both are null.
        same = pc.if_else(
            pc.and_(pc.is_valid(got), pc.is_valid(want)),
            values_agree,
            pc.equal(pc.is_null(got), pc.is_null(want)),
        )
        if not pc.all(same, min_count=0).as_py():
            i = pc.index(same, False).as_py()
            row = {k: e.column(k)[i].as_py() for k in shown}
            raise AssertionError(
                f"column {name} differs at {row}: got {got[i].as_py()!r}, want {want[i].as_py()!r}"
            )


def _example_params(endpoint: EndpointDefinition) -> dict[str, Any]:
    return {p.name: p.example for p in endpoint.params if p.required}


class ProviderConformance:
    """Subclass with ``provider_name`` set; override the class attributes to tune the run."""

    provider_name: ClassVar[str]
    seed: ClassVar[int] = 11
    vehicles: ClassVar[int] = 4
    # A day and a quarter: one whole UTC day and a partial one, so trimming is exercised.
    window: ClassVar[tuple[datetime, datetime]] = (
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 3, 6, tzinfo=UTC),
    )

    def make_fleet(self) -> Fleet:
        return Fleet(self.seed, self.vehicles)

    def endpoint_params(self, endpoint: EndpointDefinition, fleet: Fleet) -> dict[str, Any] | None:
        """Params to walk ``endpoint`` against the simulator; ``None`` skips it."""
        return _example_params(endpoint)

    # -- fixtures --------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def registry(cls) -> EndpointRegistry:
        return EndpointRegistry.from_plugins()

    @pytest.fixture(scope="class")
    @classmethod
    def spec(cls, registry: EndpointRegistry) -> ProviderSpec:
        return registry.spec(cls.provider_name)

    @pytest.fixture(scope="class")
    @classmethod
    def simulation(cls, spec: ProviderSpec) -> Iterator[Simulation]:
        assert spec.simulator is not None, f"{spec.name} registers no simulator"
        fleet = cls().make_fleet()
        simulator = spec.simulator(fleet)
        # Everything in the window has been uploaded by then, late points included.
        simulator.as_of = cls.window[1] + timedelta(days=10)
        with SimServer(simulator) as server:
            yield Simulation(fleet, simulator, server)

    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, simulation: Simulation, registry: EndpointRegistry) -> Iterator[Provider]:
        with simulated_provider(simulation, registry, cls.provider_name) as provider:
            yield provider

    @pytest.fixture(scope="class")
    @classmethod
    def telemetry(cls, provider: Provider) -> pa.Table:
        return concat_telemetry([b.table for b in fetch_telemetry(provider, *cls.window)])

    # -- checks ----------------------------------------------------------------------------
    def test_registration_is_sane(self, spec: ProviderSpec, registry: EndpointRegistry) -> None:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name), "provider names are lower-case ids"
        assert spec.default_base_url.startswith("https://"), "real APIs are reached over TLS"
        assert spec.endpoints, "a provider registers at least one endpoint"
        names = [e.name for e in spec.endpoints]
        assert len(set(names)) == len(names), "endpoint names are unique"
        for endpoint in spec.endpoints:
            assert endpoint.provider == spec.name
            assert endpoint.path.startswith("/")
            assert registry.find_by_path(endpoint.path.replace("{", "").replace("}", ""))
        assert spec.quota.requests_per_second > 0
        assert spec.quota.max_concurrency >= 1

    def test_every_endpoint_builds_a_request(self, spec: ProviderSpec) -> None:
        for endpoint in spec.endpoints:
            missing: list[ParamSpec] = [
                p for p in endpoint.params if p.required and p.example is None
            ]
            assert not missing, f"{endpoint.key}: required params need an example"
            request = endpoint.build_request(_example_params(endpoint))
            assert "{" not in request.path, f"{endpoint.key}: path fields left unfilled"
            assert all(isinstance(v, str) for _, v in request.params)

    def test_every_endpoint_walks_to_completion(
        self, spec: ProviderSpec, provider: Provider, simulation: Simulation
    ) -> None:
        for endpoint in spec.endpoints:
            params = self.endpoint_params(endpoint, simulation.fleet)
            if params is None:
                continue
            pages = 0
            for _ in provider.client().iter_pages(endpoint, params):
                pages += 1
                assert pages <= 1_000, f"{endpoint.key}: page walk does not terminate"
            assert pages >= 1

    def test_a_wrong_credential_is_a_clear_auth_error(
        self, spec: ProviderSpec, simulation: Simulation, registry: EndpointRegistry
    ) -> None:
        endpoint = next(
            e for e in spec.endpoints if self.endpoint_params(e, simulation.fleet) is not None
        )
        wrong = wrong_credentials(spec, simulation)
        assert wrong != simulation.simulator.credentials(), "a credential field is a SecretStr"
        params = self.endpoint_params(endpoint, simulation.fleet)
        with (
            simulated_provider(simulation, registry, spec.name, credentials=wrong) as provider,
            pytest.raises(AuthError) as caught,
        ):
            provider.client().fetch(endpoint, params)
        message = str(caught.value)
        assert "\n" not in message
        assert "check the" in message, "the error says what to check"
        for value in wrong.values():
            if value.startswith("wrong-"):
                assert value.lower() not in message.lower(), "a secret shows in the error"

    def test_the_simulators_429s_are_waited_out(
        self, spec: ProviderSpec, simulation: Simulation, registry: EndpointRegistry
    ) -> None:
        endpoint = next(
            e for e in spec.endpoints if self.endpoint_params(e, simulation.fleet) is not None
        )
        params = self.endpoint_params(endpoint, simulation.fleet)
        # The server allows 4 requests/s; the client is told it may send 100: it must meet the
        # simulator's own 429 (and its Retry-After) and still finish every request.
        with SimServer(simulation.simulator, rate_limit=4, burst=1) as strict:
            throttled = Simulation(simulation.fleet, simulation.simulator, strict)
            eager = {"requests_per_second": 100, "burst": 10}
            with simulated_provider(throttled, registry, spec.name, rate_limit=eager) as provider:
                for _ in range(4):
                    provider.client().fetch(endpoint, params)
                assert provider.client().stats.rate_limited >= 1

    def test_flatten_conforms_to_the_unified_schema(self, telemetry: pa.Table) -> None:
        assert telemetry.schema.equals(TELEMETRY_SCHEMA)
        assert telemetry.num_rows > 0, "the simulated window holds telemetry"
        assert set(telemetry.column("provider").to_pylist()) == {self.provider_name}

    def test_fetch_stays_inside_the_window(self, telemetry: pa.Table) -> None:
        start, end = self.window
        stamps = telemetry.column("timestamp")
        assert pc.min(stamps).as_py() >= start
        assert pc.max(stamps).as_py() < end

    def test_fetch_and_flatten_equal_ground_truth(
        self, telemetry: pa.Table, simulation: Simulation
    ) -> None:
        expected = simulation.simulator.expected_telemetry(*self.window)
        assert_same_telemetry(telemetry, expected)

    def test_a_run_of_windows_told_its_horizon_equals_ground_truth_window_by_window(
        self, simulation: Simulation, registry: EndpointRegistry
    ) -> None:
        # What a plugin reads ahead towards the run's end must surface in its own window only.
        start, end = self.window
        middle = start + (end - start) / 2
        cuts = [start, start + (middle - start) / 2, middle, end]
        run: dict[str, Any] = {}
        state: dict[str, Any] = {}
        with simulated_provider(simulation, registry, self.provider_name) as provider:
            for w_start, w_end in itertools.pairwise(cuts):
                batches = fetch_telemetry(
                    provider, w_start, w_end, horizon=end, run=run, state=state
                )
                table = concat_telemetry([b.table for b in batches])
                expected = simulation.simulator.expected_telemetry(w_start, w_end)
                assert_same_telemetry(table, expected)

    def test_the_next_run_resumes_from_the_state_the_last_one_left(
        self, simulation: Simulation, registry: EndpointRegistry
    ) -> None:
        # Two runs, each with its own provider and run space: the second starts from the state
        # (a feed version, a cursor) the first left, as the pipeline stores it between runs.
        start, end = self.window
        middle = start + (end - start) / 2
        state: dict[str, Any] = {}
        for w_start, w_end in ((start, middle), (middle, end)):
            stored = json.loads(json.dumps(state))  # what survives is JSON, nothing more
            with simulated_provider(simulation, registry, self.provider_name) as provider:
                batches = fetch_telemetry(provider, w_start, w_end, state=stored)
                table = concat_telemetry([b.table for b in batches])
            assert_same_telemetry(table, simulation.simulator.expected_telemetry(w_start, w_end))
            state = stored
