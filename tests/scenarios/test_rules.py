"""Each cross-field rule of the contract, and each schema range check, broken on purpose."""
from __future__ import annotations

from pathlib import Path

import pytest

from releasegate.core import InputError
from releasegate.scenarios import (
    RULES,
    LoadedScenario,
    parse_scenario,
    scenario_errors,
    validate_scenario,
)

from contract_helpers import INVOICE_EXTRACTION, SUPPORT_TRIAGE, Contract, Mutation, WriteContract
from contract_helpers import delete_field as _delete
from contract_helpers import set_field as _set


def _same_product_and_platform(data: Contract) -> None:
    data["owners"]["platform"]["id"] = data["owners"]["product"]["id"]


def _api_key_in_params(data: Contract) -> None:
    data["scoring"]["scorers"][0]["params"] = {"api_key": "Zq8rT2vLm9XwB4nK7pYd3Hs6"}


def _calibrated_sequential(data: Contract) -> None:
    data["scoring"]["calibration"] = {"label_field": "human_ok", "output_field": "labelled_output"}
    data["success_criteria"]["sequential"] = True


# rule name -> (id, mutation, field in the error, words the message must contain)
BROKEN: dict[str, list[tuple[str, Mutation, str, str]]] = {
    "product_and_platform_owners": [
        ("no-product-owner", _delete("owners.product"), "owners.product",
         "the product owner is missing: a release needs both keys"),
        ("no-platform-owner", _delete("owners.platform"), "owners.platform",
         "the platform owner is missing: a release needs both keys"),
        ("same-identity", _same_product_and_platform, "owners.platform",
         "product and platform owner are the same identity (product-owner@support.example): two keys need two people"),
    ],
    "accountable_owners": [
        *[(f"no-{role}-owner", _delete(f"owners.{role}"), f"owners.{role}", f"the {role} owner is missing")
          for role in ("quality", "cost", "incident")],
        *[(f"no-{section}-owner", _delete(f"{section}.owner"), f"{section}.owner",
           f"{section.replace('_', ' ')} has no owner")
          for section in ("route_policy", "context_budget", "tool_policy", "cache_strategy", "prompt_family")],
    ],
    "cost_budget_owner": [
        ("budget-not-cost-owner", _set("cost_budget", {"usd": 50, "owner": "product-owner@support.example"}),
         "cost_budget.owner", "the budget's owner is product-owner@support.example, not the scenario's cost owner "
         "finops@platform.example: the cost owner sets the budget"),
        ("budget-without-owner", _set("cost_budget", {"usd": 50}), "cost_budget.owner",
         "the budget's owner is missing"),
    ],
    "raci": [
        ("activity-missing", _delete("raci.cost_review"), "raci.cost_review",
         "RACI does not cover the activity 'cost_review'"),
        ("two-accountable", _set("raci.model_release.accountable",
                                 ["product-owner@support.example", "platform-owner@platform.example"]),
         "raci.model_release.accountable", "activity 'model_release' has 2 accountable people; it needs exactly one"),
        ("no-accountable", _set("raci.incident.accountable", []), "raci.incident.accountable",
         "activity 'incident' has 0 accountable people"),
    ],
    "identities": [
        ("raci-placeholder", _set("raci.quality_review.responsible", ["FILL-ME-quality-owner"]),
         "raci.quality_review.responsible.0", "'FILL-ME-quality-owner' is a placeholder, not an owner identity"),
        ("escalation-not-identity", _set("escalation_path.1", "the director"), "escalation_path.1",
         "'the director' is not an owner identity"),
        ("section-owner-todo", _set("tool_policy.owner", "TODO"), "tool_policy.owner",
         "'TODO' is a placeholder"),
    ],
    "escalation_path": [
        ("empty", _set("escalation_path", []), "escalation_path", "the escalation path is empty"),
    ],
    "incident_rollback_targets": [
        ("no-tool-policy-rollback", _set("incident_process.rollback_targets", ["model", "prompt"]),
         "incident_process.rollback_targets", "the incident process cannot roll back tool_policy"),
    ],
    "prompt_variables": [
        ("undeclared", _set("prompt_family.versions.v2.user", "{{ customer_tier }}: {{ message }}"),
         "prompt_family.versions.v2.user", "template uses undeclared variable 'customer_tier'"),
        ("syntax", _set("prompt_family.versions.v1.system", "Route {{ message"),
         "prompt_family.versions.v1.system", "template syntax error"),
        ("default-version", _set("prompt_family.default_version", "v9"), "prompt_family.default_version",
         "default version 'v9' is not among the versions"),
    ],
    "models": [
        ("incumbent-unknown", _set("incumbent", "gpt-x"), "incumbent", "'gpt-x' is not a model entry"),
        ("candidate-unknown", _set("candidates", ["gemma3-v1", "llama-v1"]), "candidates.1",
         "'llama-v1' is not a model entry"),
        ("prompt-version-unknown", _set("models.smollm2-v2.prompt_version", "v9"),
         "models.smollm2-v2.prompt_version", "prompt version 'v9' does not exist"),
        ("incompatible", _set("prompt_family.versions.v2.compatible_models", ["gemma3-270m"]),
         "models.smollm2-v2.prompt_version",
         "prompt version 'v2' is not declared compatible with model 'smollm2-135m-instruct'"),
        ("completion-without-template", _set("models.gemma3-v1.prompt_version", "v2"),
         "prompt_family.versions.v2.completion",
         "model entry 'gemma3-v1' is completion-style but the prompt version has no completion template"),
    ],
    "route_policy": [
        ("fallback-unknown", _set("route_policy.fallback", "hosted-gpt"), "route_policy.fallback",
         "fallback 'hosted-gpt' is not a model entry"),
    ],
    "task_and_scoring": [
        ("label-without-labels", _set("task.labels", []), "task.labels", "a label task needs its label set"),
        ("json-without-schema", _set("task", {"kind": "json"}), "task.json_schema",
         "a json task needs the JSON schema answers must match"),
        ("json-schema-invalid", _set("task", {"kind": "json", "json_schema": {"type": "objekt"}}),
         "task.json_schema", "not a valid JSON schema"),
        ("duplicate-scorer", _set("scoring.scorers", [{"name": "queue", "type": "label"},
                                                      {"name": "queue", "type": "context_budget"}]),
         "scoring.scorers.1.name", "scorer name 'queue' is used twice"),
        ("acceptance-unknown-scorer", _set("scoring.acceptance", {"mode": "all", "scorers": ["queue", "tone"]}),
         "scoring.acceptance.scorers.1", "acceptance names unknown scorer 'tone'"),
        ("weighted-without-threshold", _set("scoring.acceptance", {"mode": "weighted"}),
         "scoring.acceptance.threshold", "weighted acceptance needs a threshold"),
    ],
    "context_budget": [
        ("over-max-model-len", _set("context_budget.max_prompt_tokens", 2045), "models.smollm2-v1.serving.max_model_len",
         "context budget (2045 prompt + 8 output = 2053 tokens) exceeds the model's maximum length 2048"),
    ],
    "slice_fields": [
        ("guard-not-a-slice", _set("success_criteria.slice_guard.fields", ["channel", "region"]),
         "success_criteria.slice_guard.fields.1", "slice guard field 'region' is not a dataset slice field"),
    ],
    "no_inline_secrets": [
        ("openai-key", _set("description", "Route messages. key sk-proj-abcdefghijklmnop1234567890"),
         "description", "value looks like an OpenAI/Anthropic-style API key; secrets must not be inline"),
        ("hf-token", _set("models.smollm2-v1.endpoint", "http://llm.internal/v1?t=hf_abcdefghijklmnopqrstuvwxyz1234"),
         "models.smollm2-v1.endpoint", "value looks like a Hugging Face token"),
        ("secret-named-param", _api_key_in_params, "scoring.scorers.0.params.api_key",
         "value looks like a secret; secrets must not be inline"),
    ],
    "dataset_digest": [
        ("mismatch", _set("dataset.sha256", "ab" * 32), "dataset.sha256", "dataset digest mismatch: the file's bytes hash to"),
        ("missing-file", _set("dataset.path", "gone.jsonl"), "dataset.path", "gone.jsonl does not exist"),
    ],
    "calibrated_judge_not_sequential": [
        ("sequential-with-calibration", _calibrated_sequential, "success_criteria.sequential",
         "sequential stopping is not corrected for the judge's errors"),
    ],
    "repeats_need_sampling": [
        ("repeats-at-temperature-0", _set("sampling.repeats", 3), "sampling.repeats",
         "3 repeats per case at temperature 0 give the same answer k times"),
    ],
}
CASES = [pytest.param(rule, mutate, field, words, id=f"{rule}:{case}")
         for rule, cases in BROKEN.items() for case, mutate, field, words in cases]


