"""Generation attestations (issue 15): what a runner states about the records it produced.

Like build provenance (in-toto / SLSA): an in-toto Statement v1 whose subject is the records
file (its sha256) and whose predicate says who produced it and from what (runner identity, the
endpoints and served model with its weight digest, the dataset, scenario, entry, prompt version,
case count, start and finish time). releasegate's own generation signs it into a DSSE envelope
written beside the records (`<records>.att.json`); signing and verifying live in releases/
(keys and the scenario's signed root), this module only defines the document and compares it
with the records it describes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
GENERATION_PREDICATE_TYPE = "https://releasegate.dev/generation/v1"
ATTESTATION_SUFFIX = ".att.json"
# Fields a verifier compares with the records' own meta (the rest say who and when).
_FROM_META = ("scenario_id", "contract_sha256", "dataset_sha256", "model_entry", "model", "model_digest",
              "prompt_version", "endpoints")


class GenerationPredicate(BaseModel):
    """The predicate of a generation attestation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    runner: str  # the identity whose key signed (a keyring / signed-root identity)
    scenario_id: str
    contract_sha256: str
    dataset_sha256: str
    model_entry: str
    model: str  # the served model reference
    model_digest: str  # sha256 over the served weights ("" when unknown, e.g. a hosted API)
    prompt_version: str
    endpoints: list[str]  # where the generations were served from ([] when every case was cached)
    cases: NonNegativeInt  # rows in the records file
    started_at: str
    finished_at: str


def attestation_path(records: str | Path) -> Path:
    """Where the attestation of a records file lives: beside it, `<records>.att.json`."""
    records = Path(records)
    return records.with_name(records.name + ATTESTATION_SUFFIX)


def generation_predicate(meta: dict[str, Any], *, runner: str, cases: int, started_at: str,
                         finished_at: str) -> GenerationPredicate:
    """The predicate for records with this meta (from `read_records`), produced by `runner`."""
    serving = meta.get("serving") if isinstance(meta.get("serving"), dict) else {}
    return GenerationPredicate(
        runner=runner, scenario_id=str(meta.get("scenario_id", "")),
        contract_sha256=str(meta.get("contract_sha256", "")), dataset_sha256=str(meta.get("dataset_sha256", "")),
        model_entry=str(meta.get("model_entry", "")), model=str(meta.get("model", "")),
        model_digest=str(meta.get("model_digest", "")), prompt_version=str(meta.get("prompt_version", "")),
        endpoints=[str(e) for e in serving.get("endpoints", [])], cases=cases,
        started_at=started_at, finished_at=finished_at)


def generation_statement(records: str | Path, records_sha256: str, predicate: GenerationPredicate) -> dict[str, Any]:
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": Path(records).name, "digest": {"sha256": records_sha256}}],
            "predicateType": GENERATION_PREDICATE_TYPE,
            "predicate": predicate.model_dump(mode="json")}


def predicate_mismatches(stated: GenerationPredicate, meta: dict[str, Any], *, cases: int, scenario_id: str,
                         dataset_sha256: str) -> list[str]:
    """What the attestation states that the records (their meta, row count) or the scenario and
    its dataset contradict ([] when everything agrees)."""
    actual = generation_predicate(meta, runner=stated.runner, cases=cases, started_at=stated.started_at,
                                  finished_at=stated.finished_at)
    problems = [f"{name}: attested {getattr(stated, name)!r}, the records say {getattr(actual, name)!r}"
                for name in (*_FROM_META, "cases") if getattr(stated, name) != getattr(actual, name)]
    if stated.scenario_id != scenario_id:
        problems.append(f"scenario_id: attested {stated.scenario_id!r}, evaluating {scenario_id!r}")
    if stated.dataset_sha256 != dataset_sha256:
        problems.append(f"dataset_sha256: attested {stated.dataset_sha256[:12]}, the dataset is {dataset_sha256[:12]}")
    return problems
