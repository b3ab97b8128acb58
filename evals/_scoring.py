"""Score generation records against a scenario's cases and apply its acceptance rule."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from releasegate.core import InputError
from releasegate.scenarios import REQUIRED_FOR_SCORING, Scenario

from ._scorers import ScorerBatch, ScorerColumn, ScorerContext, get_scorer

CasesLike = Any  # scenarios.ScenarioDataset or a pandas DataFrame of the cases


@dataclass
class ScoredRecords:
    """Per-example scores of one model's records, in dataset order."""

    example_ids: pd.Series  # str, dataset order
    accepted: np.ndarray  # bool; error rows are never accepted
    errored: np.ndarray  # bool
    results: dict[str, ScorerColumn]  # scorer name -> column
    records: pd.DataFrame  # the records, aligned to example_ids
    cases: pd.DataFrame  # the cases, aligned to example_ids
    acceptance: dict[str, Any] = field(default_factory=dict)  # the rule that was applied

    def __len__(self) -> int:
        return len(self.example_ids)

    @property
    def acceptance_rate(self) -> float:
        return float(self.accepted.mean()) if len(self) else 0.0

    @property
    def reports(self) -> dict[str, dict[str, Any]]:
        return {name: col.report for name, col in self.results.items() if col.report}

    def to_frame(self) -> pd.DataFrame:
        """One row per example: id, accepted, error, and each scorer's passed/score/reason."""
        frame = pd.DataFrame({"example_id": self.example_ids.to_numpy(dtype=object), "accepted": self.accepted,
                              "error": self.records["error"].to_numpy(dtype=object, na_value=None)})
        for name, col in self.results.items():
            frame[f"{name}.passed"] = col.passed
            frame[f"{name}.score"] = col.score
            frame[f"{name}.reason"] = col.reason_array()
        return frame


def _scenario_of(loaded: Any) -> Scenario:
    return loaded.scenario if hasattr(loaded, "scenario") else loaded


def cases_frame(scenario: Scenario, dataset: CasesLike) -> pd.DataFrame:
    """The cases as a DataFrame indexed by id (str), with the reference under `reference`."""
    id_field = scenario.dataset.id_field
    ref_field = scenario.dataset.reference_field
    frame = dataset if isinstance(dataset, pd.DataFrame) else dataset.to_pandas()
    missing = [c for c in (id_field, ref_field) if c not in frame.columns]
    if missing:
        raise InputError(f"cases are missing columns: {', '.join(missing)}", field="dataset",
                         fix="the cases need the contract's id_field and reference_field")
    frame = frame.copy()
    ids = frame[id_field].astype("string")
    codes, uniques = pd.factorize(ids)
    if len(uniques) != len(ids) or (codes < 0).any():
        dup = ids[ids.duplicated()].unique()[:5]
        raise InputError(f"cases repeat ids: {', '.join(map(str, dup))}", field=id_field,
                         fix="make case ids unique")
    frame.index = pd.Index(ids, name="example_id")
    if ref_field != "reference":
        frame["reference"] = frame[ref_field]
    return frame


def align_records(records: pd.DataFrame, cases: pd.DataFrame, *, side: str = "records",
                  require_all_cases: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the records' columns and ids against the cases; return both in dataset order."""
    missing = [c for c in REQUIRED_FOR_SCORING if c not in records.columns]
    if missing:
        raise InputError(f"{side} are missing columns: {', '.join(missing)}", field="columns",
                         fix="records need " + ", ".join(REQUIRED_FOR_SCORING))
    ids = records["example_id"].astype("string").reset_index(drop=True)
    if len(ids) == len(cases) and _same_ids(ids, cases.index):
        # Fast path: records already in dataset order (how gpu/ writes them); nothing to reorder.
        # Case ids are unique (checked by `cases_frame`), so equal order also means no duplicates.
        aligned = records.reset_index(drop=True)
        if aligned["example_id"].dtype != ids.dtype:
            aligned["example_id"] = ids
        return aligned, cases
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"{side} repeat example ids: {', '.join(dup.unique()[:5])}", field="example_id",
                         fix="one record per example")
    positions = cases.index.get_indexer(ids)
    unknown = ids[positions < 0]
    if len(unknown):
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise InputError(f"{side} have example ids not in the dataset: {', '.join(unknown[:5])}{more}",
                         field="example_id", fix="generate records for this scenario's dataset")
    if require_all_cases and len(ids) != len(cases):
        covered = np.zeros(len(cases), dtype=bool)
        covered[positions] = True
        absent = cases.index[~covered]
        more = f" (and {len(absent) - 5} more)" if len(absent) > 5 else ""
        raise InputError(f"{side} lack example ids of the dataset: {', '.join(absent[:5])}{more}",
                         field="example_id", fix="generate a record for every case")
    order = np.argsort(positions, kind="stable")
    aligned = records.iloc[order].reset_index(drop=True)
    aligned["example_id"] = ids.iloc[order].to_numpy(dtype=object)
    aligned["example_id"] = aligned["example_id"].astype("string")
    return aligned, cases.iloc[positions[order]]


