"""What the ``fth`` command does to its own process (:mod:`fth_core.startup`). Each check runs
in a fresh interpreter: the settings are process-wide."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _python(script: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_converting_lists_with_pandas_deferred_leaves_pandas_unloaded() -> None:
    out = _python(
        "import sys\n"
        "from fth_core.startup import defer_pandas\n"
        "defer_pandas()\n"
        "import pyarrow as pa\n"
        "pa.array([1.5, None]); pa.array(['a', None], pa.string())\n"
        "print('pandas' in sys.modules)\n"
    )
    assert out == "False\n"


@pytest.mark.parametrize(
    ("pandas_object", "arrow_type"),
    [
        (
            "pd.Series(pd.Categorical(['a', 'b', 'a']))",
            "dictionary<values=large_string, indices=int8, ordered=0>",
        ),
        ("pd.Series(pd.to_datetime(['2026-03-02T00:00:00.000000001Z']))", "timestamp[ns, tz=UTC]"),
    ],
)
def test_pandas_loaded_later_converts_as_if_it_had_been_loaded_all_along(
    pandas_object: str, arrow_type: str
) -> None:
    out = _python(
        "from fth_core.startup import defer_pandas\n"
        "defer_pandas()\n"
        "import pyarrow as pa\n"
        "pa.array([1])\n"
        "import pandas as pd\n"
        f"print(pa.array({pandas_object}).type)\n"
        "print(type(pa.table({'x': [1]}).to_pandas()).__name__)\n"
    )
    assert out == f"{arrow_type}\nDataFrame\n"


def test_pandas_keeps_its_own_loader() -> None:
    out = _python(
        "from fth_core.startup import defer_pandas\n"
        "defer_pandas()\n"
        "import pandas, sys\n"
        "print(type(pandas.__loader__).__name__, type(pandas.__spec__.loader).__name__)\n"
        "print(any('Pandas' in type(f).__name__ for f in sys.meta_path))\n"
    )
    assert out == "SourceFileLoader SourceFileLoader\nFalse\n"
