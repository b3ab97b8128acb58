"""The flow with repeats (per-case rates for the sequential monitor, the report's repeat-0 case
table) and evaluate's warning for a dataset too small to ever PASS (issue 18)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from flow_fixtures import TRIAGE, record_triage
from rich.console import Console

from releasegate.scenarios import load_dataset_for, parse_scenario, read_records, write_records


def test_evaluate_warns_when_the_dataset_can_never_pass() -> None:
    from releasegate.evals.planning import min_cases_to_pass
    from releasegate.flows._cli_flows import _warn_before_run

    loaded = parse_scenario(TRIAGE)
    dataset = load_dataset_for(loaded)
    console = Console(record=True, width=400)
    _warn_before_run(loaded, dataset, 20, console)
    text = console.export_text()
    needed = min_cases_to_pass(float(loaded.scenario.success_criteria.non_inferiority_margin), 0.95)
    assert needed > 20
    assert ("warning: check non_inferiority is undecidable with 20 cases: even identical answers on every case "
            "leave the interval's lower end below the margin") in text
    assert f"(needs >= {needed} cases); this run cannot PASS it (drop --limit" in text
    console = Console(record=True, width=400)
    _warn_before_run(loaded, dataset, None, console)
    assert console.export_text() == ""


@pytest.mark.usefixtures("prefect_harness")
def test_sequential_evaluate_flow_on_recorded_repeats(tmp_path: Path, rg_home: str) -> None:
    """Recorded generations with 3 repeats per case go through the whole sequential flow: batches
    feed per-case rates to the monitor, the gate's verdict has the repeats block, the report
    renders repeat 0's cases, the decision is recorded."""
    from releasegate.evals import Verdict
    from releasegate.flows.evaluate import evaluate_candidate

    paths = {}
    for entry, accuracy, seed in (("gemma3-v1", 0.8, 10), ("smollm2-v1", 0.6, 20)):
        frames = []
        for j in range(3):
            frame, meta = read_records(record_triage(tmp_path / f"{entry}-{j}.parquet", entry, accuracy, seed=seed + j))
            frames.append(frame.assign(repeat=j))
        paths[entry] = write_records(pd.concat(frames, ignore_index=True), tmp_path / f"{entry}.parquet", meta)
    result = evaluate_candidate(scenario=str(TRIAGE), candidate="gemma3-v1", candidate_records=str(paths["gemma3-v1"]),
                                incumbent_records=str(paths["smollm2-v1"]), progress=False, sequential=True,
                                batch_size=100)
    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    assert verdict.decision == "PASS"
    assert verdict.metrics.repeats.k == 3
    assert verdict.metrics.repeats.candidate.acceptance_rate == pytest.approx(0.8, abs=0.05)
    assert Path(result.report_path).is_file() and result.ledger_seq is not None
    assert verdict.sequential.cases_used < result.cases_total
