"""Pairwise judges: both orders, disagreement is a tie, position bias counted; the gate's check."""
from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest
from evals_fixtures import make_cases, make_records, paired_outcomes

from releasegate.evals import pairwise as PW
from releasegate.evals import run_gate, stats
from releasegate.scenarios._contract import PairwiseJudgeSpec


def test_parse_preference() -> None:
    assert [PW.parse_preference(t) for t in ("A", "b is better", "Tie.", "I cannot say", "**A**")] == [1, -1, 0, 0, 1]


def test_summary_counts_ties_and_disagreements_and_matches_newcombe() -> None:
    first = np.array([1, 1, -1, 0, 1, 1, -1])
    second = np.array([1, -1, -1, 0, 1, 0, -1])
    r = PW.summarise(first, second)
    assert (r.wins, r.losses, r.ties, r.order_disagreements) == (2, 2, 3, 2)
    low, high = stats.newcombe_paired_interval(stats.PairedTable(0, 2, 2, 3))
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high))


def _position_biased_judge(bias_cases: set[str]) -> Any:
    """A fake judge: prefers the answer equal to the reference; on `bias_cases` it always says A
    (position bias), whichever answer is there."""
    calls: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(body)
        prompt = body["messages"][0]["content"]
        ref = prompt.split("Reference answer: ")[1].split("\n")[0]
        a = prompt.split("Answer A: ")[1].split("\n")[0]
        b = prompt.split("Answer B: ")[1].split("\n")[0]
        if ref in bias_cases:
            choice = "A"
        elif ref.lower() in a.lower() and ref.lower() not in b.lower():
            choice = "A"
        elif ref.lower() in b.lower() and ref.lower() not in a.lower():
            choice = "B"
        else:
            choice = "tie"
        return httpx.Response(200, json={"choices": [{"message": {"content": choice}}]})

    return handler, calls


def test_gate_judges_both_orders_and_checks_the_preference(triage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = triage.scenario if hasattr(triage, "scenario") else triage
    spec = PairwiseJudgeSpec(endpoint="http://judge.test/v1", model="judge-m", min_preference=-0.05)
    scenario = scenario.model_copy(update={"scoring": scenario.scoring.model_copy(update={"pairwise_judge": spec})})
    cases = make_cases(200)
    cases["reference"] = [f"label{i}" for i in range(200)]  # unique references: the fake judge can tell cases apart
    cand, inc = paired_outcomes(200, 0.6, 0.15, 0.05)
    handler, calls = _position_biased_judge({f"label{i}" for i in range(20)})
    monkeypatch.setattr(PW, "make_client", lambda timeout: httpx.Client(transport=httpx.MockTransport(handler)))
    cand_records = make_records(cases, cand, entry="gemma3-v1")
    inc_records = make_records(cases, inc, entry="smollm2-v1", seed=2)
    cand_records["output"] = np.where(cand, cases["reference"], "wrong")
    inc_records["output"] = np.where(inc, cases["reference"], "wrong")
    verdict = run_gate(scenario, cases, cand_records, {}, inc_records, {}, seed=1)
    assert len(calls) == 400  # every case, both orders
    block = verdict.metrics.pairwise
    biased = np.zeros(200, dtype=bool)
    biased[:20] = True
    expected_wins = int((cand & ~inc & ~biased).sum())
    expected_losses = int((~cand & inc & ~biased).sum())
    assert (block.wins, block.losses) == (expected_wins, expected_losses)
    # on the biased cases the judge says A in both orders: they disagree, so those cases are ties
    assert block.order_disagreements == 20
    check = next(c for c in verdict.checks if c.name == "pairwise_preference")
    assert check.value == pytest.approx((expected_wins - expected_losses) / 200)
    assert check.status == "pass"
