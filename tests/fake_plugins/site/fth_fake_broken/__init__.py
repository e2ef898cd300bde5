"""An fth plugin that cannot even be imported: discovery must record it and carry on."""

raise RuntimeError("fake plugin exploded while importing")
