"""`evaluate_candidate`: the Prefect flow that evaluates a candidate against the incumbent.

It composes the stages and owns nothing they should own:
contract + dataset (scenarios) -> generations (gpu, cached by content) -> scores and verdict
(evals) -> report (reports) -> unsigned decision, ledger, MLflow (releases).

Resuming: every finished generation is committed to the content-addressed generation cache at
once, so a killed flow run, started again, regenerates nothing that finished; an unchanged
incumbent costs nothing on a rerun. Generation tasks retry on serving errors.

Evidence provenance (issue 15): recorded generations are checked against their runner
attestation before anything is written (and read back only while unchanged); generations made
here are signed by the configured runner; the verdict says which side is attested.

Import this module only after `flows._prefect_env.configure_prefect()`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from releasegate import evals
from releasegate import releases
from releasegate import reports
from releasegate.core import InputError, state_dir
from releasegate.scenarios import file_sha256, load_dataset_for, load_scenario, read_records, write_records

DEFAULT_BATCH = 50


@dataclass(frozen=True)
class EvaluationResult:
    """What the flow leaves behind (all paths absolute)."""

    scenario_id: str
    decision: str  # PASS | FAIL | INCONCLUSIVE
    verdict_path: str
    report_path: str
    decision_path: str
    run_dir: str
    ledger_seq: int | None
    mlflow_run_id: str | None
    cases_used: int
    cases_total: int
    markdown: str
    mlflow_error: str | None = None  # MLflow unreachable: recording skipped, `sync` pushes it

    @property
    def exit_code(self) -> int:
        return evals.DECISION_EXIT_CODES[self.decision]


# ---- tasks ---------------------------------------------------------------------------------


@task(name="generate", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def generate_task(scenario: str, entry: str, ids: list[str], endpoints: list[Any] | None,
                  out: str, progress: bool = True, servers: Any = None) -> str:
    """Generations for `ids` (cache first), written to `out`. Retries on serving errors.
    `servers`: the flow's `gpu.ServerPool` (vLLM started once per weights and settings)."""
    from releasegate import gpu
    loaded = load_scenario(scenario)
    dataset = load_dataset_for(loaded)
    # sampling.repeats = k > 1: k generations per case (seeds seed..seed+k-1), one file
    frame, meta = gpu.generate_repeats(loaded, dataset, entry, endpoint=endpoints or None, ids=ids,
                                       progress=progress, servers=servers)
    errors = int(frame["error"].notna().sum())
    if errors == len(frame) and len(frame):
        # Every request failed: the server is gone or broken. Raise so Prefect retries the task;
        # finished cases are in the cache and will not be sent again.
        raise RuntimeError(f"all {errors} requests for {entry} failed: {frame['error'].iloc[0]}")
    write_records(frame, out, meta)
    return out


@task(name="subset-recorded", cache_policy=NO_CACHE)
def subset_task(records: str, ids: list[str], out: str, records_sha256: str) -> str:
    """Recorded generations (e.g. from another system) restricted to `ids`, in that order.
    `records_sha256`: the file as its evidence was checked; a file changed since is refused."""
    frame, meta = read_records(records)
    if file_sha256(records) != records_sha256:
        raise InputError("the records changed after their evidence was checked", file=records,
                         fix="do not rewrite the records while an evaluation reads them")
    frame = frame.assign(example_id=frame["example_id"].astype(str)).set_index("example_id", drop=False)
    missing = [i for i in ids if i not in frame.index]
    if missing:
        raise InputError(f"recorded generations lack {len(missing)} case(s), e.g. {missing[0]!r}",
                         file=records, field="example_id", fix="record every case of the dataset")
    write_records(frame.loc[ids].reset_index(drop=True), out, meta)
    return out


@task(name="gate", cache_policy=NO_CACHE)
def gate_task(scenario: str, candidate: str, incumbent: str, sequential: dict | None,
              partial: bool) -> evals.Verdict:
    loaded = load_scenario(scenario)
    verdict = evals.run_gate_on_files(loaded, load_dataset_for(loaded), candidate, incumbent, sequential=sequential,
                                      require_all_cases=not partial, extra_checks=releases.gate_checks())
    # the signed root (and the criteria digest) it was judged under; promote compares it (issue 14)
    return dataclasses.replace(verdict, trust_root=releases.verdict_trust_root(loaded))


