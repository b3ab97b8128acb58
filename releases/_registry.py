"""MLflow 3.17.2: experiments, evaluation runs, the scenario's registered model, prompt registry.

MLflow is a projection of the ledger: everything here can be re-done from a ledger event
(`push_event`), and every push is idempotent (it finds what an earlier, interrupted push made by
the decision digest), so `releasegate sync` after an outage loses and duplicates nothing.
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releasegate.core import state_dir

from ._events import event_types

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from ._ledger import LedgerEvent

SYNCED_EVENT_TYPES = event_types("mlflow_sync")  # the events `push_event` knows
_uri_lock = threading.RLock()


def mlflow_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("RELEASEGATE_MLFLOW_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def registered_model_name(scenario_id: str) -> str:
    return scenario_id


def experiment_name(scenario_id: str) -> str:
    return f"releasegate/{scenario_id}"


def _quiet() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


DEFAULT_MLFLOW_TIMEOUT_S = 5.0


def _http_limits() -> None:
    """A short, bounded wait on an MLflow server (issue 13). MLflow's HTTP client reads its
    MLFLOW_HTTP_REQUEST_TIMEOUT (default 120 s), _MAX_RETRIES (7) and _BACKOFF_FACTOR (2) at each
    request: about five minutes of retries against a server that is down. RELEASEGATE_MLFLOW_TIMEOUT
    (seconds, default 5) sets the timeout; unless set by the user, two retries, one after 0 s and
    one after 2 s. MLflow is a projection of the ledger: what a call misses, `sync` pushes later."""
    from ._ledger import seconds_from_env

    if os.environ.get("RELEASEGATE_MLFLOW_TIMEOUT"):
        timeout = seconds_from_env("RELEASEGATE_MLFLOW_TIMEOUT", DEFAULT_MLFLOW_TIMEOUT_S)
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(timeout)))  # MLflow reads an int
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(DEFAULT_MLFLOW_TIMEOUT_S)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def display_uri(uri: str | None = None) -> str:
    """The MLflow URI as it may be printed: any password in it replaced by ***."""
    return re.sub(r"(://[^/:@]+):[^/@]*@", r"\1:***@", mlflow_uri(uri))


def client(uri: str | None = None) -> MlflowClient:
    _quiet()
    _http_limits()
    from mlflow import MlflowClient

    uri = mlflow_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def _fluent(uri: str) -> Iterator[None]:
    """The fluent APIs (create_external_model, register_prompt) read a global URI: pin it."""
    import mlflow

    with _uri_lock:
        old_t, old_r = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(old_t)
            mlflow.set_registry_uri(old_r)


def ensure_experiment(c: MlflowClient, scenario_id: str, uri: str) -> str:
    exp = c.get_experiment_by_name(experiment_name(scenario_id))
    if exp is not None:
        return exp.experiment_id
    location = None
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        # A local store: keep artifacts in the state folder, not ./mlruns of whatever cwd.
        folder = state_dir() / "mlartifacts" / scenario_id
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.as_uri()
    try:
        return c.create_experiment(experiment_name(scenario_id), artifact_location=location)
    except Exception:  # created concurrently
        exp = c.get_experiment_by_name(experiment_name(scenario_id))
        if exp is None:
            raise
        return exp.experiment_id


def _metric_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /:]", "_", name)[:250]


def _numbers(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, bool):
        out[_metric_name(prefix)] = float(value)
    elif isinstance(value, (int, float)):
        if math.isfinite(value):
            out[_metric_name(prefix)] = float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _numbers(f"{prefix}.{k}" if prefix else str(k), v, out)


def verdict_metrics(verdict: dict[str, Any]) -> dict[str, float]:
    """Rates, interval bounds, cost per accepted outcome, latency: every number in the verdict."""
    out: dict[str, float] = {}
    _numbers("", verdict.get("metrics") or {}, out)
    for check in verdict.get("checks", []):
        for part in ("value", "ci_low", "ci_high", "threshold"):
            _numbers(f"check.{check['name']}.{part}", check.get(part), out)
    out["n"] = float(verdict.get("n", 0))
    return out


def find_version_by_decision(c: MlflowClient, scenario_id: str, digest: str) -> ModelVersion | None:
    for mv in _versions(c, scenario_id):
        if mv.tags.get("decision_digest") == digest:
            return mv
    return None


def _versions(c: MlflowClient, scenario_id: str) -> list[ModelVersion]:
    # An unknown model gives []; a registry that is down raises (and must not read as "none").
    return list(c.search_model_versions(f"name='{registered_model_name(scenario_id)}'"))


def prompt_versions(c: MlflowClient, name: str, page_size: int = 200) -> list[Any]:
    """Every version of prompt `name`, newest first ([] when the prompt does not exist).

    `search_prompt_versions` returns a PagedList (a list with a `.token`), one page at a time;
    any other failure (registry down) raises rather than reading as "no versions".
    """
    from mlflow.exceptions import MlflowException

    out: list[Any] = []
    token: str | None = None
    while True:
        try:
            page = c.search_prompt_versions(name, max_results=page_size, page_token=token)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" and not out:
                return []
            raise
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def ensure_prompt_versions(c: MlflowClient, uri: str, family: dict[str, Any]) -> dict[str, int]:
    """Register each contract prompt version once in MLflow's prompt registry: version -> MLflow version."""
    import mlflow.genai

    name = family["name"]
    known: dict[str, int] = {}
    for pv in prompt_versions(c, name):
        tag = (pv.tags or {}).get("releasegate.prompt_version")
        if tag and tag not in known:  # newest first: a re-registered version keeps the newest
            known[tag] = int(pv.version)
    with _fluent(uri):
        for version, spec in sorted(family["versions"].items()):
            if version in known:
                continue
            messages = ([{"role": "system", "content": spec["system"]}] if spec.get("system") else [])
            messages.append({"role": "user", "content": spec["user"]})
            pv = mlflow.genai.register_prompt(
                name=name, template=messages, commit_message=f"contract prompt version {version}",
                tags={"releasegate.prompt_version": version,
                      "compatible_models": ",".join(spec.get("compatible_models", []))})
            # Model compatibility lives with the prompt, so a prompt rollback carries it.
            mlflow.genai.set_prompt_model_config(
                name=name, version=pv.version,
                model_config={"stop_sequences": spec.get("stop") or None,
                              "extra_params": {"compatible_models": spec.get("compatible_models", [])}})
            known[version] = int(pv.version)
    return known


