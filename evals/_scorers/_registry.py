"""The scorer registry: a decorator registers a scorer by its type name (inspect_ai / promptfoo
style), so a new scorer is one function in one file and no central switch is edited.

Two shapes:
- a *row* scorer is a pure function of a few input values (output, reference, tool_calls ...).
  The framework factorises those inputs and calls it once per distinct combination, then maps the
  results back with the inverse codes. LLM outputs for a scenario repeat a lot, so 1M rows are
  usually a few thousand calls; the worst case (all distinct) is one call per row.
- a *vectorised* scorer receives the whole batch and returns arrays (context budget).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from releasegate.core import InputError
from releasegate.scenarios import Scenario, ScorerSpec


@dataclass(frozen=True)
class ScoreResult:
    """One scorer's result for one example."""

    passed: bool
    score: float  # in [0, 1]
    reason: str  # short, readable
    detail: str | None = None  # e.g. the parsed label; feeds the scorer-level report


@dataclass(frozen=True)
class ScorerContext:
    scenario: Scenario
    spec: ScorerSpec

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.spec.params)

    def param(self, key: str, default: Any = None) -> Any:
        return self.spec.params.get(key, default)

    def error(self, message: str, fix: str) -> InputError:
        return InputError(f"scorer {self.spec.name!r} ({self.spec.type}): {message}",
                          field="scoring.scorers", fix=fix)


@dataclass
class ScorerColumn:
    """Per-example results of one scorer, as arrays (reasons and details as codes into tables)."""

    passed: np.ndarray  # bool
    score: np.ndarray  # float
    reason_codes: np.ndarray  # int32 index into `reasons`
    reasons: list[str]
    detail_codes: np.ndarray | None = None
    details: list[str | None] | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def reason(self, i: int) -> str:
        return self.reasons[int(self.reason_codes[i])]

    def reason_array(self) -> np.ndarray:
        return np.asarray(self.reasons, dtype=object)[self.reason_codes]

    def detail_array(self) -> np.ndarray | None:
        if self.detail_codes is None or self.details is None:
            return None
        return np.asarray(self.details, dtype=object)[self.detail_codes]

    @classmethod
    def constant(cls, n: int, passed: bool, score: float, reason: str) -> ScorerColumn:
        return cls(np.full(n, passed), np.full(n, score, dtype=float), np.zeros(n, dtype=np.int32),
                   [reason])


@dataclass(frozen=True)
class ScorerBatch:
    """What a scorer sees: the records (aligned to the cases) plus the cases' columns."""

    records: pd.DataFrame  # RECORD_COLUMNS, one row per example, dataset order
    cases: pd.DataFrame  # the dataset's rows, same order; `reference` column normalised
    error_mask: np.ndarray  # rows whose generation failed
    _codes: dict[str, tuple[np.ndarray, Any]] = field(default_factory=dict, repr=False)
    # codes of case columns, shareable between the candidate's and incumbent's batches when
    # both see the cases in the same order
    case_codes: dict[str, tuple[np.ndarray, Any]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.records)

    def codes(self, name: str) -> tuple[np.ndarray, Any]:
        """`pd.factorize` of a column (NA -> -1), computed once per batch and shared by scorers."""
        cache = self.case_codes if name == "reference" or name.startswith("case.") else self._codes
        if name not in cache:
            cache[name] = pd.factorize(self.column(name), use_na_sentinel=True)
        return cache[name]

    def column(self, name: str) -> pd.Series:
        """`reference`, a records column, or `case.<field>` for a dataset column."""
        if name == "reference":
            return self.cases["reference"]
        if name.startswith("case."):
            return self.cases[name[5:]]
        return self.records[name]


RowFn = Callable[..., ScoreResult]
VectorFn = Callable[[ScorerBatch, ScorerContext], ScorerColumn]
ReportFn = Callable[[ScorerColumn, ScorerBatch, ScorerContext], dict[str, Any]]


@dataclass(frozen=True)
class Scorer:
    type: str
    fn: Callable[..., Any]
    inputs: tuple[str, ...]  # row scorers: the input columns, passed positionally
    vectorised: bool
    report: ReportFn | None
    description: str

    def __call__(self, batch: ScorerBatch, ctx: ScorerContext) -> ScorerColumn:
        column = self.fn(batch, ctx) if self.vectorised else _score_rows(self, batch, ctx)
        if self.report is not None:
            column.report = self.report(column, batch, ctx)
        return column


SCORERS: dict[str, Scorer] = {}


def scorer(type_name: str, *, inputs: tuple[str, ...] = ("output", "reference"),
           vectorised: bool = False, report: ReportFn | None = None) -> Callable[[Any], Any]:
    """Register a scorer under `type_name` (the `type:` of a contract's `scoring.scorers`)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if type_name in SCORERS:
            raise ValueError(f"scorer type {type_name!r} registered twice")
        SCORERS[type_name] = Scorer(type_name, fn, inputs, vectorised, report,
                                    (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "")
        return fn

    return register


def get_scorer(spec: ScorerSpec) -> Scorer:
    try:
        return SCORERS[spec.type]
    except KeyError:
        raise InputError(f"scorer {spec.name!r} has unknown type {spec.type!r}", field="scoring.scorers",
                         fix="use one of: " + ", ".join(sorted(SCORERS))) from None


def _value(v: Any) -> Any:
    return None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v


def _score_rows(sc: Scorer, batch: ScorerBatch, ctx: ScorerContext) -> ScorerColumn:
    n = len(batch)
    key_codes = np.zeros(n, dtype=np.int64)
    columns = [batch.column(name) for name in sc.inputs]
    for name in sc.inputs:
        col_codes, col_uniques = batch.codes(name)
        # NA gets its own code so it is scored once (as None); re-factorise to keep codes small.
        col_codes = col_codes.astype(np.int64) + 1
        key_codes, _ = pd.factorize(key_codes * (len(col_uniques) + 1) + col_codes)
    n_keys = int(key_codes.max()) + 1 if n else 0
    # factorize numbers keys in order of first appearance, so the running maximum steps up exactly
    # at the first row of each distinct input combination.
    first = np.flatnonzero(np.diff(np.maximum.accumulate(key_codes), prepend=-1) > 0)
    raw = [column.iloc[first].to_numpy(dtype=object, na_value=None) for column in columns]
    results = [sc.fn(*(_value(v) for v in values), ctx=ctx) for values in zip(*raw)]
    passed = np.fromiter((r.passed for r in results), dtype=bool, count=n_keys)[key_codes]
    score = np.fromiter((r.score for r in results), dtype=float, count=n_keys)[key_codes]
    reason_table: dict[str, int] = {}
    reason_of_key = np.fromiter((reason_table.setdefault(r.reason, len(reason_table)) for r in results),
                                dtype=np.int32, count=n_keys)
    detail_table: dict[str | None, int] = {}
    detail_of_key = np.fromiter((detail_table.setdefault(r.detail, len(detail_table)) for r in results),
                                dtype=np.int32, count=n_keys)
    return ScorerColumn(passed=passed, score=score, reason_codes=reason_of_key[key_codes],
                        reasons=list(reason_table) or [""], detail_codes=detail_of_key[key_codes],
                        details=list(detail_table) or [None])


def describe_scorers() -> Mapping[str, str]:
    return {name: sc.description for name, sc in sorted(SCORERS.items())}
