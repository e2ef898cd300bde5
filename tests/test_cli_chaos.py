"""``fth run`` against chaotic simulators (issue #8): the real CLI in a subprocess, the Motive
and Samsara simulators in this process on 127.0.0.1, each dealing the issue's fault mix (10% 5xx,
5% 429 with every form of Retry-After, 1% truncated bodies, 2% connection resets, 1% two-second
stalls; see :class:`fth_core.sim.Chaos`). Two things are pinned: runs converge on ground truth,
and after chaotic ``--debug`` runs, failing ones included, the API keys are in no file written.

Runs repeat until one ends with exit 0; every other must end partial (exit 3) naming the failed
windows, and the dataset must then equal ground truth exactly. The simulators' fault logs prove
the faults really happened, so the test cannot pass by luck of a quiet network.

The two providers meet stalls in the two ways a client can: Motive's read timeout (1 s) is
shorter than a stall, so a stall times out and is retried; Samsara's (5 s) is longer, so a stall
is waited out. Motive's retry budget is small, so its windows can fail under chaos, and an outage
(four 503s in a row) surely fails its first window in the first run; Samsara's budget is large,
so its windows practically never fail: a run where every provider fails ends with exit 1 by
design (DESIGN.md), and the test must not depend on chance never bringing that about.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fake_plugins import cli_env, run_fth
from loopback_support import SimulatorWrapper, simulators_config

from fth_core.auth import ApiKeyCredentials
from fth_core.config import load_config
from fth_core.provider import ProviderManager
from fth_core.sim import Chaos, Fault, Fleet, SimRequest, SimResponse, SimServer
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_telemetry
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 8
END = DAY0 + timedelta(days=DAYS)
AS_OF = END + timedelta(days=3)  # every late point has arrived: ground truth is fixed
VEHICLES = 4
# Motive asks one request per vehicle and window (each day once a run): enough vehicles that
# its server deals at least one whole block of the chaos mix.
MOTIVE_VEHICLES = 12
MAX_RUNS = 6
# The simulators do not limit rates here: the plugins' quotas (Motive: 10 requests/s) would
# only make a few hundred requests take most of a minute.
UNLIMITED = {"rate_limit": {"requests_per_second": 1000, "burst": 100}}
FLAVOURS = {
    "5xx",
    "429 Retry-After: '0'",
    "429 Retry-After: '0.25'",
    "429 Retry-After: HTTP-date",
    "429 Retry-After: missing",
    "truncate",
    "reset",
    "stall",
}
FAILED_WINDOW = re.compile(
    r"^ *(motive|samsara): window \d+ \(([^\s.]+)Z\.\.([^\s.]+)Z\) failed: \S", re.MULTILINE
)


def chaos_config(
    tmp: Path, motive: SimServer, samsara: SimServer, *, secret_logged_to: Path | None = None
) -> Path:
    """``tmp/fth.yaml`` for both chaotic simulators. With ``secret_logged_to``, the API keys
    come from ``MOTIVE_API_KEY``/``SAMSARA_API_KEY`` (not the file) and logs go to that file."""
    document = simulators_config(
        tmp / "dataset", motive.base_url, samsara.base_url, start=DAY0.date()
    )
    providers: dict[str, dict[str, Any]] = document["providers"]
    if secret_logged_to is not None:
        for settings in providers.values():
            del settings["api_key"]
        document["logging"] = {"level": "DEBUG", "file": str(secret_logged_to)}
    providers["motive"].update(
        UNLIMITED,
        max_retries=3,
        request_timeout=[2, 1],  # read timeout < stall: a stall times out and is retried
        options={"max_days_per_request": 1},  # a request per vehicle and day: many requests
    )
    tiers = {"vehicle_stats_history": 1000, "driver_vehicle_assignments": 1000}
    providers["samsara"].update(
        UNLIMITED,
        max_retries=8,
        request_timeout=[2, 5],  # read timeout > stall: a stall is waited out
        options={"assignment_chunk_size": 1, "rate_limits": tiers},
    )
    path = tmp / "fth.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def flavours(server: SimServer) -> Counter[str]:
    """The faults a server dealt, by flavour (a 429 by its Retry-After form)."""
    found: Counter[str] = Counter()
    for served in server.faults():
        fault = served.fault
        if fault.kind == "status":
            found["5xx"] += 1
        elif fault.kind == "429":
            form = "HTTP-date" if fault.retry_at is not None else repr(fault.retry_after)
            found[f"429 Retry-After: {'missing' if form == 'None' else form}"] += 1
        else:
            found[fault.kind] += 1
    return found


def failed_windows(output: str) -> dict[str, set[tuple[datetime, datetime]]]:
    """Provider → the windows named as failed in a run's human output."""
    named: dict[str, set[tuple[datetime, datetime]]] = {}
    for provider, start, end in FAILED_WINDOW.findall(output):
        span = (datetime.fromisoformat(f"{start}+00:00"), datetime.fromisoformat(f"{end}+00:00"))
        named.setdefault(provider, set()).add(span)
    return named