def test_every_rule_has_a_broken_contract() -> None:
    assert set(BROKEN) == set(RULES)


@pytest.mark.parametrize("contract", [SUPPORT_TRIAGE, INVOICE_EXTRACTION], ids=lambda p: p.name)
def test_demo_contracts_break_no_rule(contract: Path) -> None:
    assert scenario_errors(contract / "scenario.yaml") == []


@pytest.mark.parametrize(("rule", "mutate", "field", "words"), CASES)
def test_broken_contract_is_reported(write_contract: WriteContract, rule: str, mutate: Mutation,
                                     field: str, words: str) -> None:
    path = write_contract(mutate)
    errors = scenario_errors(path)
    matching = [e for e in errors if e.field == field and words in e.message]
    assert matching, f"no error on {field} saying {words!r}; got: {[str(e) for e in errors]}"
    error = matching[0]
    assert error.file == str(path)
    assert error.line is not None and error.line > 0
    assert error.fix
    # the rule named in BROKEN reports it, not some other check
    assert any(field == e.field and words in e.message for e in RULES[rule](_loaded(path)))


def _loaded(path: Path) -> LoadedScenario:
    return parse_scenario(path)


RANGE_CASES = [
    ("success_criteria.min_acceptance_rate", 1.2, "Input should be less than or equal to 1"),
    ("success_criteria.min_acceptance_rate", -0.1, "Input should be greater than or equal to 0"),
    ("success_criteria.non_inferiority_margin", -0.01, "Input should be greater than or equal to 0"),
    ("success_criteria.confidence", 1.0, "Input should be less than 1"),
    ("success_criteria.confidence", 0.0, "Input should be greater than 0"),
    ("success_criteria.slice_guard.margin", 1.5, "Input should be less than or equal to 1"),
    ("cache_strategy.min_prefix_cache_hit_rate", 1.01, "Input should be less than or equal to 1"),
    ("scoring.acceptance.threshold", 2, "Input should be less than or equal to 1"),
]


