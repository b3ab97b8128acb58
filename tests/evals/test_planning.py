"""releasegate plan's statistics: the closed form against a simulation of the same design."""
from __future__ import annotations

import pytest

from releasegate.evals import planning as P


@pytest.mark.parametrize("design", [
    P.Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.2),
    P.Design(margin=0.03, confidence=0.95, power=0.8, incumbent_rate=0.85, discordance=0.1),
    P.Design(margin=0.10, confidence=0.90, power=0.9, incumbent_rate=0.6, discordance=0.3, difference=0.02),
])
def test_cases_needed_agrees_with_simulation_within_10_percent(design: P.Design) -> None:
    planned = P.cases_needed(design)
    simulated = P.simulated_cases_needed(design, sims=2000, seed=3, tolerance=0.01)
    assert abs(planned - simulated) <= 0.10 * simulated


def test_repeats_plan_agrees_with_simulation_of_the_clustered_gate() -> None:
    design = P.Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.25,
                      within_share=0.4)
    planned = P.cases_needed(design, repeats=3)
    simulated = P.simulated_cases_needed(design, repeats=3, sims=600, seed=4, tolerance=0.02)
    assert planned < P.cases_needed(design, repeats=1)  # repeats buy something when cases vary
    assert abs(planned - simulated) <= 0.10 * simulated


def test_deterministic_cases_gain_nothing_from_repeats() -> None:
    design = P.Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.2)
    assert P.cases_needed(design, 5) == P.cases_needed(design, 1)


def test_can_ever_pass_is_the_best_case_newcombe_bound() -> None:
    assert not P.can_ever_pass(40, 0.05, 0.8, 0.95)
    assert P.best_case_lower_bound(40, 0.8, 0.95) <= -0.05
    assert P.can_ever_pass(120, 0.05, 0.8, 0.95)
    assert P.best_case_lower_bound(120, 0.8, 0.95) > -0.05


def test_sequential_plan_reports_cap_and_cases_used() -> None:
    design = P.Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.2,
                      difference=0.03)
    plan = P.simulate_sequential(design, 800, runs=100, seed=1)
    assert plan.max_cases is not None and plan.max_cases <= 800
    assert plan.mean_cases <= plan.max_cases


def test_impossible_designs_are_refused() -> None:
    with pytest.raises(ValueError, match="above -margin"):
        P.Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.2, difference=-0.06)
    with pytest.raises(ValueError, match="discordance"):
        P.Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.01, difference=0.02)


def test_sequential_plan_looks_once_per_batch_like_the_flow() -> None:
    design = P.Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.2,
                      difference=0.03)
    every_case = P.simulate_sequential(design, 800, runs=100, seed=1)
    per_batch = P.simulate_sequential(design, 800, runs=100, seed=1, look_every=50)
    assert per_batch.max_cases % 50 == 0
    assert per_batch.mean_cases >= every_case.mean_cases  # looking less often never stops sooner


@pytest.mark.parametrize("margin", [0.02, 0.05, 0.1])
def test_min_cases_to_pass_is_where_identical_answers_first_can_pass(triage, margin: float) -> None:  # noqa: ANN001
    """Issue 13: below this size non-inferiority is undecidable whatever the models answer."""
    from evals_fixtures import with_criteria

    n = P.min_cases_to_pass(margin, 0.95)
    assert P.can_ever_pass(n, margin, None, 0.95)
    assert not any(P.can_ever_pass(m, margin, None, 0.95) for m in range(1, n))
    criteria = with_criteria(triage, non_inferiority_margin=margin, confidence=0.95).success_criteria

    def names(size: int) -> list[str]:
        return [u.check for u in P.undecidable_checks(criteria, size) if u.check == "non_inferiority"]

    assert names(n - 1) == ["non_inferiority"] and names(n) == []
    [short] = [u for u in P.undecidable_checks(criteria, n - 1) if u.check == "non_inferiority"]
    assert short.cases_needed == n and f"(needs >= {n} cases)" in short.reason
