"""Cross-field rules of the scenario contract. Each rule has its own message and fix.

A rule is a function `(LoadedScenario) -> Iterable[InputError]` registered with `@rule`; new
rules need no edit elsewhere.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import jinja2
import jinja2.meta

from ._contract import STANDARD_ACTIVITIES, identity_problem
from ._dataset import file_sha256
from releasegate.core import InputError
from ._load import IDENTITY_FIX, LoadedScenario, read_scenario

Rule = Callable[[LoadedScenario], Iterable[InputError]]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


@rule("product_and_platform_owners")
def _product_platform(ls: LoadedScenario) -> Iterator[InputError]:
    owners = ls.scenario.owners
    for role in ("product", "platform"):
        if getattr(owners, role) is None:
            yield ls.error(f"owners.{role}", f"the {role} owner is missing: a release needs both keys",
                           f"add owners.{role}.id with the {role} owner's identity")
    if owners.product and owners.platform and owners.product.id == owners.platform.id:
        yield ls.error("owners.platform", f"product and platform owner are the same identity "
                       f"({owners.product.id}): two keys need two people",
                       "name a different platform owner")


@rule("accountable_owners")
def _other_owners(ls: LoadedScenario) -> Iterator[InputError]:
    s = ls.scenario
    for role in ("quality", "cost", "incident"):
        if getattr(s.owners, role) is None:
            yield ls.error(f"owners.{role}", f"the {role} owner is missing",
                           f"add owners.{role}.id")
    for section in ("route_policy", "context_budget", "tool_policy", "cache_strategy", "prompt_family"):
        if not getattr(s, section).owner:
            yield ls.error(f"{section}.owner", f"{section.replace('_', ' ')} has no owner",
                           f"add {section}.owner with an identity")


@rule("cost_budget_owner")
def _cost_budget(ls: LoadedScenario) -> Iterator[InputError]:
    budget, cost = ls.scenario.cost_budget, ls.scenario.owners.cost
    if budget is not None and (cost is None or budget.owner != cost.id):
        yield ls.error("cost_budget.owner", f"the budget's owner is {budget.owner or 'missing'}, not the scenario's "
                       f"cost owner {cost.id if cost else '(none)'}: the cost owner sets the budget",
                       "set cost_budget.owner to owners.cost.id")


@rule("raci")
def _raci(ls: LoadedScenario) -> Iterator[InputError]:
    raci = ls.scenario.raci
    for activity in STANDARD_ACTIVITIES:
        if activity not in raci:
            yield ls.error(f"raci.{activity}", f"RACI does not cover the activity {activity!r}",
                           f"add raci.{activity} with exactly one accountable")
            continue
        accountable = raci[activity].accountable_list
        if len(accountable) != 1:
            yield ls.error(f"raci.{activity}.accountable",
                           f"activity {activity!r} has {len(accountable)} accountable people; "
                           "it needs exactly one", "name exactly one accountable identity")


@rule("identities")
def _identities(ls: LoadedScenario) -> Iterator[InputError]:
    """Everyone named in RACI, the escalation path and the section owners is a real identity:
    a scaffold's FILL-ME placeholders fail here as well as in `owners`."""
    s = ls.scenario
    named: list[tuple[str, str]] = [(f"escalation_path.{i}", who) for i, who in enumerate(s.escalation_path)]
    for section in ("route_policy", "context_budget", "tool_policy", "cache_strategy", "prompt_family"):
        owner = getattr(s, section).owner
        if owner:
            named.append((f"{section}.owner", owner))
    for activity, entry in s.raci.items():
        for part in ("responsible", "consulted", "informed"):
            named += [(f"raci.{activity}.{part}.{i}", who) for i, who in enumerate(getattr(entry, part))]
        if isinstance(entry.accountable, str):
            named.append((f"raci.{activity}.accountable", entry.accountable))
        else:
            named += [(f"raci.{activity}.accountable.{i}", who) for i, who in enumerate(entry.accountable)]
    for field, who in named:
        problem = identity_problem(who)
        if problem:
            yield ls.error(field, problem, IDENTITY_FIX)


@rule("escalation_path")
def _escalation(ls: LoadedScenario) -> Iterator[InputError]:
    if not ls.scenario.escalation_path:
        yield ls.error("escalation_path", "the escalation path is empty",
                       "list at least one identity to escalate to, first approver first")


# The incident checklist: an incident owner must be able to undo each of the three things a
# release changes (weights, prompt version, tool policy) without improvising.
REQUIRED_ROLLBACK_TARGETS = ("model", "prompt", "tool_policy")