@pytest.mark.parametrize(("field", "value", "words"), RANGE_CASES, ids=[f"{f}={v}" for f, v, _ in RANGE_CASES])
def test_threshold_out_of_range_is_a_schema_error(write_contract: WriteContract, field: str, value: float,
                                                  words: str) -> None:
    path = write_contract(_set(field, value))
    errors = scenario_errors(path)
    assert [(e.field, e.message) for e in errors] == [(field, words)]
    assert errors[0].fix == "use a value in the allowed range"


def test_placeholder_owner_is_a_schema_error(write_contract: WriteContract) -> None:
    path = write_contract(_set("owners.product.id", "FILL-ME"))
    (error,) = scenario_errors(path)
    assert error.field == "owners.product.id"
    assert error.message == "'FILL-ME' is a placeholder, not an owner identity"


def test_api_key_env_must_name_a_variable(write_contract: WriteContract) -> None:
    path = write_contract(_set("models.smollm2-v1.api_key_env", "sk-proj-abcdefghijklmnop1234567890"))
    (error,) = scenario_errors(path)
    assert error.field == "models.smollm2-v1.api_key_env"
    assert "must be an environment variable NAME" in error.message


def test_every_violation_is_reported_not_just_the_first(write_contract: WriteContract) -> None:
    def break_three(data: Contract) -> None:
        data["escalation_path"] = []
        data["incumbent"] = "nobody"
        data["dataset"]["sha256"] = "00" * 32

    errors = scenario_errors(write_contract(break_three))
    assert sorted(e.field for e in errors) == ["dataset.sha256", "escalation_path", "incumbent"]


def test_every_schema_violation_is_reported(write_contract: WriteContract) -> None:
    def break_two(data: Contract) -> None:
        data["success_criteria"]["confidence"] = 2
        data["owners"]["quality"]["id"] = "tbd"

    errors = scenario_errors(write_contract(break_two))
    assert sorted(e.field for e in errors) == ["owners.quality.id", "success_criteria.confidence"]


def test_validate_scenario_raises_the_first_violation(write_contract: WriteContract) -> None:
    path = write_contract(_set("escalation_path", []))
    with pytest.raises(InputError, match="the escalation path is empty") as info:
        validate_scenario(path)
    assert info.value.exit_code == 2
