"""The flow's pieces for issue 18: per-case rates for the sequential monitor, the report's repeat-0
case table, and evaluate's warning for a dataset too small to ever PASS."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flow_fixtures import TRIAGE, record_triage
from rich.console import Console

from releasegate.scenarios import load_dataset_for, parse_scenario, read_records, write_records


def _repeated(tmp_path: Path, k: int) -> tuple[Path, list[np.ndarray]]:
    frames, accepted = [], []
    for j in range(k):
        path = record_triage(tmp_path / f"r{j}.parquet", "smollm2-v1", 0.7, seed=j)
        frame, meta = read_records(path)
        frames.append(frame.assign(repeat=j))
        accepted.append(frame["output"].to_numpy() == load_dataset_for(parse_scenario(TRIAGE)).to_pandas()["reference"].to_numpy())
    out = write_records(pd.concat(frames, ignore_index=True), tmp_path / "all.parquet", meta)
    return out, accepted


def test_sequential_batches_see_per_case_rates(tmp_path: Path) -> None:
    from releasegate.flows.evaluate import _accepted

    path, accepted = _repeated(tmp_path, 3)
    loaded = parse_scenario(TRIAGE)
    rates = _accepted(loaded, load_dataset_for(loaded), str(path))
    assert rates == pytest.approx(np.column_stack(accepted).mean(axis=1))


def test_evaluate_warns_when_the_dataset_can_never_pass() -> None:
    from releasegate.flows._cli_flows import _warn_if_never_passes

    loaded = parse_scenario(TRIAGE)
    dataset = load_dataset_for(loaded)
    console = Console(record=True, width=400)
    _warn_if_never_passes(loaded, dataset, 20, console)
    text = console.export_text()
    assert "warning: 20 cases can never PASS non-inferiority" in text
    console = Console(record=True, width=400)
    _warn_if_never_passes(loaded, dataset, None, console)
    assert console.export_text() == ""