@task(name="report", cache_policy=NO_CACHE)
def report_task(scenario: str, verdict: evals.Verdict, candidate: str, incumbent: str, out: str,
                partial: bool) -> str:
    """Render the HTML report; returns its sha256 (it goes into the decision)."""
    loaded = load_scenario(scenario)
    report_input = reports.report_input_from_records(verdict, loaded, load_dataset_for(loaded), candidate, incumbent,
                                                     require_all_cases=not partial)
    return reports.write_report(report_input, out)


@task(name="record-decision", cache_policy=NO_CACHE)
def record_task(scenario: str, verdict: evals.Verdict, candidate: str, incumbent: str,
                report: str, report_sha256: str) -> dict[str, Any]:
    """Unsigned decision -> ledger (first) -> MLflow. MLflow being down loses nothing: the
    result's `mlflow_error` says so (after RELEASEGATE_MLFLOW_TIMEOUT, not minutes of retries)."""
    loaded = load_scenario(scenario)
    _, cand_meta = read_records(candidate)
    envelope = releases.build_decision(loaded, verdict, candidate_model_digest=verdict.candidate.model_digest,
                                       report_sha256=report_sha256, serving=cand_meta.get("serving"),
                                       trust_root=releases.signed_root_or_none(loaded.scenario.id))
    return releases.record_evaluation(loaded, verdict, envelope, records_paths=[candidate, incumbent],
                                      report_path=report)


# ---- helpers -------------------------------------------------------------------------------


def _run_dir(scenario_id: str, candidate: str) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = state_dir() / "runs" / scenario_id / f"{stamp}-{candidate}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _records_for(scenario: str, entry: str, ids: list[str], endpoints: list[Any] | None,
                 recorded: str | None, out: Path, progress: bool, evidence: evals.Evidence | None,
                 servers: Any) -> str:
    if recorded and evidence is not None:
        return subset_task(recorded, ids, str(out), evidence.records_sha256)
    return generate_task(scenario, entry, ids, endpoints, str(out), progress, servers)


def _accepted(loaded: Any, dataset: Any, path: str) -> np.ndarray:
    """Accepted flags per case, or with repeats each case's acceptance rate over its k repeats."""
    frame, _ = read_records(path)
    per_repeat = [evals.score_records(loaded, dataset, part, require_all_cases=False).accepted
                  for part in evals.repeats.split_repeats(frame)]
    return per_repeat[0] if len(per_repeat) == 1 else np.column_stack(per_repeat).mean(axis=1)


def _undecided_checks(verdict: evals.Verdict) -> list[str]:
    return [c.name for c in verdict.checks if c.status == "inconclusive" and c.name != "non_inferiority"]


# ---- the flow ------------------------------------------------------------------------------


