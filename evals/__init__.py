"""Scorers, acceptance rule, paired statistics, the gate policy and its verdict.

Scores generation records wherever they came from: never imports gpu/.
"""
from ._verdict import VERDICT_SCHEMA, Check, ModelSide, Verdict

__all__ = ["VERDICT_SCHEMA", "Check", "ModelSide", "Verdict"]
