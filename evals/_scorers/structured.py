"""Structured-output scorers: json_schema (valid against task.json_schema) and json_fields
(field-level match with the reference JSON)."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from ._registry import ScoreResult, ScorerContext, scorer
from .text import normalize_text

_DECODER = json.JSONDecoder()


def extract_json_object(text: str | None) -> dict[str, Any] | None:
    """The first JSON object in the text (models wrap JSON in prose or code fences)."""
    if not text:
        return None
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


@lru_cache(maxsize=16)
def _validator(schema_text: str) -> Any:
    import jsonschema

    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@scorer("json_schema")
def json_schema(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """The first JSON object in the output is valid against the scenario's task.json_schema."""
    import jsonschema

    schema = ctx.param("schema") or ctx.scenario.task.json_schema
    if not schema:
        raise ctx.error("no JSON schema", "set task.json_schema or params.schema")
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
    except jsonschema.SchemaError as exc:
        raise ctx.error(f"invalid JSON schema: {exc.message}", "fix task.json_schema") from None
    obj = extract_json_object(output)
    if obj is None:
        return ScoreResult(False, 0.0, "no JSON object in the output")
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return ScoreResult(False, 0.0, f"schema violation at {where}: {error.message}"[:200])
    return ScoreResult(True, 1.0, "valid against the schema")


def _field_matches(got: Any, expected: Any, abs_tol: float, rel_tol: float) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return got is expected or got == expected
    if isinstance(expected, (int, float)):
        try:
            value = float(got)
        except (TypeError, ValueError):
            return False
        return math.isfinite(value) and abs(value - expected) <= max(abs_tol, rel_tol * abs(expected))
    if isinstance(expected, str):
        return isinstance(got, (str, int, float)) and normalize_text(str(got)) == normalize_text(expected)
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(
            _field_matches(g, e, abs_tol, rel_tol) for g, e in zip(got, expected))
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(
            _field_matches(got.get(k), v, abs_tol, rel_tol) for k, v in expected.items())
    return got == expected


@scorer("json_fields")
def json_fields(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """Field-level match with the reference JSON: numbers within tolerance, strings normalised.
    Score is the fraction of matching fields; it passes when it reaches `params.min_fraction`
    (default 1.0: every field)."""
    try:
        expected = json.loads(reference) if isinstance(reference, str) else reference
    except json.JSONDecodeError:
        raise ctx.error(f"reference is not JSON: {str(reference)[:60]!r}",
                        "store structured references as JSON text") from None
    if not isinstance(expected, dict):
        raise ctx.error("reference is not a JSON object", "store references as JSON objects")
    fields = list(ctx.param("fields") or expected.keys())
    if not fields:
        raise ctx.error("no fields to compare", "set params.fields or give references fields")
    got = extract_json_object(output)
    if got is None:
        return ScoreResult(False, 0.0, "no JSON object in the output")
    abs_tol = float(ctx.param("abs_tol", 1e-6))
    rel_tol = float(ctx.param("rel_tol", 0.0))
    wrong = [f for f in fields if f not in got or not _field_matches(got[f], expected.get(f), abs_tol, rel_tol)]
    fraction = 1.0 - len(wrong) / len(fields)
    ok = fraction >= float(ctx.param("min_fraction", 1.0)) - 1e-12
    reason = "all fields match" if not wrong else "mismatched: " + ", ".join(wrong[:5])
    return ScoreResult(ok, fraction, reason)
