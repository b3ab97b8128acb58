"""The gate's decisions on constructed cases, its verdict JSON, and its input checks."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from evals_fixtures import make_cases, make_records, paired_outcomes, with_criteria

from releasegate.evals import Check, GateContext, Verdict, run_gate
from releasegate.evals.gate import decide
from releasegate.core import InputError


def gate(scenario: Any, n: int, both: float, cand_only: float, inc_only: float, *, seed: int = 1,
         cand_columns: dict[str, Any] | None = None, cand_meta: dict[str, Any] | None = None,
         **kwargs: Any) -> Verdict:
    cases = make_cases(n)
    cand, inc = paired_outcomes(n, both, cand_only, inc_only)
    cand_records = make_records(cases, cand, entry="gemma3-v1", **(cand_columns or {}))
    inc_records = make_records(cases, inc, entry="smollm2-v1", seed=2)
    return run_gate(scenario, cases, cand_records, cand_meta or {}, inc_records, {}, seed=seed, **kwargs)


def by_name(verdict: Verdict) -> dict[str, Check]:
    return {c.name: c for c in verdict.checks}


def test_clearly_non_inferior_candidate_passes(triage: Any) -> None:
    verdict = gate(triage, 2000, 0.6, 0.1, 0.05)
    checks = by_name(verdict)
    assert verdict.decision == "PASS" and verdict.vetoed_by == []
    assert checks["non_inferiority"].status == "pass" and checks["non_inferiority"].critical
    assert checks["non_inferiority"].value == pytest.approx(0.05)
    assert checks["min_acceptance_rate"].value == pytest.approx(0.70)
    assert checks["cache_hit_rate"].status == "skipped"
    assert {"slice:channel=chat", "slice:channel=email", "slice:language=de", "slice:language=en"} <= set(checks)
    assert verdict.metrics.paired.candidate_only == 200
    assert verdict.metrics.paired.incumbent_only == 100


def test_clearly_worse_candidate_fails_with_a_veto(triage: Any) -> None:
    verdict = gate(triage, 2000, 0.5, 0.02, 0.2)
    checks = by_name(verdict)
    assert verdict.decision == "FAIL"
    assert checks["non_inferiority"].status == "fail"
    assert "non_inferiority" in verdict.vetoed_by
    assert verdict.reason.startswith("critical check failed (veto): non_inferiority")


def test_too_few_cases_is_inconclusive(triage: Any) -> None:
    verdict = gate(triage, 60, 0.5, 0.1, 0.1)
    checks = by_name(verdict)
    assert checks["non_inferiority"].status == "inconclusive"
    assert checks["non_inferiority"].ci_low < -0.05 < checks["non_inferiority"].ci_high
    assert verdict.decision == "INCONCLUSIVE" and verdict.vetoed_by == []
    assert "non_inferiority" in verdict.reason


def test_non_inferiority_below_the_size_any_answers_could_pass_says_so(triage: Any) -> None:
    """Issue 13: 20 cases with identical answers still straddle a 5-point margin, and always will."""
    from releasegate.evals.planning import min_cases_to_pass

    margin = float(triage.scenario.success_criteria.non_inferiority_margin)
    needed = min_cases_to_pass(margin, 0.95)
    small = by_name(gate(triage, 20, 0.8, 0.0, 0.0))["non_inferiority"]
    assert small.status == "inconclusive" and small.cases_needed == needed > 20
    assert "undecidable with 20 cases" in small.reason and f"(needs >= {needed} cases)" in small.reason
    assert by_name(gate(triage, 60, 0.5, 0.1, 0.1))["non_inferiority"].cases_needed is None  # size is not the issue


def test_min_acceptance_rate_straddling_the_threshold_is_inconclusive(triage: Any) -> None:
    scenario = with_criteria(triage, min_acceptance_rate=0.70)
    checks = by_name(gate(scenario, 2000, 0.6, 0.1, 0.05))  # candidate rate exactly 0.70
    assert checks["min_acceptance_rate"].status == "inconclusive"
    scenario = with_criteria(triage, min_acceptance_rate=0.75)
    assert by_name(gate(scenario, 2000, 0.6, 0.1, 0.05))["min_acceptance_rate"].status == "fail"


def test_a_critical_tool_policy_violation_vetoes_an_otherwise_passing_gate(triage: Any) -> None:
    calls = [None] * 2000
    calls[17] = json.dumps([{"name": "issue_refund", "arguments": {"amount": 10}}])
    verdict = gate(triage, 2000, 0.6, 0.1, 0.05,
                   cand_columns={"tool_calls": pd.array(calls, dtype="string")})
    assert verdict.decision == "FAIL" and verdict.vetoed_by == ["tool_policy"]
    assert by_name(verdict)["tool_policy"].value == 1.0
    assert by_name(verdict)["non_inferiority"].status == "pass"


def test_a_non_critical_failure_fails_without_a_veto(triage: Any) -> None:
    slow = np.full(2000, 45.0)  # the contract's p95 latency SLO is 30 s
    verdict = gate(triage, 2000, 0.6, 0.1, 0.05, cand_columns={"latency_s": slow})
    assert verdict.decision == "FAIL" and verdict.vetoed_by == []
    assert by_name(verdict)["latency_p95"].status == "fail"
    assert verdict.reason == "failed: latency_p95"


def test_a_regressing_slice_fails_the_slice_guard(triage: Any) -> None:
    n = 2000
    cases = make_cases(n)
    inc = np.ones(n, dtype=bool)
    cand = np.ones(n, dtype=bool)
    email = (cases["channel"] == "email").to_numpy()
    cand[np.flatnonzero(email)[: int(0.3 * email.sum())]] = False  # lose 30% of email cases
    verdict = run_gate(with_criteria(triage, non_inferiority_margin=0.2), cases,
                       make_records(cases, cand), {}, make_records(cases, inc, entry="smollm2-v1"), {}, seed=1)
    checks = by_name(verdict)
    assert checks["slice:channel=email"].status == "fail"
    assert checks["slice:channel=chat"].status == "pass"
    assert verdict.decision == "FAIL"
    email_slice = next(s for s in verdict.slices if s.field == "channel" and s.value == "email")
    assert email_slice.p_holm < 0.05 and email_slice.status == "fail"


def test_cache_hit_slo_uses_records_telemetry(triage: Any) -> None:
    scenario = triage.scenario.model_copy(update={"cache_strategy": triage.scenario.cache_strategy.model_copy(
        update={"min_prefix_cache_hit_rate": 0.5})})
    low = gate(scenario, 500, 0.6, 0.1, 0.05, cand_meta={"telemetry": {"prefix_cache_hit_rate": 0.3}})
    high = gate(scenario, 500, 0.6, 0.1, 0.05, cand_meta={"telemetry": {"prefix_cache_hit_rate": 0.8}})
    missing = gate(scenario, 500, 0.6, 0.1, 0.05)
    assert by_name(low)["cache_hit_rate"].status == "fail"
    assert by_name(high)["cache_hit_rate"].status == "pass"
    assert by_name(missing)["cache_hit_rate"].status == "inconclusive"


def test_cost_checks(triage: Any) -> None:
    dear = np.full(2000, 0.01)  # 0.01 / 0.7 accepted: far over the $0.001 ceiling and 3x ratio
    checks = by_name(gate(triage, 2000, 0.6, 0.1, 0.05, cand_columns={"cost_usd": dear}))
    assert checks["max_cost_per_accepted"].status == "fail"
    assert checks["max_cost_per_accepted"].value == pytest.approx(0.01 / 0.7)
    assert checks["cost_ratio"].status == "fail"
    assert checks["cost_ratio"].value == pytest.approx((0.01 / 0.7) / (0.0001 / 0.65))
    assert checks["cost_ratio"].ci_low <= checks["cost_ratio"].value <= checks["cost_ratio"].ci_high


def test_same_inputs_and_seed_give_byte_identical_json(triage: Any) -> None:
    first = gate(triage, 1500, 0.6, 0.1, 0.05, seed=7).to_json()
    second = gate(triage, 1500, 0.6, 0.1, 0.05, seed=7).to_json()
    other_seed = gate(triage, 1500, 0.6, 0.1, 0.05, seed=8).to_json()
    assert first == second
    assert first != other_seed  # the bootstrap intervals depend on the seed
    assert Verdict.from_json(first).to_json() == first


def test_extra_checks_run_after_the_built_ins_and_can_change_the_decision(triage: Any) -> None:
    seen: list[int] = []

    def exceptions_check(ctx: GateContext) -> list[Check]:
        seen.append(len(ctx.prior_checks))
        return [Check(name="exceptions", kind="value", metric="open_exceptions", value=1.0, ci_low=None,
                      ci_high=None, threshold=0.0, direction="<=", status="fail", critical=False,
                      reason="one expired exception")]

    verdict = gate(triage, 2000, 0.6, 0.1, 0.05, extra_checks=[exceptions_check])
    assert seen and seen[0] == len(verdict.checks) - 1
    assert verdict.checks[-1].name == "exceptions"
    assert verdict.decision == "FAIL"


def test_decision_policy_order() -> None:
    def check(name: str, status: str, critical: bool = False) -> Check:
        return Check(name, "value", "m", None, None, None, None, ">=", status, critical, "")  # type: ignore[arg-type]

    assert decide([check("a", "pass"), check("b", "skipped")])[0] == "PASS"
    assert decide([check("a", "pass"), check("b", "inconclusive", True)])[0] == "INCONCLUSIVE"
    assert decide([check("a", "fail"), check("b", "inconclusive", True)])[:2] == ("FAIL", "failed: a")
    assert decide([check("a", "fail", True), check("b", "fail")]) == (
        "FAIL", "critical check failed (veto): a; also failed: b", ["a"])


def test_mismatched_example_ids_are_named(triage: Any) -> None:
    cases = make_cases(10)
    cand = make_records(cases, np.ones(10, dtype=bool))
    inc = make_records(cases, np.ones(10, dtype=bool)).iloc[:-1]
    with pytest.raises(InputError, match="incumbent records lack example ids of the dataset: c00009"):
        run_gate(triage, cases, cand, {}, inc, {})
    with pytest.raises(InputError, match=r"different example ids \(only candidate: c00009"):
        run_gate(triage, cases, cand, {}, inc, {}, require_all_cases=False)
    with pytest.raises(InputError, match="candidate records are missing columns: output"):
        run_gate(triage, cases, cand.drop(columns=["output"]), {}, inc, {})


def test_model_sides_come_from_meta_then_records(triage: Any) -> None:
    verdict = gate(triage, 200, 0.6, 0.1, 0.05,
                   cand_meta={"model_entry": "gemma3-v1", "model": "gemma3-270m", "records_sha256": "abc"})
    assert verdict.candidate.model == "gemma3-270m" and verdict.candidate.records_sha256 == "abc"
    assert verdict.incumbent.entry == "smollm2-v1" and len(verdict.incumbent.records_sha256) == 64
    assert replace(verdict.candidate, entry="x").entry == "x"


def test_frame_digest_follows_content_not_layout() -> None:
    from releasegate.evals.gate import frame_sha256

    cases = make_cases(100)
    records = make_records(cases, np.ones(100, dtype=bool))
    changed = records.copy()
    changed.loc[15, "output"] = "billing"
    assert frame_sha256(records.iloc[10:20]) == frame_sha256(records.iloc[10:20].copy())
    assert frame_sha256(records.iloc[10:20]) != frame_sha256(changed.iloc[10:20])
    assert frame_sha256(records) == frame_sha256(records[list(reversed(records.columns))])
