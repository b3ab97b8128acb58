"""What a report is rendered from: `ReportInput`, and the per-example case table's columns.

The case table is a plain pandas DataFrame so that this stage depends on nothing inside evals/
beyond `evals.Verdict`: whoever scores the records (the flows stage, the CLI) joins the dataset,
both models' generation records and their scores into one row per example.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from releasegate.evals import Verdict
from releasegate.core import InputError

if TYPE_CHECKING:
    import pandas as pd

    from releasegate.scenarios import LoadedScenario, Scenario, ScenarioDataset

SIDES = ("incumbent", "candidate")

# column -> meaning. Required columns must be present; optional ones may be absent or null.
CASE_COLUMNS: dict[str, str] = {
    "example_id": "str: the case id (same ids, same order for both models)",
    "inputs": "dict[str, str] of prompt variables, or str: what the model was asked",
    "reference": "str: the expected answer (a label, or JSON text)",
    "slices": "dict[str, str]: slice field -> value, e.g. {'channel': 'email'}",
    "incumbent_output": "str: the incumbent's generated text",
    "incumbent_accepted": "bool | <NA>: the acceptance rule's outcome (NA: not scored)",
    "incumbent_reasons": "str | list[str]: the scorers' short reasons",
    "candidate_output": "str: the candidate's generated text",
    "candidate_accepted": "bool | <NA>",
    "candidate_reasons": "str | list[str]",
}
OPTIONAL_CASE_COLUMNS: dict[str, str] = {
    f"{side}_{name}": meaning
    for side in SIDES
    for name, meaning in {
        "ttft_s": "float: time to first token, seconds",
        "latency_s": "float: end-to-end latency, seconds",
        "prompt_tokens": "int",
        "completion_tokens": "int",
        "cost_usd": "float: this example's share of the record set's cost",
        "error": "str | None: the request's error, null when it succeeded",
    }.items()
}


@dataclass(frozen=True)
class Approval:
    """One signature on the release decision, as the releases stage verified it."""

    role: str  # "product" | "platform"
    identity: str
    fingerprint: str  # the signing key's fingerprint (e.g. sha256 of the public key)
    valid: bool | None  # None: present but not verified by whoever built the input

    @classmethod
    def coerce(cls, value: Approval | dict[str, Any]) -> Approval:
        if isinstance(value, Approval):
            return value
        return cls(role=str(value.get("role", "")), identity=str(value.get("identity", "")),
                   fingerprint=str(value.get("fingerprint", "")), valid=value.get("valid"))


def default_versions() -> dict[str, str]:
    """releasegate's own version; serving versions (vLLM) come from the records' metadata."""
    try:
        version = metadata.version("releasegate")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        version = "unknown"
    return {"releasegate": version}


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows. Only `verdict` is required; absent parts say so on the page.

    scenario: the contract (owners, RACI, escalation path, success criteria), a LoadedScenario or
      a bare Scenario. Digests always come from the verdict, which is what was signed.
    cases: one row per example, columns in `CASE_COLUMNS` (+ `OPTIONAL_CASE_COLUMNS`).
    approvals: signatures on the decision ({role, identity, fingerprint, valid} or `Approval`).
    versions: software that produced the evidence, e.g. {"releasegate": "0.1.0", "vllm": "0.32.0"}.
    title: overrides the page title; generated_at: shown if given (not by default, so that the
      same input renders the same bytes and the report digest in a decision is reproducible).
    """

    verdict: Verdict
    scenario: LoadedScenario | Scenario | None = None
    cases: pd.DataFrame | None = None
    approvals: list[Approval | dict[str, Any]] | None = None
    versions: dict[str, str] = field(default_factory=default_versions)
    title: str | None = None
    generated_at: str | None = None
    max_cases_shown: int = 200  # per table (lost / won), so the file stays small

    @property
    def contract(self) -> Scenario | None:
        scenario = self.scenario
        return getattr(scenario, "scenario", scenario)

    @property
    def approval_list(self) -> list[Approval]:
        return [Approval.coerce(a) for a in (self.approvals or [])]


def check_cases(cases: pd.DataFrame) -> None:
    """Raise InputError naming the missing columns, before anything is rendered."""
    missing = [c for c in CASE_COLUMNS if c not in cases.columns]
    if missing:
        raise InputError(f"case table is missing columns: {', '.join(missing)}", field="cases",
                         fix="build it with reports.cases_from_records or see CASE_COLUMNS")


def _reasons_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return "; ".join(str(v) for v in list(value))
    return str(value)