def _same_ids(ids: pd.Series, index: pd.Index) -> bool:
    """Elementwise equality with Arrow's kernel (no per-string Python objects)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    equal = pc.equal(pa.array(ids, type=pa.string()), pa.array(index, type=pa.string()))
    return bool(pc.all(equal).as_py()) and equal.null_count == 0


def _error_mask(records: pd.DataFrame) -> np.ndarray:
    error = records["error"]
    mask = error.notna().to_numpy()
    if mask.any():  # an empty error string is not an error
        mask = mask & (error.astype("string").fillna("").str.len().to_numpy() > 0)
    return mask


def apply_acceptance(scenario: Scenario, results: dict[str, ScorerColumn], errored: np.ndarray) -> np.ndarray:
    """The contract's acceptance rule: all / any / weighted threshold over the named scorers."""
    rule = scenario.scoring.acceptance
    names = rule.scorers or [s.name for s in scenario.scoring.scorers]
    unknown = [n for n in names if n not in results]
    if unknown:
        raise InputError(f"acceptance names unknown scorers: {', '.join(unknown)}",
                         field="scoring.acceptance.scorers", fix="use names from scoring.scorers")
    n = len(errored)
    if rule.mode == "all":
        accepted = np.ones(n, dtype=bool)
        for name in names:
            accepted &= results[name].passed
    elif rule.mode == "any":
        accepted = np.zeros(n, dtype=bool)
        for name in names:
            accepted |= results[name].passed
    else:  # weighted: weighted mean of the scores reaches the threshold
        if rule.threshold is None:
            raise InputError("weighted acceptance needs a threshold", field="scoring.acceptance.threshold",
                             fix="set threshold between 0 and 1")
        weights = {s.name: s.weight for s in scenario.scoring.scorers}
        total = sum(weights[nm] for nm in names)
        if total <= 0:
            raise InputError("weighted acceptance: scorer weights sum to 0",
                             field="scoring.scorers", fix="give the counted scorers positive weights")
        mean = sum(weights[nm] * results[nm].score for nm in names) / total
        accepted = mean >= rule.threshold - 1e-12
    return accepted & ~errored  # a failed generation is never an accepted outcome


def score_records(loaded: Any, dataset: CasesLike, records: pd.DataFrame, *,
                  require_all_cases: bool = True, side: str = "records",
                  case_codes: dict[str, Any] | None = None) -> ScoredRecords:
    """Score one model's records with the contract's scorers and acceptance rule."""
    scenario = _scenario_of(loaded)
    cases = dataset if isinstance(dataset, pd.DataFrame) and dataset.index.name == "example_id" \
        and "reference" in dataset.columns else cases_frame(scenario, dataset)
    aligned, aligned_cases = align_records(records, cases, side=side, require_all_cases=require_all_cases)
    errored = _error_mask(aligned)
    # Case-column codes are only shared when these records saw the cases in their own order.
    shared = case_codes if case_codes is not None and aligned_cases is cases else {}
    batch = ScorerBatch(records=aligned, cases=aligned_cases, error_mask=errored, case_codes=shared)
    errors = pd.factorize(aligned["error"][errored]) if errored.any() else None
    results: dict[str, ScorerColumn] = {}
    for spec in scenario.scoring.scorers:
        column = get_scorer(spec)(batch, ScorerContext(scenario, spec))
        if errors is not None:  # error rows fail every scorer, with the error as the reason
            column = _fail_errors(column, errored, errors)
        results[spec.name] = column
    accepted = apply_acceptance(scenario, results, errored)
    rule = scenario.scoring.acceptance
    return ScoredRecords(example_ids=aligned["example_id"], accepted=accepted,
                         errored=errored, results=results, records=aligned, cases=aligned_cases,
                         acceptance={"mode": rule.mode, "scorers": rule.scorers, "threshold": rule.threshold})


def _fail_errors(column: ScorerColumn, errored: np.ndarray, errors: tuple[np.ndarray, Any]) -> ScorerColumn:
    codes_of_errors, messages = errors
    reasons = list(column.reasons) + [f"generation failed: {str(m)[:120]}" for m in messages]
    codes = column.reason_codes.copy()
    codes[errored] = len(column.reasons) + codes_of_errors
    return ScorerColumn(passed=column.passed & ~errored, score=np.where(errored, 0.0, column.score),
                        reason_codes=codes, reasons=reasons, detail_codes=column.detail_codes,
                        details=column.details, report=column.report)
