"""Read a verdict from a verdict JSON file or from a DSSE-wrapped release decision.

A decision is a DSSE envelope ({payloadType, payload (base64), signatures}) whose payload is an
in-toto Statement v1; its `predicate.verdict` embeds the verdict dict. Signatures are listed
here but not verified: verification belongs to the releases stage (`releasegate verify`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasegate.evals import Verdict, check_verdict_document
from releasegate.core import InputError, load_json_bounded


@dataclass(frozen=True)
class DecisionDocument:
    verdict: Verdict
    predicate: dict[str, Any] = field(default_factory=dict)  # empty for a bare verdict file
    subject: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)  # DSSE {keyid, sig}
    is_envelope: bool = False


def load_decision(path: str | Path) -> DecisionDocument:
    """Parse a verdict JSON or a DSSE decision envelope; one-line InputError when it is neither."""
    path = Path(path)
    data = load_json_bounded(path, what="decision")
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", file=path,
                         fix="pass a decision envelope or a verdict JSON file")
    if "payload" in data or "payloadType" in data:
        from releasegate.releases import statement_of  # checks payload type, subject, verdict

        try:
            statement = statement_of(data)
        except InputError as exc:
            raise InputError(exc.message, file=path, field=exc.field, fix=exc.fix) from None
        predicate = statement["predicate"]
        signatures = data.get("signatures")
        return DecisionDocument(_verdict(predicate["verdict"], path, "predicate.verdict"),
                                predicate, list(statement.get("subject") or []),
                                list(signatures) if isinstance(signatures, list) else [], True)
    if "decision" in data and "checks" in data:
        return DecisionDocument(_verdict(data, path, None))
    raise InputError("neither a verdict nor a DSSE decision envelope", file=path,
                     fix="pass the verdict.json from `releasegate score` or a decision envelope")


def _verdict(data: dict[str, Any], path: Path, field_name: str | None) -> Verdict:
    check_verdict_document(data, file=path, field=field_name)
    try:
        return Verdict.from_dict(data)
    except (TypeError, KeyError) as exc:
        raise InputError(f"malformed verdict: {exc}", file=path, field=field_name,
                         fix="regenerate it with `releasegate score`") from None
