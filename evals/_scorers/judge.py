"""llm_judge: a rubric sent to an OpenAI-compatible judge endpoint; the score is parsed from its
reply. When the cases carry human labels (`params.human_label_field`), agreement between judge
and humans is reported as Cohen's kappa."""
from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from releasegate.core import InputError

from ._registry import ScoreResult, ScorerBatch, ScorerColumn, ScorerContext, scorer

DEFAULT_RUBRIC = (
    "You grade an assistant's answer.\nReference answer: {reference}\nAnswer: {output}\n"
    "Reply with 'Score: N' where N is from 0 (wrong) to {scale} (fully correct)."
)
_SCORE = re.compile(r"score\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_ANY_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TRUE = {"1", "true", "yes", "pass", "passed", "accept", "accepted", "good", "correct"}


def make_client(timeout: float) -> Any:
    """The HTTP client; tests replace this with one on an `httpx.MockTransport`."""
    import httpx

    return httpx.Client(timeout=timeout)


def parse_judge_score(text: str, scale: float) -> float | None:
    """'Score: 7' (or the first number) divided by the scale, clipped to [0, 1]."""
    match = _SCORE.search(text) or _ANY_NUMBER.search(text)
    if not match:
        return None
    value = float(match.group(1) if match.re is _SCORE else match.group(0))
    return min(max(value / scale, 0.0), 1.0)


def judge_report(column: ScorerColumn, batch: ScorerBatch, ctx: ScorerContext) -> dict[str, Any]:
    from sklearn.metrics import cohen_kappa_score

    field = ctx.param("human_label_field")
    report: dict[str, Any] = {"judge_model": ctx.param("model"), "mean_score": float(np.mean(column.score))
                              if len(column.score) else None}
    if not field:
        return report
    if field not in batch.cases.columns:
        raise ctx.error(f"human_label_field {field!r} is not a dataset column", "name a column of the cases")
    labels = batch.cases[field]
    present = labels.notna().to_numpy() & ~batch.error_mask
    human = np.array([str(v).strip().lower() in _TRUE for v in labels[present]], dtype=bool)
    judged = column.passed[present]
    report["human_labelled"] = int(present.sum())
    report["agreement"] = float(np.mean(human == judged)) if present.any() else None
    kappa = cohen_kappa_score(human, judged) if present.sum() >= 2 else float("nan")
    report["cohen_kappa"] = float(kappa) if np.isfinite(kappa) else None
    return report


@scorer("llm_judge", report=judge_report)
def llm_judge(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """A judge model grades the output against a rubric; passes at `params.pass_threshold`."""
    endpoint = ctx.param("endpoint")
    model = ctx.param("model")
    if not endpoint or not model:
        raise ctx.error("needs params.endpoint and params.model",
                        "point it at an OpenAI-compatible /v1 URL and name the judge model")
    scale = float(ctx.param("scale", 10))
    rubric = str(ctx.param("rubric", DEFAULT_RUBRIC))
    prompt = rubric.replace("{output}", output or "").replace("{reference}", str(reference or "")) \
        .replace("{scale}", f"{scale:g}")
    headers = {}
    key_env = ctx.param("api_key_env")
    if key_env:
        key = os.environ.get(str(key_env))
        if not key:
            raise ctx.error(f"environment variable {key_env} is not set", f"export {key_env}=...")
        headers["Authorization"] = f"Bearer {key}"
    url = str(endpoint).rstrip("/") + "/chat/completions"
    body = {"model": model, "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0, "max_tokens": int(ctx.param("max_tokens", 64))}
    try:
        with make_client(float(ctx.param("timeout_s", 60))) as client:
            response = client.post(url, json=body, headers=headers)
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"] or ""
    except Exception as exc:  # httpx raises several types; all mean the judge is unusable
        raise InputError(f"judge endpoint failed: {exc}", field="scoring.scorers",
                         fix=f"check {url} serves model {model!r}") from None
    value = parse_judge_score(text, scale)
    if value is None:
        return ScoreResult(False, 0.0, "judge reply has no score", detail=None)
    ok = value >= float(ctx.param("pass_threshold", 0.5))
    return ScoreResult(ok, value, f"judge score {value:.2f}", detail=f"{value:.4f}")
