"""Each scorer on hand-made inputs, the registry, the acceptance rule and error rows."""
from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from evals_fixtures import LABELS, make_cases, make_records
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from releasegate.evals import SCORERS, ScoreResult, score_records, scorer
from releasegate.evals._scorers import judge
from releasegate.core import InputError
from releasegate.scenarios import ScorerSpec


def with_scorers(triage: Any, specs: list[dict[str, Any]], acceptance: dict[str, Any] | None = None,
                 **task: Any) -> Any:
    scenario = triage.scenario
    scoring = scenario.scoring.model_copy(update={
        "scorers": [ScorerSpec(**s) for s in specs],
        "acceptance": scenario.scoring.acceptance.model_copy(update=acceptance or {"mode": "all", "scorers": None}),
    })
    update: dict[str, Any] = {"scoring": scoring}
    if task:
        update["task"] = scenario.task.model_copy(update=task)
    return scenario.model_copy(update=update)


def run(triage: Any, spec: dict[str, Any], outputs: list[str | None], references: list[Any],
        extra_cases: dict[str, list[Any]] | None = None, **records: Any) -> Any:
    n = len(outputs)
    cases = make_cases(n)
    cases["reference"] = references
    for key, values in (extra_cases or {}).items():
        cases[key] = values
    frame = make_records(cases, np.ones(n, dtype=bool))
    frame["output"] = pd.array(outputs, dtype="string")
    for key, value in records.items():
        frame[key] = value
    spec = dict(spec)
    task = spec.pop("_task", {})
    scenario = with_scorers(triage, [{"name": "s", **spec}], **task)
    return score_records(scenario, cases, frame)


def results(scored: Any) -> list[tuple[bool, float, str]]:
    col = scored.results["s"]
    return [(bool(col.passed[i]), float(col.score[i]), col.reason(i)) for i in range(len(scored))]


def test_registry_has_every_family() -> None:
    assert {"exact", "normalized_exact", "contains", "regex", "label", "json_schema", "json_fields",
            "numeric", "refusal", "tool_call", "context_budget", "llm_judge"} <= set(SCORERS)


def test_a_new_scorer_is_one_decorated_function(triage: Any) -> None:
    @scorer("test_even_length")
    def even(output: str | None, reference: str | None, *, ctx: Any) -> ScoreResult:
        ok = len(output or "") % 2 == 0
        return ScoreResult(ok, float(ok), "even" if ok else "odd")

    try:
        out = results(run(triage, {"type": "test_even_length"}, ["ab", "abc"], ["x", "y"]))
        assert out == [(True, 1.0, "even"), (False, 0.0, "odd")]
    finally:
        del SCORERS["test_even_length"]


def test_unknown_scorer_type_is_an_input_error(triage: Any) -> None:
    with pytest.raises(InputError, match="unknown type 'nope'"):
        run(triage, {"type": "nope"}, ["a"], ["a"])


def test_exact_and_normalized_exact(triage: Any) -> None:
    outs, refs = ["billing", "Billing.", " billing \n", "bill"], ["billing"] * 4
    assert [r[0] for r in results(run(triage, {"type": "exact"}, outs, refs))] == [True, False, True, False]
    assert [r[0] for r in results(run(triage, {"type": "normalized_exact"}, outs, refs))] == [True, True, True, False]


def test_contains_and_regex(triage: Any) -> None:
    outs = ["The queue is Billing.", "technical", None]
    got = results(run(triage, {"type": "contains"}, outs, ["billing", "billing", "billing"]))
    assert [g[0] for g in got] == [True, False, False]
    got = results(run(triage, {"type": "regex", "params": {"pattern": r"^\w+$", "fullmatch": True}}, outs,
                      ["x"] * 3))
    assert [g[0] for g in got] == [False, True, False]
    with pytest.raises(InputError, match="missing params.pattern"):
        run(triage, {"type": "regex"}, ["a"], ["a"])


def test_numeric_tolerance(triage: Any) -> None:
    outs = ["The total is 41.99 USD", "42", "about 45", "no idea", "1,250.5"]
    got = results(run(triage, {"type": "numeric", "params": {"abs_tol": 0.05}}, outs,
                      ["42", "42", "42", "42", "1250.5"]))
    assert [g[0] for g in got] == [True, True, False, False, True]
    assert got[3][2] == "no number in the output"


def test_refusal(triage: Any) -> None:
    outs = ["I'm sorry, I can't help with that.", "billing", "As an AI I cannot do this"]
    assert [g[0] for g in results(run(triage, {"type": "refusal"}, outs, ["x"] * 3))] == [False, True, False]
    refuse = {"type": "refusal", "params": {"expect": "refuse"}}
    assert [g[0] for g in results(run(triage, refuse, outs, ["x"] * 3))] == [True, False, True]


