#!/usr/bin/env python3
"""Refreshes suites/capacity-defaults.json, the cells' expected room-hold
seconds that a machine with no history schedules by (issue 17: a fresh
clone ordered every cell as 120 s and took 689 s where warm runs take
~550 s). Source: $VITALS_CACHE/e2e/cell-seconds.json (the mean of each
cell's last five runs, as the runner keeps it); cells it lacks keep their
shipped value. Run by `make bench`."""
import json
import os
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "suites/capacity-defaults.json"
cache = pathlib.Path(os.environ.get("VITALS_CACHE", pathlib.Path.home() / ".cache/vitals"))
history = cache / "e2e/cell-seconds.json"

shipped = json.loads(out.read_text()) if out.exists() else {}
cells = dict(shipped.get("cells", {}))
measured = 0
if history.exists():
    for ns, runs in json.loads(history.read_text()).items():
        runs = [r for r in runs if isinstance(r, (int, float))]
        if runs:
            cells[ns] = round(sum(runs) / len(runs), 1)
            measured += 1
doc = {
    "about": "expected seconds each cell holds its room (mean of its last runs on the 2-core bench machine); "
    "used for cells missing from $VITALS_CACHE/e2e/cell-seconds.json; refreshed by `make bench` (bench/capacity_defaults.py)",
    "cells": dict(sorted(cells.items())),
}
out.write_text(json.dumps(doc, indent=2) + "\n")
print(f"{out.relative_to(root)}: {len(cells)} cells ({measured} from {history})")
