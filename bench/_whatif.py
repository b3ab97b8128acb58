"""Turning bench/_mlflow_whatif's what-ifs on in a child process: its folder first on PYTHONPATH
(sitecustomize patches MLflow at start-up) and RELEASEGATE_BENCH_WHATIF naming them (comma-separated;
empty: none). Shared by bench/gateway_overhead.py, bench/trace_write.py and
tests/gateway/test_mlflow_whatif.py."""
from __future__ import annotations

import os
from pathlib import Path

WHATIF_DIR = Path(__file__).resolve().parent / "_mlflow_whatif"
WHATIF_ENV = "RELEASEGATE_BENCH_WHATIF"


def whatif_env(whatif: str) -> dict[str, str]:
    """Environment entries to add to a child's for `whatif` ("" turns every what-if off)."""
    if not whatif:
        return {WHATIF_ENV: ""}
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(WHATIF_DIR), os.environ.get("PYTHONPATH")])),
            WHATIF_ENV: whatif}