@rule("incident_rollback_targets")
def _rollback_targets(ls: LoadedScenario) -> Iterator[InputError]:
    targets = ls.scenario.incident_process.rollback_targets
    missing = [t for t in REQUIRED_ROLLBACK_TARGETS if t not in targets]
    if missing:
        yield ls.error("incident_process.rollback_targets",
                       f"the incident process cannot roll back {', '.join(missing)}",
                       "list model, prompt and tool_policy under incident_process.rollback_targets")


_env = jinja2.Environment()


@rule("prompt_variables")
def _templates(ls: LoadedScenario) -> Iterator[InputError]:
    family = ls.scenario.prompt_family
    declared = set(family.variables)
    if family.default_version not in family.versions:
        yield ls.error("prompt_family.default_version",
                       f"default version {family.default_version!r} is not among the versions",
                       f"use one of: {', '.join(family.versions)}")
    for version, pv in family.versions.items():
        for part in ("system", "user", "completion"):
            text = getattr(pv, part)
            if text is None:
                continue
            field = f"prompt_family.versions.{version}.{part}"
            try:
                used = jinja2.meta.find_undeclared_variables(_env.parse(text))
            except jinja2.TemplateSyntaxError as exc:
                yield ls.error(field, f"template syntax error: {exc.message}", "fix the {{ }} placeholders")
                continue
            for name in sorted(used - declared):
                yield ls.error(field, f"template uses undeclared variable {name!r}",
                               f"add {name!r} to prompt_family.variables or remove it from the template")


@rule("models")
def _models(ls: LoadedScenario) -> Iterator[InputError]:
    s = ls.scenario
    for role, name in [("incumbent", s.incumbent)] + [(f"candidates.{i}", c) for i, c in enumerate(s.candidates)]:
        if name not in s.models:
            yield ls.error(role, f"{name!r} is not a model entry", f"use one of: {', '.join(s.models)}")
    for name, entry in s.models.items():
        field = f"models.{name}.prompt_version"
        pv = s.prompt_family.versions.get(entry.prompt_version)
        if pv is None:
            yield ls.error(field, f"prompt version {entry.prompt_version!r} does not exist",
                           f"use one of: {', '.join(s.prompt_family.versions)}")
            continue
        if entry.model not in pv.compatible_models and name not in pv.compatible_models:
            yield ls.error(field, f"prompt version {entry.prompt_version!r} is not declared compatible "
                           f"with model {entry.model!r}",
                           f"add {entry.model!r} to prompt_family.versions.{entry.prompt_version}.compatible_models")
        if entry.prompt_style == "completion" and not pv.completion:
            yield ls.error(f"prompt_family.versions.{entry.prompt_version}.completion",
                           f"model entry {name!r} is completion-style but the prompt version has no "
                           "completion template", "add a `completion:` template")


@rule("route_policy")
def _route(ls: LoadedScenario) -> Iterator[InputError]:
    fallback = ls.scenario.route_policy.fallback
    if fallback is not None and fallback not in ls.scenario.models:
        yield ls.error("route_policy.fallback", f"fallback {fallback!r} is not a model entry",
                       f"use one of: {', '.join(ls.scenario.models)}")


@rule("task_and_scoring")
def _task_scoring(ls: LoadedScenario) -> Iterator[InputError]:
    s = ls.scenario
    if s.task.kind == "label" and not s.task.labels:
        yield ls.error("task.labels", "a label task needs its label set", "list the labels under task.labels")
    if s.task.kind == "json":
        if not s.task.json_schema:
            yield ls.error("task.json_schema", "a json task needs the JSON schema answers must match",
                           "add task.json_schema")
        else:
            import jsonschema

            try:
                jsonschema.Draft202012Validator.check_schema(s.task.json_schema)
            except jsonschema.SchemaError as exc:
                yield ls.error("task.json_schema", f"not a valid JSON schema: {exc.message}",
                               "fix the schema (JSON Schema draft 2020-12)")
    names = [spec.name for spec in s.scoring.scorers]
    for i, name in enumerate(names):
        if name in names[:i]:
            yield ls.error(f"scoring.scorers.{i}.name", f"scorer name {name!r} is used twice",
                           "give every scorer its own name")
    acceptance = s.scoring.acceptance
    for i, name in enumerate(acceptance.scorers or []):
        if name not in names:
            yield ls.error(f"scoring.acceptance.scorers.{i}", f"acceptance names unknown scorer {name!r}",
                           f"use one of: {', '.join(names)}")
    if acceptance.mode == "weighted" and acceptance.threshold is None:
        yield ls.error("scoring.acceptance.threshold", "weighted acceptance needs a threshold",
                       "add scoring.acceptance.threshold in [0, 1]")


