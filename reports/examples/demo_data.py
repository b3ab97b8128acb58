"""Fixed, synthetic evidence for the example report (and the report tests): support-triage.

Synthetic but self-consistent: the rates, costs and sequential path in the verdict are derived
here from the same seeded cases the tables show. This module is fixture code standing in for
the gate; the report stage itself computes none of these numbers.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from releasegate.evals import Check, ModelSide, Verdict

QUEUES = ("billing", "technical", "account", "shipping", "returns", "other")
MESSAGES = {
    "billing": ["I was charged twice for my subscription this month.",
                "Why is there an extra fee on my last invoice?",
                "Se me cobró dos veces el mismo pedido.",
                "Meine Rechnung zeigt einen falschen Betrag."],
    "technical": ["The app crashes every time I open the settings page.",
                  "I get error 502 when I upload a photo.",
                  "La aplicación se cierra al iniciar sesión.",
                  "Die App stürzt beim Start ab."],
    "account": ["I cannot log in, please reset my password.",
                "How do I change the e-mail address on my profile?",
                "No puedo acceder a mi cuenta.",
                "Ich möchte mein Konto löschen."],
    "shipping": ["Where is my parcel? It should have arrived on Monday.",
                 "The tracking number you sent does not work.",
                 "Mi paquete lleva dos semanas en camino.",
                 "Wann wird meine Bestellung geliefert?"],
    "returns": ["I want to send these shoes back and get a refund.",
                "The jacket is too small, how do I return it?",
                "Quiero devolver un artículo defectuoso.",
                "Wie kann ich den Artikel zurückschicken?"],
    "other": ["Do you have a store in Lisbon?",
              "I would like to give feedback about your service.",
              "¿Tienen descuentos para estudiantes?",
              "Gibt es eine Partnerschaft mit Schulen?"],
}
LANGUAGES = ("en", "en", "es", "de")  # index into MESSAGES lists: two English, one each es/de
CHANNELS = ("email", "chat", "web-form")
N_TOTAL = 2000
MARGIN = 0.05
SLICE_MARGIN = 0.15
CONFIDENCE = 0.95
USD_PER_SECOND = 0.10 / 3600 / 8  # CPU at $0.10/h shared by 8 concurrent requests


def demo_cases(n: int = N_TOTAL, seed: int = 20261127) -> pd.DataFrame:
    """The case table (reports.CASE_COLUMNS + latency, tokens, cost) for n seeded cases."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        queue = QUEUES[rng.integers(len(QUEUES))]
        variant = int(rng.integers(4))
        language = LANGUAGES[variant]
        # German is rare (a small slice the guard skips); email is the hardest channel.
        if language == "de" and rng.random() < 0.92:
            variant, language = 0, "en"
        channel = CHANNELS[rng.integers(len(CHANNELS))]
        message = MESSAGES[queue][variant]
        length = "long" if len(message) > 45 else "short"
        hard = 0.08 if channel == "email" else 0.0
        inc_ok = rng.random() < 0.64 - hard - (0.06 if language == "es" else 0)
        # Paired outcomes: the candidate mostly agrees with the incumbent, wins a few more.
        cand_ok = inc_ok if rng.random() < 0.78 else rng.random() < 0.72 - hard
        wrong = [q for q in QUEUES if q != queue]
        inc_out = queue if inc_ok else wrong[rng.integers(len(wrong))]
        cand_out = queue if cand_ok else wrong[rng.integers(len(wrong))]
        inc_ttft = float(rng.lognormal(math.log(0.9), 0.35))
        cand_ttft = float(rng.lognormal(math.log(1.3), 0.35))
        inc_lat = inc_ttft + float(rng.lognormal(math.log(0.25), 0.3))
        cand_lat = cand_ttft + float(rng.lognormal(math.log(0.30), 0.3))
        rows.append({
            "example_id": f"st-{i:04d}",
            "inputs": {"message": message, "channel": channel},
            "reference": queue,
            "slices": {"channel": channel, "language": language, "length": length},
            "incumbent_output": inc_out, "incumbent_accepted": bool(inc_ok),
            "incumbent_reasons": [f"queue: {'matches' if inc_ok else f'{inc_out!r} is not {queue!r}'}",
                                  "budget: within 768/8 tokens"],
            "candidate_output": cand_out, "candidate_accepted": bool(cand_ok),
            "candidate_reasons": [f"queue: {'matches' if cand_ok else f'{cand_out!r} is not {queue!r}'}",
                                  "budget: within 768/8 tokens"],
            "incumbent_ttft_s": inc_ttft, "candidate_ttft_s": cand_ttft,
            "incumbent_latency_s": inc_lat, "candidate_latency_s": cand_lat,
            "incumbent_prompt_tokens": 62 + len(message) // 4 + int(rng.integers(0, 6)),
            "candidate_prompt_tokens": 148 + len(message) // 4 + int(rng.integers(0, 6)),
            "incumbent_completion_tokens": int(rng.integers(1, 4)),
            "candidate_completion_tokens": int(rng.integers(1, 3)),
            "incumbent_cost_usd": inc_lat * USD_PER_SECOND,
            "candidate_cost_usd": cand_lat * USD_PER_SECOND,
        })
    return pd.DataFrame(rows)


