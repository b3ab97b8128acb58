"""Assemble a `ReportInput` from files: a verdict or decision, the records, the contract.

`report_input_from_records` is the one way a case table is built from two record files (used by
the flows stage's report task and by `report_input_from_files`); `report_input_from_files` is
`releasegate report` and `python -m releasegate.reports.examples`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from releasegate.core import InputError
from releasegate.scenarios import LoadedScenario, load_contract, load_dataset_for, load_scenario, read_records

from ._decision import DecisionDocument, load_decision
from ._input import (
    Approval,
    ReportInput,
    cases_from_records,
    cases_from_scored,
    check_cases,
    default_versions,
)


def scenario_for(ref: str | Path) -> LoadedScenario | None:
    """Fully validated when possible; schema-checked only when, e.g., the dataset is absent."""
    try:
        return load_scenario(ref)
    except InputError:
        try:
            return load_contract(ref)
        except InputError:
            return None


def report_input_from_records(
    verdict: Any, loaded: LoadedScenario | None, dataset: Any, candidate: str | Path, incumbent: str | Path, *,
    require_all_cases: bool = False, approvals: list[Approval | dict[str, Any]] | None = None,
) -> ReportInput:
    """The report of `verdict` with its case table from the two record files: repeat 0 of each
    case (the verdict carries the per-case rates), scored by evals' own scorers as in the gate
    (the records alone when `dataset` is None: absent, or not the cases the verdict was computed
    on), and the vLLM version the records' metadata names."""
    from releasegate.evals import score_records
    from releasegate.evals.repeats import split_repeats

    (cand, cand_meta), (inc, inc_meta) = read_records(candidate), read_records(incumbent)
    try:
        cand, inc = split_repeats(cand)[0], split_repeats(inc)[0]
    except ValueError as exc:
        raise InputError(str(exc), file=candidate if "repeat" in cand.columns else incumbent, field="repeat",
                         fix="write repeats numbered 0..k-1") from None
    if dataset is not None and loaded is not None:
        table = cases_from_scored(
            score_records(loaded, dataset, cand, require_all_cases=require_all_cases, side="candidate records"),
            score_records(loaded, dataset, inc, require_all_cases=require_all_cases, side="incumbent records"),
            loaded)
    else:
        table = cases_from_records(cand, inc)
    versions = default_versions()
    vllm = [v for m in (cand_meta, inc_meta)
            if (v := (m.get("serving") or {}).get("vllm_version") or m.get("vllm_version"))]
    if vllm:
        versions["vllm"] = str(vllm[0])
    return ReportInput(verdict=verdict, scenario=loaded, cases=table, approvals=approvals, versions=versions)


def _predicate_path(doc: DecisionDocument, decision: Path, side: str) -> Path | None:
    records = doc.predicate.get("records")
    value = records.get(side) if isinstance(records, dict) else None
    if not isinstance(value, str):
        return None
    path = Path(value)
    for candidate in (path, decision.parent / path):  # absolute/cwd-relative, else beside it
        if candidate.is_file():
            return candidate
    return None


def _approvals_from(doc: DecisionDocument) -> list[Approval]:
    """DSSE signatures, unverified: `releasegate verify` owns verification."""
    return [Approval(role=str(s.get("role", "signer")), identity=str(s.get("identity", "")),
                     fingerprint=str(s.get("keyid", "")), valid=None) for s in doc.signatures]


def report_input_from_files(
    decision: str | Path,
    candidate_records: str | Path | None = None,
    incumbent_records: str | Path | None = None,
    *,
    cases: str | Path | None = None,
    scenario: str | Path | None = None,
    approvals: list[Approval | dict[str, Any]] | None = None,
) -> ReportInput:
    """Read everything a report needs; the records default to the decision's `predicate.records`."""
    import pandas as pd

    decision = Path(decision)
    doc = load_decision(decision)
    verdict = doc.verdict
    scenario_ref = scenario or doc.predicate.get("scenario") or verdict.scenario_id
    if isinstance(scenario_ref, dict):
        scenario_ref = scenario_ref.get("id", verdict.scenario_id)
    loaded = scenario_for(scenario_ref)

    versions = default_versions()
    table = None
    if cases is not None:
        table = pd.read_parquet(cases)
        check_cases(table)
    else:
        cand_path = (Path(candidate_records) if candidate_records
                     else _predicate_path(doc, decision, "candidate"))
        inc_path = (Path(incumbent_records) if incumbent_records
                    else _predicate_path(doc, decision, "incumbent"))
        if (cand_path is None) != (inc_path is None):
            raise InputError("give both --candidate-records and --incumbent-records, or neither",
                             field="--candidate-records" if cand_path is None else "--incumbent-records",
                             fix="pass the other model's generation records too")
        if cand_path is not None and inc_path is not None:
            dataset = None
            if isinstance(loaded, LoadedScenario) and loaded.dataset_path.is_file():
                dataset = load_dataset_for(loaded, verify_digest=False)
                if dataset.sha256 != verdict.dataset_sha256:
                    dataset = None  # not the cases this verdict was computed on: do not show them
            return report_input_from_records(
                verdict, loaded, dataset, cand_path, inc_path,
                approvals=approvals if approvals is not None else _approvals_from(doc))
    return ReportInput(verdict=verdict, scenario=loaded, cases=table,
                       approvals=approvals if approvals is not None else _approvals_from(doc),
                       versions=versions)
