"""Building the case table: from two record frames, and from evals' scored records."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from releasegate.evals import score_records
from releasegate.reports import CASE_COLUMNS, cases_from_records, cases_from_scored
from releasegate.core import InputError
from releasegate.scenarios import load_dataset_for, load_scenario

from report_fixtures import LABELS, records_for, write_scenario


def test_records_and_scores_join_into_the_documented_columns() -> None:
    refs = [LABELS[i % 6] for i in range(4)]
    cand = records_for(refs, [True, False, True, True], "cand")
    inc = records_for(refs, [True, True, False, True], "inc").iloc[::-1]  # order must not matter
    cand["slices"] = ['{"channel": "email"}'] * 4
    cand["reference"] = refs
    scores = pd.DataFrame({"example_id": cand.example_id, "accepted": [True, False, True, True],
                           "reasons": [["queue: ok"], ["queue: wrong"], ["queue: ok"], ["queue: ok"]]})
    table = cases_from_records(cand, inc, candidate_scores=scores)
    assert set(CASE_COLUMNS) <= set(table.columns)
    row = table.set_index("example_id").loc["c001"]
    assert row.candidate_accepted == False  # noqa: E712 (a pandas boolean)
    assert row.candidate_reasons == "queue: wrong"
    assert row.slices == {"channel": "email"} and row.reference == "technical"
    assert row.incumbent_output == "technical" and row.candidate_output == "account"
    assert pd.isna(row.incumbent_accepted)  # no scores for the incumbent: not scored, not False
    assert row.candidate_latency_s == pytest.approx(cand.set_index("example_id").latency_s["c001"])


def test_records_on_different_examples_are_refused() -> None:
    refs = [LABELS[i % 6] for i in range(4)]
    cand = records_for(refs, [True] * 4, "cand")
    inc = records_for(refs, [True] * 4, "inc").iloc[:3]
    with pytest.raises(InputError, match=r"different examples, e.g. \['c003'\]"):
        cases_from_records(cand, inc)


def test_scored_records_from_evals_give_acceptance_reasons_inputs_and_slices(tmp_path: Path) -> None:
    loaded = load_scenario(write_scenario(tmp_path / "scenario", n=12))
    dataset = load_dataset_for(loaded)
    refs = [row["reference"] for row in dataset.rows]
    cand_ok = np.array([i % 3 != 0 for i in range(12)])
    inc_ok = np.array([i % 4 != 0 for i in range(12)])
    table = cases_from_scored(score_records(loaded, dataset, records_for(refs, cand_ok, "cand")),
                              score_records(loaded, dataset, records_for(refs, inc_ok, "inc")), loaded)
    assert list(table.candidate_accepted) == list(cand_ok)
    assert list(table.incumbent_accepted) == list(inc_ok)
    first = table.iloc[0]
    assert first.inputs == {"message": "customer message 0", "channel": "email"}
    assert first.slices == {"channel": "email", "language": first.slices["language"],
                            "length": "short", "template": "t1"}
    assert first.candidate_reasons.startswith("queue: ")  # scorer name, then its reason
    assert "budget: " in first.candidate_reasons
