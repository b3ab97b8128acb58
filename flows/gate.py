"""The gate's library side of `releasegate score` and `evaluate`, without Prefect.

`score_files` scores two recorded generation files against a contract and runs the gate with the
releases stage's extra checks and each side's evidence provenance, as `evaluate` does.
`check_evaluation` checks an evaluation's arguments before its flow starts, so bad input exits 2
with nothing written and no Prefect server started.
"""
from __future__ import annotations

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