@flow(name="evaluate-candidate", log_prints=True)
def evaluate_candidate(
    scenario: str,
    candidate: str,
    incumbent: str | None = None,
    limit: int | None = None,
    sequential: bool | None = None,
    batch_size: int = DEFAULT_BATCH,
    candidate_endpoints: list[str] | None = None,
    incumbent_endpoints: list[str] | None = None,
    candidate_records: str | None = None,
    incumbent_records: str | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate `candidate` (a contract model entry) against the incumbent on the scenario's cases.

    candidate_endpoints / incumbent_endpoints: attach to running OpenAI-compatible servers
    (several = replicas; cases are split across them). Without them vLLM is started per model.
    candidate_records / incumbent_records: recorded generations (Parquet) instead of serving.
    sequential: stop as soon as an anytime-valid confidence sequence decides (default: contract).
    """
    loaded = load_scenario(scenario)
    s = loaded.scenario
    dataset = load_dataset_for(loaded)
    incumbent = incumbent or s.incumbent
    s.model_entry(candidate), s.model_entry(incumbent)  # fail early on unknown entries
    sequential = s.success_criteria.sequential if sequential is None else sequential
    ids = dataset.ids[:limit] if limit else dataset.ids
    # Evidence provenance (issue 15), before anything is written: recorded generations are
    # verified against their attestation (none: self-declared); a configured runner that the
    # scenario would not trust is refused before it generates anything.
    evidence, runner = releases.evidence_inputs(loaded, dataset.sha256, {"candidate": candidate_records,
                                                                          "incumbent": incumbent_records})
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    run_dir = _run_dir(s.id, candidate)
    ref = str(loaded.path)
    # Records cover a subset of the cases with --limit or when a sequential run stops early.
    partial = bool(limit) or sequential

    from releasegate.gpu import ServerPool

    # One vLLM server per weights and settings for the whole run, started when a case first needs
    # it: the incumbent and the candidate share it when they differ only in prompt, sequential
    # batches and repeats reuse it (vLLM takes 20-60 s to start on CPU), and a fully cached run
    # starts none. Stopped once generation is over.
    servers = ServerPool()

    def both(batch: list[str], tag: str) -> tuple[str, str]:
        inc = _records_for(ref, incumbent, batch, incumbent_endpoints, incumbent_records,
                           run_dir / f"incumbent{tag}.parquet", progress, evidence.get("incumbent"), servers)
        cand = _records_for(ref, candidate, batch, candidate_endpoints, candidate_records,
                            run_dir / f"candidate{tag}.parquet", progress, evidence.get("candidate"), servers)
        return cand, inc

    if not sequential:
        with servers:
            cand_path, inc_path = both(ids, "")
        verdict = gate_task(ref, cand_path, inc_path, None, partial)
        used = len(ids)
    else:
        with servers:
            cand_path, inc_path, verdict, used = _sequential(loaded, dataset, ids, both, ref, batch_size)

    for side, path in (("candidate", cand_path), ("incumbent", inc_path)):
        if side not in evidence:  # generated here: the runner signs what it produced
            if runner is not None:
                releases.attest_records(path, runner, started_at=started_at)
            evidence[side] = releases.records_evidence(path, loaded, dataset.sha256)
    verdict = verdict.with_evidence(evidence["candidate"], evidence["incumbent"])
    verdict_path = run_dir / "verdict.json"
    verdict_path.write_text(verdict.to_json())
    report_path = run_dir / "report.html"
    report_sha = report_task(ref, verdict, cand_path, inc_path, str(report_path), partial)
    recorded = record_task(ref, verdict, cand_path, inc_path, str(report_path), report_sha)
    markdown = reports.render_markdown(verdict, report_path=str(report_path))
    create_markdown_artifact(markdown=markdown, key=f"verdict-{s.id}",
                             description=f"releasegate verdict: {s.id} / {candidate}")
    return EvaluationResult(
        scenario_id=s.id, decision=verdict.decision, verdict_path=str(verdict_path),
        report_path=str(report_path), decision_path=str(recorded.get("decision_path", "")),
        run_dir=str(run_dir), ledger_seq=recorded.get("ledger_seq"), mlflow_run_id=recorded.get("run_id"),
        cases_used=used, cases_total=len(ids), markdown=markdown, mlflow_error=recorded.get("mlflow_error"))


def _sequential(loaded: Any, dataset: Any, ids: list[str], both: Any, ref: str,
                batch_size: int) -> tuple[str, str, evals.Verdict, int]:
    """Batches in a seeded order until the sequence and every other check are decided.

    The confidence sequence (anytime-valid) may be looked at after every batch. When it has
    decided but another check (cost, latency, a slice) is still inconclusive, the run goes on
    and the verdict names the check that kept it running."""
    s = loaded.scenario
    order = evals.evaluation_order(ids, s.success_criteria.seed)
    monitor = evals.SequentialMonitor.for_scenario(s, total_cases=len(order))
    cand_frames: list[Any] = []
    inc_frames: list[Any] = []
    kept_by: str | None = None
    used = 0
    while True:
        batch = order[used:used + batch_size]
        cand_b, inc_b = both(batch, f"-batch{used // batch_size:04d}")
        used += len(batch)
        monitor.update(_accepted(loaded, dataset, cand_b), _accepted(loaded, dataset, inc_b))
        (cf, cand_meta), (inf, inc_meta) = read_records(cand_b), read_records(inc_b)
        cand_frames.append(cf)
        inc_frames.append(inf)
        exhausted = used >= len(order)
        if not monitor.decided and not exhausted:
            kept_by = "non_inferiority"
            continue
        run_dir = Path(cand_b).parent
        cand_path = write_records(_concat(cand_frames), run_dir / "candidate.parquet", cand_meta)
        inc_path = write_records(_concat(inc_frames), run_dir / "incumbent.parquet", inc_meta)
        section = monitor.verdict_section(kept_running_by=kept_by)
        section["cases_used"] = used  # the sequence may have decided before the other checks did
        section["savings"] = evals.estimate_savings(used, len(order), [(_concat(cand_frames), cand_meta),
                                                                       (_concat(inc_frames), inc_meta)])
        verdict = gate_task(ref, str(cand_path), str(inc_path), section, True)
        undecided = _undecided_checks(verdict)
        if not undecided or exhausted:
            return str(cand_path), str(inc_path), verdict, used
        kept_by = undecided[0]  # another check still needs data: keep going


def _concat(frames: list[Any]) -> Any:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def result_json(result: EvaluationResult) -> str:
    return json.dumps(result.__dict__, indent=2, sort_keys=True)
