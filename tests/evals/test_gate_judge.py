"""The gate with a calibrated judge, the judge digest, and relative thresholds."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from evals_fixtures import LABELS, make_cases, make_records, paired_outcomes, with_criteria

from releasegate.core import InputError
from releasegate.evals import judge_error as JE
from releasegate.evals import run_gate
from releasegate.evals._calibration import judge_digest
from releasegate.scenarios._contract import JudgeCalibrationSpec


def _with_calibration(scenario: Any, **spec: Any) -> Any:
    scenario = scenario.scenario if hasattr(scenario, "scenario") else scenario
    calibration = {"label_field": "human_ok", "output_field": "labelled_output", **spec}
    scoring = scenario.scoring.model_copy(update={"calibration": JudgeCalibrationSpec(**calibration)})
    return scenario.model_copy(update={"scoring": scoring})


def _calibration_columns(cases: pd.DataFrame, n_cal: int = 100) -> pd.DataFrame:
    """70 human-accepted outputs (56 the reference, 14 another label the human still accepted)
    and 30 human-rejected (27 another label, 3 the reference the human still rejected): the label
    scorer as judge has sensitivity 0.8 and specificity 0.9 against the humans."""
    cases = cases.copy()
    ref = cases["reference"].to_numpy()
    other = np.array([LABELS[(LABELS.index(r) + 1) % len(LABELS)] for r in ref])
    outputs = np.array([None] * len(cases), dtype=object)
    human = np.array([None] * len(cases), dtype=object)
    kinds = ["tp"] * 56 + ["fn"] * 14 + ["tn"] * 27 + ["fp"] * 3
    for i, kind in enumerate(kinds[:n_cal]):
        outputs[i] = ref[i] if kind in ("tp", "fp") else other[i]
        human[i] = "yes" if kind in ("tp", "fn") else "no"
    cases["labelled_output"] = outputs
    cases["human_ok"] = human
    return cases


def test_a_calibrated_judge_corrects_the_non_inferiority_interval(triage: Any) -> None:
    scenario = _with_calibration(triage)
    cases = _calibration_columns(make_cases(1500))
    cand, inc = paired_outcomes(1500, 0.6, 0.08, 0.1)
    verdict = run_gate(scenario, cases, make_records(cases, cand, entry="gemma3-v1"), {},
                       make_records(cases, inc, entry="smollm2-v1", seed=2), {}, seed=3)
    judge = verdict.metrics.judge
    assert judge.calibration.sensitivity == pytest.approx(0.8)
    assert judge.calibration.specificity == pytest.approx(0.9)
    assert judge.digest == judge_digest(scenario)
    cal = JE.calibrate_judge(np.array([True] * 70 + [False] * 30),
                             np.array([True] * 56 + [False] * 14 + [False] * 27 + [True] * 3))
    expected = JE.corrected_paired_difference(cand.astype(float), inc.astype(float), cal)
    ni = next(c for c in verdict.checks if c.name == "non_inferiority")
    assert (ni.value, ni.ci_low, ni.ci_high) == pytest.approx((expected.difference, expected.ci_low,
                                                               expected.ci_high), abs=1e-9)
    assert ni.value == pytest.approx(-0.02 / 0.7, abs=1e-9)  # judged -2 points over Youden's J = 0.7
    assert "corrected for the judge" in ni.reason
    accept = next(c for c in verdict.checks if c.name == "min_acceptance_rate")
    assert accept.value == pytest.approx((0.68 + 0.9 - 1) / 0.7)


def test_calibration_input_errors_name_the_field(triage: Any) -> None:
    cases = make_cases(200)
    cand, inc = paired_outcomes(200, 0.6, 0.1, 0.1)
    args = (make_records(cases, cand, entry="gemma3-v1"), {}, make_records(cases, inc, entry="smollm2-v1"), {})
    with pytest.raises(InputError, match="calibration column 'human_ok' is not in the dataset"):
        run_gate(_with_calibration(triage), cases, *args)
    few = _calibration_columns(cases, n_cal=40)
    with pytest.raises(InputError, match="40 labelled calibration cases, fewer than min_cases=50"):
        run_gate(_with_calibration(triage), few, *args)


def test_the_judge_digest_changes_with_the_judge(triage: Any) -> None:
    scenario = triage.scenario if hasattr(triage, "scenario") else triage
    first = judge_digest(scenario)
    assert judge_digest(scenario.model_copy()) == first
    scorers = [s.model_copy(update={"params": {**s.params, "rubric": "stricter"}}) for s in scenario.scoring.scorers]
    changed = scenario.model_copy(update={"scoring": scenario.scoring.model_copy(update={"scorers": scorers})})
    assert judge_digest(changed) != first


@pytest.mark.parametrize("threshold, status", [(-0.10, "pass"), (0.10, "fail"), (-0.02, "inconclusive")])
def test_relative_threshold(triage: Any, threshold: float, status: str) -> None:
    scenario = with_criteria(triage, min_relative_change=threshold)
    cases = make_cases(3000)
    cand, inc = paired_outcomes(3000, 0.6, 0.08, 0.1)  # 0.68 / 0.70 - 1 = -2.9%
    verdict = run_gate(scenario, cases, make_records(cases, cand, entry="gemma3-v1"), {},
                       make_records(cases, inc, entry="smollm2-v1", seed=2), {}, seed=3)
    check = next(c for c in verdict.checks if c.name == "relative_change")
    assert check.value == pytest.approx(0.68 / 0.70 - 1)
    assert check.status == status


def test_relative_interval_agrees_with_a_bootstrap_of_cases(triage: Any) -> None:
    scenario = with_criteria(triage, min_relative_change=-0.05)
    cases = make_cases(800)
    cand, inc = paired_outcomes(800, 0.55, 0.1, 0.15)
    verdict = run_gate(scenario, cases, make_records(cases, cand, entry="gemma3-v1"), {},
                       make_records(cases, inc, entry="smollm2-v1", seed=2), {}, seed=3)
    check = next(c for c in verdict.checks if c.name == "relative_change")
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 800, (4000, 800))
    ratios = cand[idx].mean(axis=1) / inc[idx].mean(axis=1) - 1
    low, high = np.quantile(ratios, [0.025, 0.975])
    assert check.ci_low == pytest.approx(low, abs=0.01) and check.ci_high == pytest.approx(high, abs=0.01)


def test_no_relative_threshold_adds_no_check(triage: Any) -> None:
    cases = make_cases(100)
    cand, inc = paired_outcomes(100, 0.6, 0.1, 0.1)
    verdict = run_gate(triage, cases, make_records(cases, cand, entry="gemma3-v1"), {},
                       make_records(cases, inc, entry="smollm2-v1", seed=2), {})
    assert "relative_change" not in {c.name for c in verdict.checks}