@rule("context_budget")
def _budget(ls: LoadedScenario) -> Iterator[InputError]:
    budget = ls.scenario.context_budget
    need = budget.max_prompt_tokens + budget.max_output_tokens
    for name, entry in ls.scenario.models.items():
        if need > entry.serving.max_model_len:
            yield ls.error(f"models.{name}.serving.max_model_len",
                           f"context budget ({budget.max_prompt_tokens} prompt + {budget.max_output_tokens} "
                           f"output = {need} tokens) exceeds the model's maximum length "
                           f"{entry.serving.max_model_len}",
                           "lower the context budget or raise max_model_len")


@rule("slice_fields")
def _slices(ls: LoadedScenario) -> Iterator[InputError]:
    declared = set(ls.scenario.dataset.slice_fields)
    for i, name in enumerate(ls.scenario.success_criteria.slice_guard.fields):
        if name not in declared:
            yield ls.error(f"success_criteria.slice_guard.fields.{i}",
                           f"slice guard field {name!r} is not a dataset slice field",
                           "add it to dataset.slice_fields")


# Values that look like credentials. Keys and tokens belong in the environment: contracts are
# committed, reviewed and copied into MLflow and decision records.
_SECRET_PATTERNS = [
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"), "an OpenAI/Anthropic-style API key"),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "a Hugging Face token"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), "a GitHub token"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"), "a Slack token"),
    (re.compile(r"\bBearer\s+[A-Za-z0-9._\-]{16,}"), "a bearer token"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
]
_SECRETISH_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)$", re.I)


def _entropy(s: str) -> float:
    counts = {c: s.count(c) for c in set(s)}
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def _walk(value: object, path: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}.{i}")
    elif isinstance(value, str):
        yield path, path.rsplit(".", 1)[-1], value


@rule("no_inline_secrets")
def _secrets(ls: LoadedScenario) -> Iterator[InputError]:
    data = ls.scenario.model_dump(mode="json")
    fix = "reference an environment variable instead (api_key_env: NAME) and keep the value out of the file"
    for path, key, value in _walk(data, ""):
        for pattern, what in _SECRET_PATTERNS:
            if pattern.search(value):
                yield ls.error(path, f"value looks like {what}; secrets must not be inline", fix)
                break
        else:
            if (_SECRETISH_KEY.search(key) and not key.endswith("_env") and len(value) >= 16
                    and " " not in value and _entropy(value) > 3.5):
                yield ls.error(path, "value looks like a secret; secrets must not be inline", fix)


@rule("dataset_digest")
def _digest(ls: LoadedScenario) -> Iterator[InputError]:
    ref = ls.scenario.dataset
    path = ls.dataset_path
    if not path.is_file():
        yield ls.error("dataset.path", f"dataset file {path} does not exist",
                       "point dataset.path at the cases file, relative to the scenario folder")
        return
    actual = file_sha256(path)
    if actual != ref.sha256:
        yield ls.error("dataset.sha256", f"dataset digest mismatch: the file's bytes hash to {actual}, "
                       f"the contract says {ref.sha256}",
                       "if the change is intended, update dataset.sha256 "
                       f"(`releasegate datasets digest {path}`)")


def check_scenario(loaded: LoadedScenario) -> list[InputError]:
    """All rule violations of a parsed contract (empty when it is valid)."""
    return [err for fn in RULES.values() for err in fn(loaded)]


def scenario_errors(path: str | Path) -> list[InputError]:
    """Every problem of a contract file: all schema violations, or (once the schema holds) every
    rule violation. Empty when the contract is valid."""
    loaded, errors = read_scenario(path)
    if loaded is None:
        return errors
    return check_scenario(loaded)


def validate_scenario(path: str | Path) -> LoadedScenario:
    """Parse and check a contract; raise the first violation as an `InputError`."""
    loaded, errors = read_scenario(path)
    if loaded is not None:
        errors = check_scenario(loaded)
    if errors:
        raise errors[0]
    assert loaded is not None
    return loaded


@rule("repeats_need_sampling")
def _repeats_need_sampling(ls: LoadedScenario) -> Iterator[InputError]:
    """k generations per case only measure anything when generation samples: at temperature 0
    every repeat is the same greedy answer and k - 1 of them are wasted."""
    sampling = ls.scenario.sampling
    if sampling.repeats > 1 and sampling.temperature == 0:
        yield ls.error("sampling.repeats", f"{sampling.repeats} repeats per case at temperature 0 give "
                       "the same answer k times", "set sampling.temperature above 0, or repeats: 1")


@rule("calibrated_judge_not_sequential")
def _calibrated_not_sequential(ls: LoadedScenario) -> Iterator[InputError]:
    """The confidence sequence runs on judged outcomes; stopping on it would ignore the judge's
    misclassification that the calibration exists to correct."""
    s = ls.scenario
    if s.scoring.calibration is not None and s.success_criteria.sequential:
        yield ls.error("success_criteria.sequential", "sequential stopping is not corrected for the judge's "
                       "errors (scoring.calibration is set)", "set success_criteria.sequential: false")
