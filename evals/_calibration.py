"""The judge in the gate: its digest, and its calibration against human labels.

"The judge" is the contract's acceptance rule over its scorers (an `llm_judge`, or any other
scorer): whatever turns an output into accepted/rejected. A scenario's `scoring.calibration` names
two dataset columns: an output a human judged, and the human's verdict. The gate scores those
outputs with the same scorers and rule, and `judge_error.calibrate_judge` estimates the rule's
sensitivity and specificity against the humans.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from releasegate.core import InputError, canonical_sha256
from releasegate.scenarios import RECORD_COLUMNS, Scenario

from . import judge_error
from ._scoring import score_records

_TRUE = {"1", "true", "yes", "pass", "passed", "accept", "accepted", "good", "correct", "1.0"}
_FALSE = {"0", "false", "no", "fail", "failed", "reject", "rejected", "bad", "wrong", "0.0"}


def judge_digest(scenario: Scenario) -> str:
    """sha256 of the judge's definition: every scorer (type, model, rubric/prompt, parameters,
    weight), the acceptance rule and the pairwise judge if any. A verdict carries it; a changed judge gives another digest,
    so a decision judged by the old judge no longer matches the contract."""
    scoring = scenario.scoring
    judge: dict[str, Any] = {"scorers": [s.model_dump(mode="json") for s in scoring.scorers],
                             "acceptance": scoring.acceptance.model_dump(mode="json")}
    if scoring.pairwise_judge is not None:  # absent key: digests of contracts without it are unchanged
        judge["pairwise_judge"] = scoring.pairwise_judge.model_dump(mode="json")
    return canonical_sha256(judge)


def _human_verdicts(values: pd.Series, field: str) -> np.ndarray:
    text = values.astype("string").str.strip().str.lower()
    unknown = sorted(set(text[~text.isin(_TRUE | _FALSE)].dropna().tolist()))[:3]
    if unknown:
        raise InputError(f"human labels must be true/false (or yes/no, 1/0), found {', '.join(unknown)}",
                         field=f"dataset.{field}", fix="label each calibration case accepted or rejected")
    return text.isin(_TRUE).to_numpy()


def calibrate(scenario: Scenario, cases: pd.DataFrame, confidence: float) -> judge_error.JudgeCalibration | None:
    """The judge's calibration from the cases' labelled outputs, or None when the contract names
    no calibration. `cases` is the gate's case frame (indexed by example id)."""
    spec = scenario.scoring.calibration
    if spec is None:
        return None
    for column in (spec.label_field, spec.output_field):
        if column not in cases.columns:
            raise InputError(f"calibration column {column!r} is not in the dataset", field="scoring.calibration",
                             fix="add the column to the cases, or fix scoring.calibration")
    labelled = cases[cases[spec.label_field].notna() & cases[spec.output_field].notna()]
    if len(labelled) < spec.min_cases:
        raise InputError(f"{len(labelled)} labelled calibration cases, fewer than min_cases={spec.min_cases}",
                         field="scoring.calibration.min_cases", fix="label more cases, or lower min_cases")
    human = _human_verdicts(labelled[spec.label_field], spec.label_field)
    n = len(labelled)
    records = pd.DataFrame({"example_id": labelled.index.astype("string"),
                            "output": labelled[spec.output_field].astype("string").to_numpy(),
                            "error": pd.array([None] * n, dtype="string")})
    for column, dtype in RECORD_COLUMNS.items():
        if column not in records.columns:
            records[column] = pd.Series([None] * n, dtype="object").astype(dtype)
    records["cost_usd"] = 0.0
    judged = score_records(scenario, cases, records, require_all_cases=False, side="calibration outputs").accepted
    # score_records returns rows in dataset order, as `labelled` is
    try:
        return judge_error.calibrate_judge(human, judged, confidence)
    except ValueError as exc:
        raise InputError(f"calibration: {exc}", field=f"dataset.{spec.label_field}",
                         fix="label both accepted and rejected outputs") from None
