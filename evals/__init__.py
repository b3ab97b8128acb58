"""Scorers, acceptance rule, paired statistics, the gate policy and its verdict.

Scores generation records wherever they came from: never imports gpu/. This module is the public
face; other stages import from here (`from evals import run_gate, Verdict`).
"""
from . import judge_error, planning, repeats, stats
from ._scorers import SCORERS, ScoreResult, scorer
from ._scoring import ScoredRecords, score_records
from ._verdict import (
    DECISION_EXIT_CODES,
    Check,
    DetectableDifference,
    Evidence,
    JudgeMetrics,
    LatencyP95,
    ModelSide,
    RepeatMetrics,
    Savings,
    SequentialSummary,
    SideMetrics,
    SliceResult,
    TrajectoryPoint,
    TrustRootRef,
    Verdict,
    VerdictMetrics,
    verdict_json_schema,
)
from ._verdict_check import check_verdict_document
from .gate import GATE_CHECKS, POLICY, CheckFn, GateContext, run_gate, run_gate_on_files
from .sequential import SequentialMonitor, estimate_savings, evaluation_order
from ._calibration import judge_digest
from .stats import PairedDifference, paired_difference

__all__ = [
    "GATE_CHECKS",
    "POLICY",
    "SCORERS",
    "DECISION_EXIT_CODES",
    "Check",
    "CheckFn",
    "DetectableDifference",
    "Evidence",
    "GateContext",
    "JudgeMetrics",
    "LatencyP95",
    "ModelSide",
    "PairedDifference",
    "RepeatMetrics",
    "Savings",
    "ScoreResult",
    "ScoredRecords",
    "SequentialMonitor",
    "SequentialSummary",
    "SideMetrics",
    "SliceResult",
    "TrajectoryPoint",
    "TrustRootRef",
    "Verdict",
    "VerdictMetrics",
    "check_verdict_document",
    "estimate_savings",
    "evaluation_order",
    "judge_digest",
    "judge_error",
    "paired_difference",
    "planning",
    "repeats",
    "run_gate",
    "run_gate_on_files",
    "score_records",
    "scorer",
    "stats",
    "verdict_json_schema",
]