def cases_from_records(
    candidate_records: pd.DataFrame,
    incumbent_records: pd.DataFrame,
    dataset: ScenarioDataset | None = None,
    variables: list[str] | None = None,
    candidate_scores: pd.DataFrame | None = None,
    incumbent_scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join two generation-record frames (scenarios.RECORD_COLUMNS) into the case table.

    Acceptance comes from `*_scores` (columns example_id, accepted, reasons) or, failing that,
    from `accepted` / `reasons` columns in the records themselves; otherwise it is <NA>. Inputs,
    reference and slices come from `dataset` when given, else from same-named record columns.
    """
    cases = _join_sides(candidate_records, incumbent_records, candidate_scores, incumbent_scores)
    if dataset is not None:
        rows = {str(r[dataset.id_field]): r for r in dataset.rows}
        return _attach_case_fields(cases, rows, variables, dataset.reference_field,
                                   list(dataset.slice_fields), str(dataset.path))
    source = candidate_records.set_index(candidate_records["example_id"].astype(str))
    for column in ("inputs", "reference", "slices"):
        if column in source:
            values = [source.at[i, column] for i in cases["example_id"]]
            if column == "slices":
                values = [json.loads(v) if isinstance(v, str) else (v or {}) for v in values]
            cases[column] = values
        else:
            cases[column] = [{} if column == "slices" else ""] * len(cases)
    return cases


def cases_from_scored(candidate: Any, incumbent: Any, scenario: Scenario | LoadedScenario) -> pd.DataFrame:
    """The case table from two `evals.ScoredRecords` (what `evals.score_records` returns).

    Duck-typed on `.to_frame()` (example_id, accepted, `<scorer>.reason`), `.records` and `.cases`
    (the aligned cases, with the contract's prompt variables and slice fields), so this stage
    does not depend on more of evals than its public face promises.
    """
    import pandas as pd

    contract = getattr(scenario, "scenario", scenario)
    scores = {}
    for side, scored in (("candidate", candidate), ("incumbent", incumbent)):
        frame = scored.to_frame()
        reason_columns = [c for c in frame.columns if c.endswith(".reason")]
        scores[side] = pd.DataFrame({
            "example_id": frame["example_id"].astype(str),
            "accepted": frame["accepted"].astype(bool),
            "reasons": [[f"{c.removesuffix('.reason')}: {row[c]}" for c in reason_columns if row[c]]
                        for _, row in frame[reason_columns].iterrows()],
        })
    cases = _join_sides(candidate.records, incumbent.records, scores["candidate"], scores["incumbent"])
    aligned = candidate.cases
    rows = {str(i): dict(r) for i, r in zip(aligned.index, aligned.to_dict("records"))}
    return _attach_case_fields(cases, rows, list(contract.prompt_family.variables), "reference",
                               list(contract.dataset.slice_fields), "cases")


def _join_sides(candidate_records: pd.DataFrame, incumbent_records: pd.DataFrame,
                candidate_scores: pd.DataFrame | None,
                incumbent_scores: pd.DataFrame | None) -> pd.DataFrame:
    import pandas as pd

    sides = {}
    for side, records, scores in (("candidate", candidate_records, candidate_scores),
                                  ("incumbent", incumbent_records, incumbent_scores)):
        frame = records.copy()
        frame["example_id"] = frame["example_id"].astype(str)
        if scores is not None:
            scored = scores[["example_id", "accepted", "reasons"]].copy()
            scored["example_id"] = scored["example_id"].astype(str)
            frame = frame.drop(columns=[c for c in ("accepted", "reasons") if c in frame]).merge(
                scored, on="example_id", how="left")
        out = pd.DataFrame({"example_id": frame["example_id"]})
        out[f"{side}_output"] = frame["output"].astype("string").fillna("").to_numpy()
        out[f"{side}_accepted"] = (frame["accepted"].astype("boolean").to_numpy() if "accepted" in frame
                                   else pd.array([pd.NA] * len(frame), dtype="boolean"))
        out[f"{side}_reasons"] = (frame["reasons"].map(_reasons_of).to_numpy() if "reasons" in frame
                                  else "")
        for name in ("ttft_s", "latency_s", "prompt_tokens", "completion_tokens", "cost_usd", "error"):
            if name in frame:
                out[f"{side}_{name}"] = frame[name].to_numpy()
        sides[side] = out.set_index("example_id")

    candidate_ids, incumbent_ids = set(sides["candidate"].index), set(sides["incumbent"].index)
    if candidate_ids != incumbent_ids:
        only = sorted(candidate_ids ^ incumbent_ids)[:5]
        raise InputError(f"candidate and incumbent records cover different examples, e.g. {only}",
                         field="example_id", fix="pass records generated on the same cases")
    return sides["incumbent"].join(sides["candidate"], how="inner").reset_index()


def _attach_case_fields(cases: pd.DataFrame, rows: dict[str, dict[str, Any]],
                        variables: list[str] | None, reference_field: str, slice_fields: list[str],
                        source: str) -> pd.DataFrame:
    unknown = [i for i in cases["example_id"] if i not in rows][:5]
    if unknown:
        raise InputError(f"records name examples not in the dataset, e.g. {unknown}", file=source,
                         fix="pass records generated on this dataset")
    if variables is None:
        first_row = rows[cases["example_id"].iloc[0]] if len(cases) else {}
        variables = [k for k in first_row if k not in (reference_field, *slice_fields)]
    ids = list(cases["example_id"])
    cases["inputs"] = [{v: str(rows[i].get(v, "")) for v in variables} for i in ids]
    cases["reference"] = [str(rows[i][reference_field]) for i in ids]
    cases["slices"] = [{f: str(rows[i][f]) for f in slice_fields} for i in ids]
    return cases