def push_evaluated(event: LedgerEvent, uri: str | None = None) -> dict[str, Any]:
    """Project an `evaluated` ledger event into MLflow: run, logged model, model version, prompts."""
    import mlflow

    from ._decision import statement_of

    uri = mlflow_uri(uri)
    c = client(uri)
    p = event.payload
    envelope = p["envelope"]
    statement = statement_of(envelope)
    pred = statement["predicate"]
    verdict = pred["verdict"]
    scenario_id = pred["scenario_id"]
    digest = p["decision_digest"]
    weight_digest = statement["subject"][0]["digest"]["sha256"]
    exp_id = ensure_experiment(c, scenario_id, uri)

    existing = c.search_runs([exp_id], filter_string=f"tags.decision_digest = '{digest}'", max_results=1)
    if existing:
        run_id = existing[0].info.run_id
    else:
        run = c.create_run(exp_id, run_name=f"{pred['candidate']['entry']}-{digest[:8]}",
                           tags={"decision_digest": digest, "verdict": verdict["decision"],
                                 "scenario_id": scenario_id, "ledger_seq": str(event.seq)})
        run_id = run.info.run_id
        params = {
            "scenario_id": scenario_id, "candidate_entry": pred["candidate"]["entry"],
            "candidate_model": pred["candidate"]["model"], "candidate_weight_digest": weight_digest,
            "incumbent_entry": pred["incumbent"]["entry"], "incumbent_model": pred["incumbent"]["model"],
            "incumbent_model_digest": pred["incumbent"]["model_digest"],
            "prompt_family": pred["prompt_family"]["name"], "prompt_version": pred["prompt_family"]["version"],
            "incumbent_prompt_version": pred["incumbent"]["prompt_version"],
            "contract_sha256": pred["contract_sha256"], "dataset_sha256": pred["dataset_sha256"],
            "tool_policy_version": pred.get("tool_policy_version"), "confidence": verdict.get("confidence"),
            "seed": verdict.get("seed"), "decision_digest": digest,
        }
        from mlflow.entities import Metric, Param, RunTag

        ts = 0
        c.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()],
                    metrics=[Metric(k, v, ts, 0) for k, v in sorted(verdict_metrics(verdict).items())],
                    tags=[RunTag("report_sha256", str(pred.get("report_sha256")))])
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "verdict.json").write_text(json.dumps(verdict, indent=2, sort_keys=True))
            (Path(tmp) / "decision.dsse.json").write_text(json.dumps(envelope, indent=2, sort_keys=True))
            c.log_artifact(run_id, str(Path(tmp) / "verdict.json"))
            c.log_artifact(run_id, str(Path(tmp) / "decision.dsse.json"))
        for path in p.get("records_paths") or []:
            if Path(path).is_file():
                c.log_artifact(run_id, path, artifact_path="records")
        if p.get("report_path") and Path(p["report_path"]).is_file():
            c.log_artifact(run_id, p["report_path"], artifact_path="report")
        c.set_terminated(run_id, "FINISHED")

    prompts = ensure_prompt_versions(c, uri, p["prompt_family"]) if p.get("prompt_family") else {}
    mv = find_version_by_decision(c, scenario_id, digest)
    if mv is None:
        tags = {"weight_digest": weight_digest, "verdict": verdict["decision"], "decision_digest": digest,
                "scenario_id": scenario_id, "candidate_entry": pred["candidate"]["entry"],
                "prompt_version": pred["prompt_family"]["version"],
                "tool_policy_version": str(pred.get("tool_policy_version"))}
        pv = prompts.get(pred["prompt_family"]["version"])
        if pv is not None:
            tags["prompt_uri"] = f"prompts:/{pred['prompt_family']['name']}/{pv}"
        with _fluent(uri):
            logged = mlflow.create_external_model(
                name=pred["candidate"]["entry"], source_run_id=run_id, experiment_id=exp_id,
                tags=tags, params={"model": pred["candidate"]["model"], "weight_digest": weight_digest},
                model_type="llm")
            for k, v in verdict_metrics(verdict).items():
                if not k.startswith("check."):
                    mlflow.log_metric(k, v, model_id=logged.model_id, run_id=run_id)
            mv = mlflow.register_model(f"models:/{logged.model_id}", registered_model_name(scenario_id),
                                       tags=tags)
    return {"run_id": run_id, "model_version": str(mv.version), "experiment_id": exp_id,
            "prompt_versions": {k: str(v) for k, v in prompts.items()}}


def push_approved(event: LedgerEvent, uri: str | None = None) -> dict[str, Any]:
    c = client(uri)
    mv = find_version_by_decision(c, event.scenario_id, event.payload["decision_digest"])
    if mv is None:
        raise RuntimeError(f"no model version for decision {event.payload['decision_digest'][:12]} yet")
    c.set_model_version_tag(mv.name, mv.version, f"approval.{event.payload['role']}",
                            f"{event.payload['identity']} {event.payload['fingerprint']}")
    return {"model_version": str(mv.version)}


def push_event(event: LedgerEvent, uri: str | None = None) -> dict[str, Any]:
    if event.event_type == "evaluated":
        return push_evaluated(event, uri)
    if event.event_type == "approved":
        return push_approved(event, uri)
    raise ValueError(f"{event.event_type} events are not pushed to MLflow")


def get_alias_version(c: MlflowClient, scenario_id: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(registered_model_name(scenario_id), alias)
    except MlflowException:
        return None


def aliases_of(c: MlflowClient, scenario_id: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        rm = c.get_registered_model(registered_model_name(scenario_id))
    except MlflowException:
        return {}
    return {alias: str(version) for alias, version in (rm.aliases or {}).items()}
