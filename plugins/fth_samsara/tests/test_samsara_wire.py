"""The bulk path's typed wire shapes: decoded from bytes, they read like the dicts they replace."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from fth_core.errors import ResponseFormatError
from fth_samsara.telemetry import _StatsReader
from fth_samsara.wire import STATS_PAGE_DECODER, StatsRecord, as_stats_records

RECORD: dict[str, Any] = {
    "id": "281474976710017",
    "name": "TRK-0002",
    "externalIds": {"samsara.serial": "G9ZK7N2YHC", "samsara.vin": "1FTGBY0U8RP964390"},
    "someFutureKey": {"ignored": True},
    "gps": [
        {
            "time": "2026-03-02T12:00:05.100Z",
            "latitude": 33.1,
            "longitude": -97,
            "headingDegrees": 90,
            "speedMilesPerHour": 54.75,
            "isEcuSpeed": True,
            "reverseGeo": {"formattedLocation": "Dallas, TX"},
            "address": {"id": "7", "name": "Depot"},
        },
        {"time": "2026-03-02T12:00:10Z", "latitude": 33.2, "longitude": -97.1},
    ],
    "engineStates": [{"time": "2026-03-02T12:00:00Z", "value": "On"}],
    "obdOdometerMeters": [{"time": "2026-03-02T12:00:00Z", "value": 3552000}],
}


def _page(*records: dict[str, Any]) -> bytes:
    return msgspec.json.encode(
        {"data": list(records), "pagination": {"endCursor": "", "hasNextPage": False}}
    )


def test_a_page_decodes_with_dotted_and_camel_case_keys_and_ignores_unknown_ones() -> None:
    page = STATS_PAGE_DECODER.decode(_page(RECORD, {"id": "9"}))
    assert page.pagination.has_next_page is False
    assert page.data is not None
    first, bare = page.data
    assert first.external_ids is not None
    assert first.external_ids.vin == "1FTGBY0U8RP964390"
    assert first.gps is not None
    assert first.gps[0].reverse_geo is not None
    assert first.gps[0].reverse_geo.formatted_location == "Dallas, TX"
    assert first.gps[1].reverse_geo is None
    assert bare == StatsRecord(id="9")  # every key optional


def test_struct_records_and_dict_records_read_to_the_same_columns() -> None:
    typed, plain = _StatsReader(), _StatsReader()
    page = STATS_PAGE_DECODER.decode(_page(RECORD))
    assert page.data is not None
    typed.read(list(page.data))
    plain.read([RECORD])
    assert typed.codes == plain.codes
    assert typed.vins == plain.vins == ["1FTGBY0U8RP964390"]
    assert typed.gps().latitude.to_pylist() == plain.gps().latitude.to_pylist() == [33.1, 33.2]
    assert typed.gps().location.to_pylist() == ["Dallas, TX", None]
    assert typed.odometer().value.tolist() == plain.odometer().value.tolist() == [3552000.0]


@pytest.mark.parametrize(
    "record",
    [
        {"id": 17},
        {"id": "1", "gps": [{"time": "2026-03-02T12:00:00Z", "latitude": "north"}]},
        "not a record",
    ],
)
def test_a_record_that_does_not_fit_is_a_format_error(record: Any) -> None:
    with pytest.raises(ResponseFormatError, match="samsara: a stats/history item does not fit"):
        as_stats_records([record])


def test_records_without_an_id_keep_their_gps_under_codes_of_their_own_and_nothing_else() -> None:
    gps = [{"time": "2026-03-02T12:00:00Z", "latitude": 33.1, "longitude": -97.1}]
    engine = [{"time": "2026-03-02T11:00:00Z", "value": "On"}]
    reader = _StatsReader()
    reader.read(
        [
            {"id": "9", "name": "TRK-9", "gps": gps},
            {"name": "TRK-1", "gps": gps, "engineStates": engine},
            {"name": "TRK-1", "gps": gps},  # the same name, but nothing says it is one vehicle
        ]
    )
    assert reader.codes == {"9": 0}
    assert reader.ids == ["9", None, None]
    assert reader.names == ["TRK-9", "TRK-1", "TRK-1"]
    assert reader.gps().vehicle.tolist() == [0, 1, 2]
    assert len(reader.engine()) == 0, "an engine state of no known vehicle joins nothing"
