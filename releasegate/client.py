"""`releasegate.client`: call a scenario by id, for product teams.

The product holds no provider key and no model name: it names the scenario and passes the prompt
variables. The client renders the prompt version MLflow's prompt registry holds under the
scenario's alias (the alias releasegate moves on promote and on `rollback --target prompt`, so a
prompt rollback reaches the next request) and sends it to the scenario's endpoint on MLflow's AI
Gateway, which routes to the verified replicas of the released model.

    from releasegate.client import call_scenario
    answer = call_scenario("support-triage", {"message": "I was charged twice", "channel": "email"},
                           gateway_url="http://mlflow:5000")
    answer.text, answer.prompt_version, answer.model

Deliberately small: httpx and MLflow's client only, no releasegate stage (products import it alone).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import httpx

GATEWAY_URL_ENV = "RELEASEGATE_GATEWAY_URL"


class ScenarioCallError(RuntimeError):
    """The scenario could not be called (no released prompt, the gateway refused, ...)."""


@dataclass(frozen=True)
class ScenarioAnswer:
    text: str
    model: str  # the upstream model that answered (a verified replica's served name)
    prompt_name: str
    prompt_version: str  # the contract's prompt version (MLflow tag releasegate.prompt_version)
    usage: dict[str, Any] = field(default_factory=dict)


def _mlflow(uri: str | None) -> Any:
    from mlflow import MlflowClient

    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def released_prompt(scenario_id: str, *, alias: str = "champion", mlflow_uri: str | None = None) -> Any:
    """The MLflow prompt version the scenario's alias serves (its family read from the champion)."""
    c = _mlflow(mlflow_uri)
    try:
        mv = c.get_model_version_by_alias(scenario_id, alias)
    except Exception as exc:
        raise ScenarioCallError(f"{scenario_id} has no {alias}: nothing released to call") from exc
    uri = (mv.tags or {}).get("prompt_uri")
    if not uri:
        raise ScenarioCallError(f"{scenario_id}@{alias} (version {mv.version}) names no prompt")
    name = uri.removeprefix("prompts:/").split("/")[0]
    return c.get_prompt_version_by_alias(name, alias)


def call_scenario(scenario_id: str, variables: dict[str, Any], *, gateway_url: str | None = None,
                  alias: str = "champion", mlflow_uri: str | None = None, max_tokens: int | None = None,
                  temperature: float | None = 0.0, timeout_s: float = 60.0) -> ScenarioAnswer:
    """Render the released prompt with `variables` and call the scenario's gateway endpoint."""
    url = gateway_url or os.environ.get(GATEWAY_URL_ENV)
    if not url:
        raise ScenarioCallError(f"no gateway URL: pass gateway_url or set {GATEWAY_URL_ENV}")
    # The gateway's MLflow server is also the prompt registry, unless told otherwise.
    prompt = released_prompt(scenario_id, alias=alias, mlflow_uri=mlflow_uri or url)
    if not prompt.is_text_prompt:
        messages = prompt.format(**{k: "" if v is None else str(v) for k, v in variables.items()})
    else:
        messages = [{"role": "user", "content": prompt.format(**variables)}]
    body: dict[str, Any] = {"model": scenario_id, "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    stop = (prompt.model_config or {}).get("stop_sequences")
    if stop:
        body["stop"] = stop
    r = httpx.post(url.rstrip("/") + "/gateway/mlflow/v1/chat/completions", json=body, timeout=timeout_s)
    if r.status_code != 200:
        raise ScenarioCallError(f"gateway answered {r.status_code} for {scenario_id}: {r.text[:300]}")
    data = r.json()
    return ScenarioAnswer(text=data["choices"][0]["message"]["content"] or "", model=str(data.get("model")),
                          prompt_name=prompt.name,
                          prompt_version=(prompt.tags or {}).get("releasegate.prompt_version", str(prompt.version)),
                          usage=data.get("usage") or {})
