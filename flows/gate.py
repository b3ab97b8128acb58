"""The gate's library side of `releasegate score` and `evaluate`, without Prefect.

`score_files` scores two recorded generation files against a contract and runs the gate with the
releases stage's extra checks and each side's evidence provenance, as `evaluate` does.
`check_evaluation` checks an evaluation's arguments before its flow starts, so bad input exits 2
with nothing written and no Prefect server started. `plan_evaluation` is `releasegate plan`: how
many cases an evaluation needs, before it runs.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from releasegate.core import InputError, atomic_write_text


def score_files(scenario: str, candidate: Path, incumbent: Path, *, out: Path | None = None,
                seed: int | None = None) -> Any:
    """The verdict (`evals.Verdict`) of `candidate` against `incumbent`; written to `out` if given.
    InputError on bad input, before any work (an attestation that does not verify is bad input)."""
    from releasegate.evals import run_gate_on_files
    from releasegate.releases import gate_checks, records_evidence
    from releasegate.scenarios import load_dataset_for, load_scenario

    if out is not None and out.is_dir():  # refused before any work, not after it
        raise InputError("is a folder, not a file", file=out, field="--out",
                         fix="name the verdict file to write, e.g. verdict.json")
    loaded = load_scenario(scenario)
    dataset = load_dataset_for(loaded)
    # Evidence provenance (issue 15): an attestation beside a file must verify (else exit 2).
    evidence = [records_evidence(path, loaded, dataset.sha256) for path in (candidate, incumbent)]
    verdict = run_gate_on_files(loaded, dataset, candidate, incumbent, seed=seed,
                                extra_checks=gate_checks()).with_evidence(*evidence)
    if out is not None:
        atomic_write_text(out, verdict.to_json())
    return verdict


def check_evaluation(scenario: str, candidate: str, *, incumbent: str | None = None, limit: int | None = None,
                     candidate_records: Path | None = None, incumbent_records: Path | None = None) -> tuple[Any, Any]:
    """(LoadedScenario, ScenarioDataset) when the arguments of an evaluation are good, else
    InputError naming the option: the entries exist, --limit is positive, recorded files exist and
    their attestations (when present) verify from a trusted runner."""
    from releasegate.releases import evidence_inputs
    from releasegate.scenarios import load_dataset_for, load_scenario

    loaded = load_scenario(scenario)
    dataset = load_dataset_for(loaded)
    s = loaded.scenario
    for name, flag in ((candidate, "--candidate"), (incumbent or s.incumbent, "--incumbent")):
        if name not in s.models:
            raise InputError(f"{name!r} is not a model entry of {s.id}", file=loaded.path, field=flag,
                             fix=f"use one of: {', '.join(s.models)}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}", field="--limit", fix="pass a positive number")
    for path, flag in ((candidate_records, "--candidate-records"), (incumbent_records, "--incumbent-records")):
        if path is not None and not path.is_file():
            raise InputError("file not found", file=path, field=flag, fix="pass a Parquet file of generation records")
    # An attestation that does not verify, or an untrusted runner: exit 2 before Prefect starts.
    evidence_inputs(loaded, dataset.sha256, {"candidate": candidate_records, "incumbent": incumbent_records})
    return loaded, dataset


def plan_evaluation(scenario: str, *, margin: float | None = None, power: float = 0.8,
                    incumbent_rate: float | None = None, discordance: float | None = None,
                    difference: float = 0.0, within_share: float | None = None,
                    repeats: tuple[int, ...] = (1, 3, 5), sequential_runs: int = 200, batch_size: int = 50,
                    ledger_url: str | None = None, ledger: Any = None) -> dict[str, Any]:
    """`releasegate plan`: the cases (and repeats) a non-inferiority PASS needs, as the JSON document
    the command prints (`evals.planning.Plan.to_dict()` plus the scenario id, the cases its dataset
    has, whether it could ever PASS, and the checks it cannot decide). The incumbent rate and the
    discordance come from the scenario's earlier evaluations in the ledger unless stated; InputError
    when neither is there, or the design cannot be planned."""
    from releasegate.evals.planning import (Design, assumptions_from_verdicts, can_ever_pass, make_plan,
                                            undecidable_checks)
    from releasegate.scenarios import load_scenario

    loaded = load_scenario(scenario)
    criteria = loaded.scenario.success_criteria
    margin = float(criteria.non_inferiority_margin if margin is None else margin)
    seen = None
    if incumbent_rate is None or discordance is None:
        from releasegate.releases import Ledger

        book = ledger or Ledger.open(ledger_url)
        verdicts = [e.payload.get("verdict") or {} for e in
                    book.events(scenario_id=loaded.scenario.id, event_type="evaluated")]
        seen = assumptions_from_verdicts(verdicts)
        if seen is None:
            raise InputError(f"no earlier evaluation of {loaded.scenario.id} in the ledger to plan from",
                             field="--incumbent-rate/--discordance",
                             fix="state the assumptions: --incumbent-rate 0.8 --discordance 0.15")
    rate = incumbent_rate if incumbent_rate is not None else seen["incumbent_rate"]  # type: ignore[index]
    disc = discordance if discordance is not None else seen["discordance"]  # type: ignore[index]
    within = within_share if within_share is not None else ((seen or {}).get("within_share") or 0.0)
    parts = []
    if seen is not None:
        parts.append(f"ledger: {seen['evaluations']} earlier evaluation(s), {seen['cases']} cases")
    stated = [name for name, v in (("incumbent rate", incumbent_rate), ("discordance", discordance),
                                   ("within-case share", within_share)) if v is not None]
    if stated:
        parts.append("stated: " + ", ".join(stated))
    try:
        design = Design(margin=margin, confidence=float(criteria.confidence), power=power,
                        incumbent_rate=float(rate), discordance=max(float(disc), abs(difference)),
                        difference=difference, within_share=float(within))
        plan = make_plan(design, repeats=repeats, source="; ".join(parts) or "stated assumptions",
                         sequential_runs=sequential_runs, seed=int(criteria.seed),
                         look_every=max(int(batch_size), 1))
    except ValueError as exc:
        raise InputError(f"cannot plan this design: {exc}", field="--margin/--discordance/--difference",
                         fix="check the stated assumptions (rates in [0, 1], difference above -margin)") from None
    out = plan.to_dict()
    from releasegate.scenarios import load_dataset_for

    cases_available = len(load_dataset_for(loaded).ids)
    out["scenario_id"] = loaded.scenario.id
    out["cases_available"] = cases_available
    out["can_ever_pass"] = can_ever_pass(cases_available, margin, float(rate), float(criteria.confidence))
    out["undecidable"] = [asdict(u) for u in undecidable_checks(criteria, cases_available)]
    return out
