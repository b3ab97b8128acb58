"""Fixtures for the gateway stage: a promoted scenario whose weights are small real folders."""
from __future__ import annotations

import sys
from pathlib import Path

# The releases tests' helpers (contract copy, verdicts) are reused, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "releases"))