def _rate_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson interval: fixture stand-in for evals' own intervals."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _difference_interval(d: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    mean = float(d.mean())
    half = z * float(d.std(ddof=1)) / math.sqrt(len(d))
    return mean, mean - half, mean + half


def _trajectory(d: np.ndarray, margin: float, alpha: float, batch: int) -> tuple[list[dict], int]:
    """A normal-mixture confidence sequence (Robbins), looked at after each batch: a fixture
    stand-in with the shape of evals' `sequential` section ({n, low, high} on the d scale)."""
    rho = 0.05
    points, stop = [], len(d)
    for n in range(batch, len(d) + 1, batch):
        mean = float(d[:n].mean())
        var = max(float(d[:n].var()), 0.05)
        half = math.sqrt(2 * (n * var * rho + 1) / (n * n * rho) *
                         math.log(math.sqrt(n * var * rho + 1) / alpha))
        points.append({"n": n, "low": round(max(mean - half, -1.0), 6),
                       "high": round(min(mean + half, 1.0), 6), "estimate": round(mean, 6)})
        if mean - half > -margin or mean + half < -margin:
            stop = n
            break
    return points, stop


def _mcnemar(cand: np.ndarray, inc: np.ndarray) -> float:
    """Exact McNemar p-value (two-sided binomial on the discordant pairs)."""
    from scipy.stats import binomtest

    b, c = int((cand & ~inc).sum()), int((~cand & inc).sum())
    return float(binomtest(min(b, c), b + c, 0.5).pvalue) if b + c else 1.0


def _side_metrics(accepted: np.ndarray, frame: pd.DataFrame, side: str) -> dict[str, Any]:
    n, k = len(accepted), int(accepted.sum())
    low, high = _rate_interval(k, n)
    out: dict[str, Any] = {"n": n, "accepted": k, "acceptance_rate": k / n, "acceptance_ci": [low, high],
                           "errors": 0, "scorers": {"label": {"pass_rate": k / n}}}
    for column in ("ttft_s", "latency_s"):
        p95 = float(np.percentile(frame[f"{side}_{column}"], 95))
        out[f"{column}_p95"] = {"value": p95, "ci": [p95 * 0.93, p95 * 1.08], "n": n}
    out["completion_tokens_total"] = float(frame[f"{side}_completion_tokens"].sum())
    return out