def failed_windows_json(summary: dict[str, Any]) -> dict[str, set[tuple[datetime, datetime]]]:
    """Provider → the window named as failed in a run's ``--json`` summary."""
    return {
        name: {
            (
                datetime.fromisoformat(run["failed_window_start"]),
                datetime.fromisoformat(run["failed_window_end"]),
            )
        }
        for name, run in summary["providers"].items()
        if not run["ok"] and run["failures"]
    }


def test_runs_under_chaos_end_with_ground_truth_after_partial_runs_naming_failed_windows(
    tmp_path: Path,
) -> None:
    motive = MotiveSimulator(Fleet(41, vehicles=MOTIVE_VEHICLES), as_of=AS_OF)
    # Small stats pages: a hundred-odd Samsara requests, so every fault of a block is dealt.
    samsara = SamsaraSimulator(Fleet(42, vehicles=VEHICLES), as_of=AS_OF, page_readings=800)
    chaos = Chaos(stall_seconds=2.0)
    with (
        SimServer(motive, chaos=chaos) as motive_server,
        SimServer(samsara, chaos=Chaos(stall_seconds=2.0, seed=1)) as samsara_server,
    ):
        config = str(chaos_config(tmp_path, motive_server, samsara_server))
        # An outage on top of the chaos: the first run surely fails Motive's first window.
        motive_server.inject(*[Fault("status", status=503, path="/v1/vehicles")] * 4)
        exits: list[int] = []
        stderr: list[str] = []
        store = DatasetStore(tmp_path / "dataset")
        for attempt in range(MAX_RUNS):
            as_json = attempt % 2 == 1  # the human summary and --json take turns
            result = run_fth(
                "--debug",
                "run",
                "-c",
                config,
                "--end",
                END.date().isoformat(),
                *(["--json"] if as_json else []),
                env=cli_env("motive,samsara"),
                cwd=tmp_path,
            )
            exits.append(result.returncode)
            stderr.append(result.stderr)
            if result.returncode == 0:
                break
            assert result.returncode == 3, result.stderr[-4000:]
            named = (
                failed_windows_json(json.loads(result.stdout))
                if as_json
                else failed_windows(result.stdout)
            )
            behind = {p for p in ("motive", "samsara") if store.watermark(p) != END}
            assert set(named) == behind, (named, result.stdout)
            for provider, spans in named.items():
                [(start, end)] = spans
                assert end - start == timedelta(days=1)
                assert DAY0 <= start < END
                # The window named is where the provider stands: the one after its watermark
                # (or the lookback day before it, when the run's first window failed).
                mark = store.watermark(provider)
                assert start in ({DAY0} if mark is None else {mark, mark - timedelta(days=1)})
            if not as_json:  # the progress line on stderr names the same windows
                assert failed_windows(result.stderr) == named
        else:
            raise AssertionError(f"no run completed in {MAX_RUNS}: exits {exits}")

        assert exits[0] == 3, "the outage failed the first run's Motive window"
        expected = pa.concat_tables(
            [motive.expected_telemetry(DAY0, END), samsara.expected_telemetry(DAY0, END)]
        )
        assert_same_telemetry(store.read(), expected)
        for name, server in (("motive", motive_server), ("samsara", samsara_server)):
            assert store.watermark(name) == END
            # Any block of requests meets every flavour, so each server has dealt them all.
            assert len(server.requests()) >= chaos.block, name
            assert set(flavours(server)) == FLAVOURS, (name, flavours(server))

    logs = "".join(stderr)
    # Motive's stalls outlast its read timeout: they time out and are retried. Samsara's are
    # answered late and nothing of Samsara's times out.
    assert re.search(r"motive: retrying GET \S+ after: .*timed out \(ReadTimeout\)", logs)
    assert not re.search(r"samsara: .*timed out", logs)


