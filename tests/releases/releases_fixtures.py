"""Helpers for the releases tests (a uniquely named module: test folders are not packages)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from releasegate.evals import Check, ModelSide, Verdict
from releasegate.core import project_root
from releasegate.scenarios import LoadedScenario

PRODUCT = "product-owner@support.example"
PLATFORM = "platform-owner@platform.example"
INTRUDER = "intern@support.example"
ESCALATION = "head-of-support@support.example"


def weights_digest(name: str) -> str:
    return hashlib.sha256(f"weights of {name}".encode()).hexdigest()


def write_scenario(folder: Path, *, cases: str = "", **overrides: object) -> Path:
    """Copy the repository's support-triage contract with our own small cases file."""
    src = project_root() / "datasets" / "support-triage" / "scenario.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(src.read_text())
    rows = [{"id": f"c{i}", "message": f"message {i} {cases}", "channel": "email", "language": "en",
             "length": "short", "template": "t1", "reference": "billing"} for i in range(3)]
    case_file = folder / "cases.jsonl"
    case_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data["dataset"]["path"] = "cases.jsonl"
    data["dataset"]["sha256"] = hashlib.sha256(case_file.read_bytes()).hexdigest()
    data.update(overrides)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_verdict(loaded: LoadedScenario, *, decision: str = "PASS", candidate: str = "gemma3-v1",
                 model: str = "gemma3-270m") -> Verdict:
    s = loaded.scenario
    status = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive"}[decision]

    def check(name: str, kind: str, metric: str, value: float, low: float, high: float, threshold: float,
              state: str, critical: bool, reason: str) -> Check:
        return Check(name=name, kind=kind, metric=metric, value=value, ci_low=low, ci_high=high,  # type: ignore[arg-type]
                     threshold=threshold, direction=">=", status=state, critical=critical, reason=reason)  # type: ignore[arg-type]

    checks = [
        check("non_inferiority", "change", "acceptance_difference", 0.02,
              0.001 if status == "pass" else -0.03, 0.07, -0.05, status if status == "pass" else "inconclusive",
              True, "candidate is not worse than the incumbent by more than 5 points"),
        check("min_acceptance_rate", "value", "acceptance_rate", 0.81, 0.76, 0.85, 0.15, status, False,
              "acceptance rate above the 15% floor"),
        check("slice:channel=email", "change", "acceptance_difference", 0.0, -0.1, 0.1, -0.15, "pass",
              False, "email slice holds"),
    ]
    return Verdict(
        scenario_id=s.id, decision=decision, checks=checks,  # type: ignore[arg-type]
        candidate=ModelSide(entry=candidate, model=model, model_digest=weights_digest(model),
                            prompt_version=s.models[candidate].prompt_version, records_sha256="r" * 64),
        incumbent=ModelSide(entry="smollm2-v1", model="smollm2-135m-instruct",
                            model_digest=weights_digest("smollm2-135m-instruct"), prompt_version="v1",
                            records_sha256="i" * 64),
        contract_sha256=loaded.contract_sha256, dataset_sha256=s.dataset.sha256, n=240, confidence=0.95,
        seed=20261127,
    )


def attested(verdict: Verdict) -> Verdict:
    """The verdict with both sides' evidence attested by a runner (as `evaluate` records it when a
    trusted runner generated, or signed, both record sets)."""
    from releasegate.evals import Evidence

    def side(sha: str) -> Evidence:
        return Evidence(status="attested", records_sha256=sha, runner="runner@platform.example",
                        runner_keyid="a" * 64, attestation_sha256="b" * 64, trusted_by="signed root v1")

    return verdict.with_evidence(side(verdict.candidate.records_sha256), side(verdict.incumbent.records_sha256))


@dataclass
class Keys:
    product: Path
    platform: Path
    intruder: Path
    escalation: Path