def demo_verdict(cases: pd.DataFrame | None = None, sequential: bool = True,
                 margin: float = MARGIN) -> tuple[Verdict, pd.DataFrame]:
    """A verdict for gemma3-v1 against smollm2-v1 in evals' format, and the cases it used.

    With the default data and margin it is a PASS that stopped early; a larger or smaller margin
    gives other decisions (the tests use that)."""
    cases = demo_cases() if cases is None else cases
    total = len(cases)
    seq: dict[str, Any] | None = None
    if sequential:
        d = (cases["candidate_accepted"].astype(int).to_numpy()
             - cases["incumbent_accepted"].astype(int).to_numpy())
        points, stop = _trajectory(d, margin, 1 - CONFIDENCE, batch=40)
        unused = cases.iloc[stop:]
        tokens = int(unused[["incumbent_completion_tokens", "candidate_completion_tokens"]]
                     .to_numpy().sum())
        unused_usd = float(unused[["incumbent_cost_usd", "candidate_cost_usd"]].to_numpy().sum())
        decided = "PASS" if points[-1]["low"] > -margin else ("FAIL" if points[-1]["high"] < -margin
                                                             else None)
        cases = cases.iloc[:stop].reset_index(drop=True)
        seq = {"sequential": True, "method": "normal-mixture confidence sequence (fixture)",
               "margin": margin, "confidence": CONFIDENCE, "cases_used": stop, "cases_total": total,
               "decision": decided,
               "stop_reason": (f"confidence sequence lies wholly above -{margin:g} after {stop} cases"
                               if decided == "PASS" else
                               f"confidence sequence lies wholly below -{margin:g} after {stop} cases"
                               if decided == "FAIL" else
                               "dataset exhausted before the sequence decided; the fixed-n "
                               "analysis decides"),
               "kept_running_by": None if decided else "non_inferiority",
               "trajectory": points,
               "savings": {"cases_skipped": total - stop, "cases_skipped_fraction": (total - stop) / total,
                           "model_calls_saved": 2 * (total - stop), "generated_tokens": tokens,
                           "gpu_hours": round((total - stop) * 2.4 / 3600 / 8, 4), "usd": unused_usd}}
    n = len(cases)
    inc = cases["incumbent_accepted"].astype(bool).to_numpy()
    cand = cases["candidate_accepted"].astype(bool).to_numpy()
    diff, lo, hi = _difference_interval(cand.astype(int) - inc.astype(int))
    cand_lo, cand_hi = _rate_interval(int(cand.sum()), n)
    inc_cpa = float(cases["incumbent_cost_usd"].sum()) / max(int(inc.sum()), 1)
    cand_cpa = float(cases["candidate_cost_usd"].sum()) / max(int(cand.sum()), 1)
    ratio = cand_cpa / inc_cpa
    cand_metrics = _side_metrics(cand, cases, "candidate")
    inc_metrics = _side_metrics(inc, cases, "incumbent")

    def status(low: float, high: float, threshold: float, direction: str) -> str:
        if direction == ">=":
            return "pass" if low >= threshold else "fail" if high < threshold else "inconclusive"
        return "pass" if high <= threshold else "fail" if low > threshold else "inconclusive"

    span = f"{diff * 100:+.1f} points [{lo * 100:+.1f}, {hi * 100:+.1f}]"
    ni_status = status(lo, hi, -margin, ">=")
    ttft, lat = cand_metrics["ttft_s_p95"], cand_metrics["latency_s_p95"]
    checks = [
        Check("min_acceptance_rate", "value", "acceptance_rate", float(cand.mean()), cand_lo, cand_hi,
              0.15, ">=", status(cand_lo, cand_hi, 0.15, ">="), False,
              f"acceptance {cand.mean():.1%} (lower bound {cand_lo:.1%}) meets the minimum 15.0%"),
        Check("non_inferiority", "change", "acceptance_difference", diff, lo, hi, -margin, ">=",
              ni_status, True, {
                  "pass": f"candidate is not worse than the incumbent by more than {margin * 100:.1f} "
                          f"points: {span}",
                  "fail": f"candidate is worse than the incumbent by more than {margin * 100:.1f} "
                          f"points: {span}",
                  "inconclusive": f"difference {span} straddles the margin of -{margin * 100:.1f} "
                                  "points: more cases needed"}[ni_status]),
        Check("max_cost_per_accepted", "value", "cost_per_accepted_usd", cand_cpa, cand_cpa * 0.94,
              cand_cpa * 1.06, 0.001, "<=", "pass", False,
              f"${cand_cpa:.6f} per accepted outcome, within the $0.001 ceiling"),
        Check("ttft_p95", "value", "ttft_s_p95", ttft["value"], *ttft["ci"], 20.0, "<=", "pass", False,
              f"p95 time to first token {ttft['value']:.3f}s within the 20s SLO"),
        Check("latency_p95", "value", "latency_s_p95", lat["value"], *lat["ci"], 30.0, "<=", "pass",
              False, f"p95 end-to-end latency {lat['value']:.3f}s within the 30s SLO"),
        Check("tool_policy", "value", "tool_policy_violations", 0.0, None, None, 0.0, "<=", "pass",
              True, "0 tool calls outside the policy (allowed: none; limit 0)"),
        Check("cache_hit_rate", "value", "prefix_cache_hit_rate", None, None, None, None, ">=",
              "skipped", False, "no cache-hit SLO in the contract"),
        Check("cost_ratio", "change", "cost_per_accepted_ratio", ratio, ratio * 0.93, ratio * 1.07, 3.0,
              "<=", "pass", False, f"candidate costs {ratio:.2f}x the incumbent per accepted outcome, "
              "within 3x"),
    ]
    slices = []
    for field in ("channel", "language"):
        for value in sorted({s[field] for s in cases["slices"]}):
            mask = np.array([s[field] == value for s in cases["slices"]])
            k = int(mask.sum())
            s_diff, s_lo, s_hi = _difference_interval(
                cand[mask].astype(int) - inc[mask].astype(int), 2.5) if k > 1 else (0.0, -1.0, 1.0)
            tested = k >= 20
            s_status = status(s_lo, s_hi, -SLICE_MARGIN, ">=") if tested else "skipped"
            s_status = "pass" if s_status == "inconclusive" else s_status  # the guard fails or not
            slices.append({"field": field, "value": value, "n": k, "difference": s_diff,
                           "ci_low": s_lo, "ci_high": s_hi, "tested": tested, "status": s_status,
                           "candidate_rate": float(cand[mask].mean()),
                           "incumbent_rate": float(inc[mask].mean()),
                           "mcnemar_p": _mcnemar(cand[mask], inc[mask]), "margin": SLICE_MARGIN,
                           # fixture stand-ins for evals' one-sided test and its Holm adjustment
                           "p_regression": 0.01 if s_status == "fail" else 0.5,
                           "p_holm": 0.02 if s_status == "fail" else 1.0})
            if tested:
                checks.append(Check(
                    f"slice:{field}={value}", "change", "slice_acceptance_difference", s_diff, s_lo,
                    s_hi, -SLICE_MARGIN, ">=", s_status, False,
                    f"{field}={value} (n={k}): {s_diff * 100:+.1f} points [{s_lo * 100:+.1f}, "
                    f"{s_hi * 100:+.1f}], no regression beyond {SLICE_MARGIN * 100:.0f} points"
                    if s_status == "pass" else
                    f"{field}={value} (n={k}) regresses beyond {SLICE_MARGIN * 100:.0f} points"))
    decision = ("FAIL" if any(c.status == "fail" for c in checks) else
                "INCONCLUSIVE" if any(c.status == "inconclusive" for c in checks) else "PASS")
    verdict = Verdict(
        scenario_id="support-triage", decision=decision, checks=checks,
        candidate=ModelSide("gemma3-v1", "gemma3-270m", "9f3c" + "1e" * 30, "v1", "c4d1" + "7a" * 30),
        incumbent=ModelSide("smollm2-v1", "smollm2-135m-instruct", "2b7e" + "0d" * 30, "v1",
                            "88aa" + "3c" * 30),
        contract_sha256="51f0" + "ab" * 30, dataset_sha256="e3d9" + "42" * 30, n=n,
        confidence=CONFIDENCE, seed=20261127,
        metrics={"cases_total": total, "candidate": cand_metrics, "incumbent": inc_metrics,
                 "policy": "fixture", "paired": {
                     "n": n, "difference": diff, "ci_low": lo, "ci_high": hi,
                     "candidate_rate": float(cand.mean()), "incumbent_rate": float(inc.mean()),
                     "candidate_only": int((cand & ~inc).sum()), "incumbent_only": int((~cand & inc).sum()),
                     "both": int((cand & inc).sum()), "neither": int((~cand & ~inc).sum()),
                     "mcnemar_p": _mcnemar(cand, inc), "confidence": CONFIDENCE,
                     "method": "normal approximation (fixture)"},
                 "minimum_detectable_difference": {"value": None, "power": 0.8, "note": "not computed (fixture)"},
                 "cost": {"candidate_cost_usd": float(cases["candidate_cost_usd"].sum()),
                          "incumbent_cost_usd": float(cases["incumbent_cost_usd"].sum()),
                          "candidate_accepted": int(cand.sum()), "incumbent_accepted": int(inc.sum()),
                          "candidate_per_accepted": cand_cpa, "incumbent_per_accepted": inc_cpa,
                          "candidate_per_accepted_ci": [cand_cpa * 0.94, cand_cpa * 1.06],
                          "ratio": ratio, "ratio_ci": [ratio * 0.93, ratio * 1.07], "replicates": 0,
                          "method": "fixture"},
                 "tool_policy_violations": 0},
        slices=slices, sequential=seq,
    )
    return verdict, cases


def demo_approvals() -> list[dict[str, Any]]:
    """The product owner has signed; the platform owner has not yet: one key of two."""
    return [{"role": "product", "identity": "product-owner@support.example",
             "fingerprint": "SHA256:q3Jk0m6xVh1bC2R8yN5tW4pLz9aE7uF0dG3sH2jK1lM", "valid": True}]
