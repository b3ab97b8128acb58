"""Scorers by family; importing this package registers them all."""
from . import judge, label, policy, structured, text  # noqa: F401  (registration side effect)
from ._registry import (
    SCORERS,
    ScoreResult,
    Scorer,
    ScorerBatch,
    ScorerColumn,
    ScorerContext,
    describe_scorers,
    get_scorer,
    scorer,
)
from .label import parse_label
from .policy import disallowed_tool_calls
from .structured import extract_json_object

__all__ = [
    "SCORERS",
    "ScoreResult",
    "Scorer",
    "ScorerBatch",
    "ScorerColumn",
    "ScorerContext",
    "describe_scorers",
    "disallowed_tool_calls",
    "extract_json_object",
    "get_scorer",
    "parse_label",
    "scorer",
]
