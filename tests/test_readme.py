"""The README's Python examples run as written, in order, against the simulators.

Docs that are executed cannot drift from the code. Each ```python block is run in one shared
namespace, top to bottom, as a reader would paste them into one session.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_the_readme_has_examples_for_the_four_layers_and_the_pipeline() -> None:
    text = README.read_text(encoding="utf-8")
    for layer in ("Layer 1", "Layer 2", "Layer 3", "Layer 4", "TelemetryPipeline"):
        assert layer in text
    assert text.split("```")[1].strip() == (
        "sh\nmake demo    # set up, start the built-in Motive, Samsara and Geotab simulators, "
        "run the job\nmake test    # set up, then ruff, mypy (strict) and every test"
    ), "the README leads with the two commands"


def test_every_python_example_in_the_readme_runs(capsys: object) -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 7
    namespace: dict[str, object] = {"__name__": "readme"}
    try:
        for index, block in enumerate(blocks):
            code = compile(block, f"README.md python block {index + 1}", "exec")
            exec(code, namespace)
    finally:
        for name in ("motive_server", "samsara_server"):
            server = namespace.get(name)
            if server is not None:
                server.close()  # type: ignore[attr-defined]
    summary = namespace["summary"]
    assert summary.status == "ok"  # type: ignore[attr-defined]
    assert summary.rows_written > 0  # type: ignore[attr-defined]
    assert len(namespace["day"]) > 0  # type: ignore[arg-type]
