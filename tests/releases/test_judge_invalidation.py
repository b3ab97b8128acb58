"""A decision judged by another judge than the contract's current one does not stand (issue 18)."""
from __future__ import annotations

from pathlib import Path

from releasegate.evals import judge_digest
from releasegate.releases._promotion import judge_reasons
from releasegate.scenarios import parse_scenario

ROOT = Path(__file__).resolve().parents[2]


def _predicate(digest: str | None) -> dict:
    return {"verdict": {"metrics": {"judge": {"digest": digest}} if digest else {}}}


def test_same_judge_stands_and_a_changed_judge_is_refused() -> None:
    scenario = parse_scenario(ROOT / "datasets" / "support-triage" / "scenario.yaml").scenario
    assert judge_reasons(scenario, _predicate(judge_digest(scenario))) == []
    scorers = [s.model_copy(update={"params": {**s.params, "model": "another-judge"}})
               for s in scenario.scoring.scorers]
    changed = scenario.model_copy(update={"scoring": scenario.scoring.model_copy(update={"scorers": scorers})})
    reasons = judge_reasons(changed, _predicate(judge_digest(scenario)))
    assert reasons == [f"judged by another judge: the decision's judge is {judge_digest(scenario)[:12]}, the "
                       f"contract's is now {judge_digest(changed)[:12]}; evaluate again"]


def test_decisions_from_before_judge_digests_are_not_refused_for_it() -> None:
    scenario = parse_scenario(ROOT / "datasets" / "support-triage" / "scenario.yaml").scenario
    assert judge_reasons(scenario, _predicate(None)) == []
