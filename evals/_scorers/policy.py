"""Policy scorers: tool_call (calls must stay inside the scenario's tool policy) and
context_budget (prompt and output tokens within the contract's budget)."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ._registry import ScoreResult, ScorerBatch, ScorerColumn, ScorerContext, scorer


def parse_tool_calls(raw: str | None) -> list[dict[str, Any]] | None:
    """Records' `tool_calls`: a JSON list of {"name", "arguments"}; None when absent; raises
    ValueError when present but malformed."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    value = json.loads(raw)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise ValueError("tool_calls must be a JSON list of objects")
    return value


def disallowed_tool_calls(raw: str | None, allowed: set[str]) -> list[str]:
    """Names of the calls outside the policy (a malformed list counts as one violation)."""
    try:
        calls = parse_tool_calls(raw) or []
    except (ValueError, json.JSONDecodeError):
        return ["<malformed tool_calls>"]
    return [str(c.get("name")) for c in calls if str(c.get("name")) not in allowed]


@scorer("tool_call", inputs=("tool_calls",))
def tool_call(tool_calls: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """Every tool call is to a tool the scenario's tool_policy allows."""
    allowed = set(ctx.param("allowed_tools") or ctx.scenario.tool_policy.allowed_tools)
    bad = disallowed_tool_calls(tool_calls, allowed)
    if bad:
        return ScoreResult(False, 0.0, "tool outside policy: " + ", ".join(sorted(set(bad))),
                           detail=str(len(bad)))
    return ScoreResult(True, 1.0, "tool calls within policy", detail="0")


@scorer("context_budget", vectorised=True)
def context_budget(batch: ScorerBatch, ctx: ScorerContext) -> ScorerColumn:
    """Prompt tokens <= max_prompt_tokens and completion tokens <= max_output_tokens."""
    budget = ctx.scenario.context_budget
    max_prompt = int(ctx.param("max_prompt_tokens", budget.max_prompt_tokens))
    max_output = int(ctx.param("max_output_tokens", budget.max_output_tokens))
    prompt = batch.records["prompt_tokens"].to_numpy(dtype=float, na_value=np.nan)
    completion = batch.records["completion_tokens"].to_numpy(dtype=float, na_value=np.nan)
    over_prompt = prompt > max_prompt  # NaN compares False: missing counts are not over budget
    over_output = completion > max_output
    unknown = np.isnan(prompt) | np.isnan(completion)
    code = np.where(over_prompt & over_output, 3, np.where(over_prompt, 1, np.where(over_output, 2, 0)))
    code = np.where((code == 0) & unknown, 4, code).astype(np.int32)
    reasons = ["within the context budget", f"prompt over {max_prompt} tokens",
               f"output over {max_output} tokens", f"prompt over {max_prompt} and output over {max_output} tokens",
               "token counts missing: budget not checked"]
    passed = (code == 0) | (code == 4)
    return ScorerColumn(passed=passed, score=passed.astype(float), reason_codes=code, reasons=reasons)
