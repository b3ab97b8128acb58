"""Pairwise judges: asked in both orders, a disagreement is a tie.

A pairwise judge sees two answers and names the better one; LLM judges prefer a position (often
the first) more than they should. Each case is judged twice, candidate as A then as B; a
preference counts only when both orders agree (`judge_error.pairwise_consensus`), so position
bias becomes ties instead of wins. The result is the share of wins minus the share of losses,
with Newcombe's paired interval (wins and losses are the discordant cells of a 2x2 table whose
other cells are the ties), and the number of order disagreements (the judge's position bias).
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from releasegate.core import InputError

from .judge_error import pairwise_consensus
from .stats import newcombe_paired_intervals

DEFAULT_PAIRWISE_RUBRIC = (
    "Compare two answers to the same request.\nReference answer: {reference}\n"
    "Answer A: {a}\nAnswer B: {b}\n"
    "Which answer is better? Reply with exactly one of: 'A', 'B', 'tie'."
)
_CHOICE = re.compile(r"\b(tie|a|b)\b", re.IGNORECASE)


def make_client(timeout: float) -> Any:
    """The HTTP client; tests replace this with one on an `httpx.MockTransport`."""
    import httpx

    return httpx.Client(timeout=timeout)


def parse_preference(text: str) -> int:
    """+1 when the reply names A, -1 for B, 0 for a tie or a reply naming neither."""
    match = _CHOICE.search(text or "")
    if not match:
        return 0
    return {"a": 1, "b": -1, "tie": 0}[match.group(1).lower()]


@dataclass(frozen=True)
class PairwiseResult:
    cases: int
    wins: int  # candidate preferred in both orders
    losses: int  # incumbent preferred in both orders
    ties: int  # judged a tie, or the two orders disagreed
    order_disagreements: int
    preference: float  # (wins - losses) / cases
    ci_low: float
    ci_high: float
    confidence: float
    method: str = "judged in both orders, disagreements are ties; Newcombe method 10 on wins vs losses"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(first_order: Any, second_order: Any, confidence: float = 0.95) -> PairwiseResult:
    """Both orders' preferences, from the candidate's side, into the consensus and its interval."""
    consensus, disagreements = pairwise_consensus(first_order, second_order)
    n = int(consensus.size)
    wins, losses = int((consensus == 1).sum()), int((consensus == -1).sum())
    ties = n - wins - losses
    low, high = newcombe_paired_intervals(0, wins, losses, ties, confidence)
    return PairwiseResult(n, wins, losses, ties, disagreements, (wins - losses) / n if n else 0.0,
                          float(low), float(high), confidence)


def judge_pairs(spec: Any, references: list[str], candidate_outputs: list[str], incumbent_outputs: list[str],
                confidence: float = 0.95) -> PairwiseResult:
    """Ask the judge (`scoring.pairwise_judge`: endpoint, model, rubric, ...) about every case in
    both orders."""
    headers = {}
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env)
        if not key:
            raise InputError(f"environment variable {spec.api_key_env} is not set",
                             field="scoring.pairwise_judge.api_key_env", fix=f"export {spec.api_key_env}=...")
        headers["Authorization"] = f"Bearer {key}"
    url = str(spec.endpoint).rstrip("/") + "/chat/completions"
    rubric = spec.rubric or DEFAULT_PAIRWISE_RUBRIC

    def ask(client: Any, reference: str, a: str, b: str) -> int:
        prompt = rubric.replace("{reference}", reference).replace("{a}", a).replace("{b}", b)
        body = {"model": spec.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": 0.0, "max_tokens": spec.max_tokens}
        try:
            response = client.post(url, json=body, headers=headers)
            response.raise_for_status()
            return parse_preference(response.json()["choices"][0]["message"]["content"] or "")
        except Exception as exc:  # httpx raises several types; all mean the judge is unusable
            raise InputError(f"pairwise judge endpoint failed: {exc}", field="scoring.pairwise_judge",
                             fix=f"check {url} serves model {spec.model!r}") from None

    first, second = [], []
    with make_client(spec.timeout_s) as client:
        for ref, cand, inc in zip(references, candidate_outputs, incumbent_outputs):
            first.append(ask(client, ref, cand, inc))  # candidate is A
            second.append(-ask(client, ref, inc, cand))  # candidate is B: A means the incumbent
    return summarise(np.array(first, dtype=np.int8), np.array(second, dtype=np.int8), confidence)


__all__ = ["DEFAULT_PAIRWISE_RUBRIC", "PairwiseResult", "judge_pairs", "parse_preference", "summarise"]