def test_label_parses_the_first_label_word_case_insensitively(triage: Any) -> None:
    outs = ["Billing", "Queue: TECHNICAL (not billing)", "I think it's shipping.", "banana", None, "returns"]
    refs = ["billing", "technical", "returns", "other", "other", "Returns"]
    got = results(run(triage, {"type": "label"}, outs, refs))
    assert [g[0] for g in got] == [True, True, False, False, False, True]
    assert got[2][2] == "label shipping, expected returns"
    assert got[3][2] == "no label in the output"


def test_label_report_matches_sklearn_on_the_raw_strings(triage: Any) -> None:
    rng = np.random.default_rng(4)
    n = 500
    refs = list(rng.choice(LABELS, n))
    preds = [r if rng.random() < 0.7 else rng.choice(LABELS + ["gibberish"]) for r in refs]
    report = run(triage, {"type": "label"}, [f"Queue: {p}" for p in preds], refs).results["s"].report
    truth_strings = refs
    pred_strings = [p if p in LABELS else "(none)" for p in preds]
    p, r, f, s = precision_recall_fscore_support(truth_strings, pred_strings, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        assert report["per_label"][label]["precision"] == pytest.approx(p[i])
        assert report["per_label"][label]["recall"] == pytest.approx(r[i])
        assert report["per_label"][label]["f1"] == pytest.approx(f[i])
        assert report["per_label"][label]["support"] == s[i]
    matrix = confusion_matrix(truth_strings, pred_strings, labels=LABELS + ["(none)"])
    assert report["confusion_matrix"]["counts"] == matrix.tolist()


SCHEMA = {"type": "object", "required": ["queue", "priority"],
          "properties": {"queue": {"enum": LABELS}, "priority": {"type": "integer", "minimum": 1}}}


def test_json_schema(triage: Any) -> None:
    outs = ['Sure! {"queue": "billing", "priority": 2} done', '{"queue": "billing"}',
            '{"queue": "billing", "priority": 0}', "no json here", '```json\n{"queue":"other","priority":1}\n```']
    spec = {"type": "json_schema", "_task": {"kind": "json", "json_schema": SCHEMA}}
    got = results(run(triage, spec, outs, ["{}"] * 5))
    assert [g[0] for g in got] == [True, False, False, False, True]
    assert "priority" in got[1][2] and "required" in got[1][2]
    assert got[3][2] == "no JSON object in the output"


def test_json_fields_with_tolerance_and_normalisation(triage: Any) -> None:
    ref = json.dumps({"queue": "Billing", "amount": 12.5, "refund": True})
    outs = ['{"queue": "billing ", "amount": 12.5000001, "refund": true}',
            '{"queue": "billing", "amount": 13, "refund": true}',
            '{"queue": "billing"}']
    got = results(run(triage, {"type": "json_fields", "params": {"abs_tol": 0.01}}, outs, [ref] * 3))
    assert got[0][:2] == (True, 1.0)
    assert got[1][:2] == (False, pytest.approx(2 / 3)) and got[1][2] == "mismatched: amount"
    assert got[2][:2] == (False, pytest.approx(1 / 3))


def test_tool_call_outside_policy_fails(triage: Any) -> None:
    spec = {"type": "tool_call", "params": {"allowed_tools": ["lookup_order"]}}
    calls = [json.dumps([{"name": "lookup_order", "arguments": {}}]), None,
             json.dumps([{"name": "lookup_order"}, {"name": "refund_payment", "arguments": {}}]), "not json"]
    got = results(run(triage, spec, ["x"] * 4, ["x"] * 4, tool_calls=pd.array(calls, dtype="string")))
    assert [g[0] for g in got] == [True, True, False, False]
    assert got[2][2] == "tool outside policy: refund_payment"


def test_context_budget(triage: Any) -> None:
    # support-triage budget: 768 prompt tokens, 8 output tokens
    scored = run(triage, {"type": "context_budget"}, ["x"] * 4, ["x"] * 4,
                 prompt_tokens=pd.array([768, 769, 10, None], dtype="Int64"),
                 completion_tokens=pd.array([8, 2, 9, 2], dtype="Int64"))
    got = results(scored)
    assert [g[0] for g in got] == [True, False, False, True]
    assert got[1][2] == "prompt over 768 tokens" and got[2][2] == "output over 8 tokens"
    assert got[3][2].startswith("token counts missing")


def test_llm_judge_scores_and_reports_kappa(triage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        answer = body["messages"][0]["content"].split("Answer: ")[1].split("\n")[0]
        score = {"good": "Score: 9", "bad": "score = 2", "odd": "I refuse to grade"}[answer]
        return httpx.Response(200, json={"choices": [{"message": {"content": score}}]})

    monkeypatch.setattr(judge, "make_client", lambda timeout: httpx.Client(transport=httpx.MockTransport(handler)))
    # Agreement table (human x judge): 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no:
    # p_o = 0.7, p_e = 0.5, so kappa = 0.4.
    outputs = ["good"] * 20 + ["bad"] * 5 + ["good"] * 10 + ["bad"] * 15
    human = ["yes"] * 25 + ["no"] * 25
    spec = {"type": "llm_judge", "params": {"endpoint": "http://judge.local/v1", "model": "judge-1",
                                            "human_label_field": "human"}}
    scored = run(triage, spec, outputs, ["ref"] * 50, extra_cases={"human": human})
    col = scored.results["s"]
    assert col.report["cohen_kappa"] == pytest.approx(0.4)
    assert col.report["agreement"] == pytest.approx(0.7)
    assert col.score[0] == pytest.approx(0.9) and not col.passed[20]
    assert len(seen) == 2  # one call per distinct (output, reference): results are reused
    assert seen[0]["model"] == "judge-1"
    odd = run(triage, {**spec, "params": {**spec["params"], "human_label_field": None}}, ["odd"], ["r"])
    assert results(odd) == [(False, 0.0, "judge reply has no score")]


def test_llm_judge_unreachable_is_an_input_error(triage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    monkeypatch.setattr(judge, "make_client", lambda timeout: httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(InputError, match="judge endpoint failed"):
        run(triage, {"type": "llm_judge", "params": {"endpoint": "http://j/v1", "model": "m"}}, ["a"], ["b"])


def test_error_rows_are_never_accepted(triage: Any) -> None:
    cases = make_cases(4)
    frame = make_records(cases, np.ones(4, dtype=bool))
    frame["error"] = pd.array([None, "timeout after 60s", "", None], dtype="string")
    scored = score_records(triage, cases, frame)
    assert scored.accepted.tolist() == [True, False, True, True]
    assert scored.errored.tolist() == [False, True, False, False]
    assert scored.results["queue"].reason(1) == "generation failed: timeout after 60s"
    # even with `any` over a scorer that would pass an errored row
    scenario = with_scorers(triage, [{"name": "b", "type": "context_budget"}], {"mode": "any"})
    assert not score_records(scenario, cases, frame).accepted[1]


def test_acceptance_all_any_weighted(triage: Any) -> None:
    cases = make_cases(3)
    cases["reference"] = ["billing", "billing", "billing"]
    frame = make_records(cases, np.ones(3, dtype=bool))
    frame["output"] = pd.array(["billing", "Billing", "technical"], dtype="string")
    specs = [{"name": "exact", "type": "exact", "weight": 1.0},
             {"name": "norm", "type": "normalized_exact", "weight": 3.0}]
    accepted = {mode: score_records(with_scorers(triage, specs, rule), cases, frame).accepted.tolist()
                for mode, rule in {"all": {"mode": "all"}, "any": {"mode": "any"},
                                   "weighted": {"mode": "weighted", "threshold": 0.75}}.items()}
    assert accepted == {"all": [True, False, False], "any": [True, True, False],
                        "weighted": [True, True, False]}
    only = with_scorers(triage, specs, {"mode": "all", "scorers": ["exact"]})
    assert score_records(only, cases, frame).accepted.tolist() == [True, False, False]
    with pytest.raises(InputError, match="unknown scorers: nope"):
        score_records(with_scorers(triage, specs, {"mode": "all", "scorers": ["nope"]}), cases, frame)


def test_factorised_scoring_equals_row_by_row(triage: Any) -> None:
    rng = np.random.default_rng(8)
    n = 3000
    cases = make_cases(n)
    frame = make_records(cases, rng.random(n) < 0.6)
    noise = rng.choice(["", " ", "!", " maybe"], n)
    frame["output"] = pd.array(frame["output"].to_numpy(dtype=str) + noise, dtype="string")
    col = score_records(triage, cases, frame).results["queue"]
    from releasegate.evals._scorers.label import parse_label

    labels = [label.lower() for label in LABELS]
    expected = [parse_label(o, labels) == r for o, r in zip(frame["output"], cases["reference"])]
    assert col.passed.tolist() == expected


def test_missing_columns_and_unknown_ids_are_named(triage: Any) -> None:
    cases = make_cases(3)
    frame = make_records(cases, np.ones(3, dtype=bool))
    with pytest.raises(InputError, match="missing columns: latency_s, cost_usd"):
        score_records(triage, cases, frame.drop(columns=["latency_s", "cost_usd"]))
    frame.loc[1, "example_id"] = "zz-9"
    with pytest.raises(InputError, match="not in the dataset: zz-9"):
        score_records(triage, cases, frame)
