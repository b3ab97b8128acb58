"""Read a verdict from a verdict JSON file or from a DSSE-wrapped release decision.

The envelope is decoded by the releases stage (`releases.statement_of`): one
decoder, one set of rules. Signatures are listed here but not verified: verification belongs to
the releases stage (`releasegate verify`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from releasegate.core import InputError, load_json_bounded
from releasegate.evals import Verdict, check_verdict_document
from releasegate.releases import check_signatures, statement_of

_FIX = "pass a decision envelope (.dsse.json) or the verdict.json from `releasegate score`"


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
        raise InputError("expected a JSON object", file=path, fix=_FIX)
    if "payload" in data or "payloadType" in data:
        try:
            statement = statement_of(data)
            check_signatures(data)
        except InputError as exc:
            raise InputError(exc.message, file=path, field=exc.field, fix=exc.fix) from None
        predicate = statement["predicate"]
        return DecisionDocument(_verdict(predicate["verdict"], path, "predicate.verdict"),
                                predicate, list(statement.get("subject") or []), list(data["signatures"]), True)
    if "decision" in data and "checks" in data:
        return DecisionDocument(_verdict(data, path, None))
    raise InputError("neither a verdict nor a DSSE decision envelope", file=path, fix=_FIX)


def _verdict(data: dict[str, Any], path: Path, prefix: str | None) -> Verdict:
    check_verdict_document(data, file=path, field=prefix)
    try:
        return Verdict.from_dict(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"malformed verdict: {err['msg']}", file=path,
                         field=f"{prefix}.{where}" if prefix else where,
                         fix="regenerate it with `releasegate score` (schema: docs/schemas/verdict.schema.json)") from None