# -- secrets -------------------------------------------------------------------------------

MOTIVE_KEY = "mk-SECRET-motive-7d41c09b2e"
SAMSARA_KEY = "sk-SECRET-samsara-3fa86e51d0"
WRONG_KEY = "mk-SECRET-wrong-9c27b4e813"
# Each key whole, and its random tail alone (a key shown half-masked still leaks).
SECRETS = [text for key in (MOTIVE_KEY, SAMSARA_KEY, WRONG_KEY) for text in (key, key[-10:])]


class CarelessMotive(SimulatorWrapper):
    """Motive with bad habits: a 401 quotes the rejected key back; every answer about one
    vehicle's locations from the run's second day on is garbled, quoting the key in a malformed
    header line (so that vehicle fails the second window, with the key in the transport's
    error, and the whole window is held back — the first is stored); and the first point of
    every other location page has latitude 123 (so runs write quarantine files too)."""

    def __init__(self, simulator: MotiveSimulator) -> None:
        super().__init__(simulator)
        self.garbled = f"/v3/vehicle_locations/{simulator.fleet.vehicles[0].id}"
        # The second window asks up to the day after it (a first window's request that reads
        # that far ahead, garbled, is asked again without the days it does not need).
        self.from_day = (DAY0 + timedelta(days=2)).date().isoformat()

    def __call__(self, request: SimRequest) -> SimResponse:
        given = request.header("X-Api-Key")
        if request.path == self.garbled and (request.arg("end_date") or "") >= self.from_day:
            return SimResponse.json(200, {}, {"X-Echo": f"ok\r\nrejected key {given}"})
        response = self.simulator(request)
        if response.status == 401:
            return SimResponse.json(401, {"error_message": f"API key {given} is not valid"})
        if response.status == 200 and request.path.startswith("/v3/vehicle_locations/"):
            page = json.loads(response.body)
            for item in page["vehicle_locations"][:1]:
                item["vehicle_location"]["lat"] = 123.0
            return SimResponse.json(200, page, response.headers)
        return response


def readable_text(path: Path) -> bytes:
    """A file's bytes, and for Parquet (compressed) also every value, the schema and the
    file's key-value metadata, decoded."""
    raw = path.read_bytes()
    if path.suffix != ".parquet":
        return raw
    table = pq.read_table(path)
    metadata = pq.read_metadata(path).metadata or {}
    decoded = [str(table.to_pylist()), table.schema.to_string(), repr(metadata)]
    return raw + "\n".join(decoded).encode()


