"""Read a verdict from a verdict JSON file or from a DSSE-wrapped release decision.

A decision is a DSSE envelope ({payloadType, payload (base64), signatures}) whose payload is an
in-toto Statement v1; its `predicate.verdict` embeds the verdict dict. Signatures are listed
here but not verified: verification belongs to the releases stage (`releasegate verify`).
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasegate.evals import Verdict
from releasegate.core import InputError


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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read decision: {exc.strerror}", file=path,
                         fix="pass a decision envelope or a verdict JSON file") from None
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}", file=path,
                         fix="pass a decision envelope or a verdict JSON file") from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", file=path,
                         fix="pass a decision envelope or a verdict JSON file")
    if "payload" in data and "payloadType" in data:
        try:
            statement = json.loads(base64.b64decode(data["payload"], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"DSSE payload is not base64 JSON: {exc}", file=path, field="payload",
                             fix="pass the envelope written by `releasegate decide`") from None
        predicate = statement.get("predicate") if isinstance(statement, dict) else None
        if not isinstance(predicate, dict) or not isinstance(predicate.get("verdict"), dict):
            raise InputError("the decision's predicate embeds no verdict", file=path,
                             field="predicate.verdict",
                             fix="pass a decision whose predicate carries the verdict")
        return DecisionDocument(_verdict(predicate["verdict"], path, "predicate.verdict"),
                                predicate, list(statement.get("subject") or []),
                                list(data.get("signatures") or []), True)
    if "decision" in data and "checks" in data:
        return DecisionDocument(_verdict(data, path, None))
    raise InputError("neither a verdict nor a DSSE decision envelope", file=path,
                     fix="pass the verdict.json from `releasegate score` or a decision envelope")


def _verdict(data: dict[str, Any], path: Path, field_name: str | None) -> Verdict:
    try:
        return Verdict.from_dict(data)
    except (TypeError, KeyError) as exc:
        raise InputError(f"malformed verdict: {exc}", file=path, field=field_name,
                         fix="regenerate it with `releasegate score`") from None