def test_api_keys_are_in_no_file_output_or_repr_after_chaotic_debug_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    motive = CarelessMotive(MotiveSimulator(Fleet(43, vehicles=2), MOTIVE_KEY, AS_OF))
    samsara = SamsaraSimulator(Fleet(44, vehicles=2), SAMSARA_KEY, AS_OF)
    log_file = tmp_path / "logs" / "fth.log"
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    # A key from a secrets file keeps its newline: it must work, and leak no more than others.
    keys = {"MOTIVE_API_KEY": MOTIVE_KEY, "SAMSARA_API_KEY": f"{SAMSARA_KEY}\n"}
    quick = Chaos(stall_seconds=0.3, seed=2)  # the mix, with short stalls
    with (
        SimServer(motive, chaos=quick) as motive_server,
        SimServer(samsara, chaos=quick) as samsara_server,
    ):
        config = chaos_config(tmp_path, motive_server, samsara_server, secret_logged_to=log_file)
        # Every failure path at least once, on top of the chaos (and never all on one request:
        # Motive's roster must get through for its rows, and quarantine, to be written).
        motive_server.inject(
            Fault("status", status=503, path="/v1/vehicles"),
            Fault("429", retry_after="0.1", path="/v1/vehicles"),
            *[Fault(kind, path="/v3/", seconds=0.3) for kind in ("reset", "truncate", "stall")],
        )
        samsara_server.inject(503, "reset", "truncate", Fault("429", retry_after="0.1"))
        samsara_server.inject(Fault("stall", seconds=0.3))

        def run(name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
            result = run_fth(
                "--debug",
                "run",
                "-c",
                str(config),
                "--end",
                (DAY0 + timedelta(days=2)).date().isoformat(),
                *args,
                env=cli_env("motive,samsara", **(keys | env)),
                cwd=tmp_path,
            )
            (outputs / f"{name}.out").write_text(result.stdout, encoding="utf-8")
            (outputs / f"{name}.err").write_text(result.stderr, encoding="utf-8")
            return result

        chaotic = run("chaotic")
        assert chaotic.returncode == 3, chaotic.stderr[-4000:]  # the garbled vehicle failed
        # The garbled vehicle is a named failure; its malformed head, key and all, shows nowhere.
        assert f"GET {motive_server.base_url}{motive.garbled} failed" in chaotic.stdout
        samsara_server.close()  # Samsara down, and Motive's key wrong (its 401 quotes the key)
        failing = run("failing", "--json", MOTIVE_API_KEY=WRONG_KEY)
        assert failing.returncode == 1, failing.stderr[-4000:]
        assert "Traceback" in failing.stderr, "--debug shows the traceback"
        assert "returned HTTP 401: API key *** is not valid" in failing.stderr
        assert "connection refused" in failing.stdout  # the --json summary, printed first
        # The keys really travelled, in the auth headers (and only there).
        sent = [r.headers for r in motive_server.requests() + samsara_server.requests()]
        assert any(h.get("x-api-key") == MOTIVE_KEY for h in sent)
        assert any(h.get("x-api-key") == WRONG_KEY for h in sent)
        assert any(h.get("authorization") == f"Bearer {SAMSARA_KEY}" for h in sent)
        assert {"status", "429", "reset", "truncate", "stall"} <= {
            f.fault.kind for f in motive_server.faults()
        }

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.relative_to(tmp_path).as_posix() for path in written}
    # Every kind of file a run writes is here to be searched, the debug log non-empty.
    assert any(re.fullmatch(r"dataset/date=[\d-]+/motive\.parquet", name) for name in names)
    assert any(name.startswith("dataset/_quarantine/") for name in names), names
    assert {"dataset/_state/state.json", "dataset/.lock", "fth.yaml"} <= names
    assert "retrying GET" in log_file.read_text(encoding="utf-8")
    for path in written:
        text = readable_text(path)
        for secret in SECRETS:
            assert secret.encode() not in text, f"{secret} in {path}"

    # Reprs of what a script would build from the same environment.
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    loaded = load_config(config)
    with ProviderManager.from_config(loaded) as manager:
        samsara_credentials = manager.get("samsara").credentials
        assert isinstance(samsara_credentials, ApiKeyCredentials)
        assert samsara_credentials.api_key.get_secret_value() == SAMSARA_KEY
        shown = [repr(loaded), str(loaded), repr(manager)]
        for provider in manager.enabled_providers():
            shown += [repr(provider), str(provider), repr(provider.config)]
            shown += [repr(provider.credentials), str(provider.credentials)]
            shown += [repr(provider.client()), str(provider.client().stats)]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text
