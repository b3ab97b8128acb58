"""A released world for the gateway tests (a uniquely named module: test folders are not packages).

Two packaged model names point at small folders of our own in RELEASEGATE_MODELS_DIR, with
manifests like `models prepare` writes, so decisions name the real digest of bytes on disk.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from releases_fixtures import ESCALATION, INTRUDER, PLATFORM, PRODUCT, make_verdict, write_scenario

from releasegate.gpu import weight_digest
from releasegate.releases import (
    Keyring,
    Ledger,
    build_decision,
    generate_key,
    load_private_key,
    promote,
    record_approval,
    record_evaluation,
)
from releasegate.releases._keys import private_key_path
from releasegate.scenarios import load_scenario

MODELS = {"gemma3-270m": ("gemma3-v1", "completion"), "smollm2-135m-instruct": ("smollm2-v2", "chat")}


def write_weights(models_dir: Path, name: str, prompt_style: str) -> str:
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["Tiny"], "name": name}))
    (folder / "model.safetensors").write_bytes(f"weights of {name} ".encode() * 4096)
    (folder / "tokenizer.json").write_text("{}")
    digest = weight_digest(folder)
    (models_dir / f"{name}.json").write_text(json.dumps({
        "name": name, "path": str(folder), "digest": digest, "prompt_style": prompt_style,
        "max_model_len": 2048}))
    return digest


@dataclass
class World:
    root: Path
    decisions: dict[str, dict]  # entry -> signed envelope
    versions: dict[str, str]  # entry -> model version
    digests: dict[str, str]  # model name -> weight digest


ENV_DIRS = (("RELEASEGATE_HOME", "state"), ("RELEASEGATE_KEYS_DIR", "keys"),
            ("RELEASEGATE_KEYRING", "keyring.yaml"), ("RELEASEGATE_DATASETS", "datasets"),
            ("RELEASEGATE_MODELS_DIR", "models"))


def _point_env_at(root: Path, mp: pytest.MonkeyPatch) -> None:
    for var, sub in ENV_DIRS:
        mp.setenv(var, str(root / sub))
    mp.setenv("RELEASEGATE_ACTOR", "test-runner")
    mp.delenv("RELEASEGATE_LEDGER_URL", raising=False)
    mp.delenv("RELEASEGATE_MLFLOW_URI", raising=False)


def use_prepared_model(models_dir: Path, name: str, manifest: dict) -> str:
    """Point `name` at a folder prepared by `models prepare` elsewhere (real weights, for vLLM)."""
    (models_dir / name).mkdir(parents=True, exist_ok=True)
    (models_dir / f"{name}.json").write_text(json.dumps(manifest))
    return str(manifest["digest"])


def build_world(root: Path, mp: pytest.MonkeyPatch, *, route_fallback: str | None = None,
                prepared: dict[str, dict] | None = None) -> World:
    """Two recorded, fully approved decisions (gemma3-v1, smollm2-v2); gemma3-v1 promoted.
    `prepared`: model name -> a real `models prepare` manifest to use instead of small folders."""
    _point_env_at(root, mp)
    prepared = prepared or {}
    digests = {name: use_prepared_model(root / "models", name, prepared[name]) if name in prepared
               else write_weights(root / "models", name, style) for name, (_, style) in MODELS.items()}
    overrides = {}
    if route_fallback:
        overrides["route_policy"] = {"mode": "direct", "fallback": route_fallback, "human_review": False,
                                     "owner": PLATFORM}
    write_scenario(root / "datasets" / "support-triage", **overrides)
    loaded = load_scenario("support-triage")
    for identity in (PRODUCT, PLATFORM, INTRUDER, ESCALATION):
        generate_key(identity)
    ledger, ring = Ledger.open(), Keyring.load()
    decisions, versions = {}, {}
    # Dated a day ago, not on a fixed day: decisions expire (30 days by default).
    day_ago = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
    for i, (model, (entry, _)) in enumerate(MODELS.items()):
        verdict = make_verdict(loaded, candidate=entry, model=model)
        verdict = dataclasses.replace(verdict, candidate=dataclasses.replace(
            verdict.candidate, model_digest=digests[model]))
        env = build_decision(loaded, verdict, candidate_model_digest=digests[model],
                             created_at=(day_ago + dt.timedelta(seconds=i)).isoformat())
        rec = record_evaluation(loaded, verdict, env, ledger=ledger)
        assert rec["mlflow_error"] is None
        for role, who in (("product", PRODUCT), ("platform", PLATFORM)):
            env, _ = record_approval(env, role, load_private_key(private_key_path(who)), keyring=ring,
                                     ledger=ledger, decision_path=rec["decision_path"], loaded=loaded)
        decisions[entry], versions[entry] = env, rec["model_version"]
    assert promote("support-triage", decisions["gemma3-v1"], ledger=ledger).promoted
    ledger.close()
    return World(root, decisions, versions, digests)


@pytest.fixture(scope="module")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Built once per module (MLflow's first store is slow); each test gets a copy."""
    with pytest.MonkeyPatch.context() as mp:
        yield build_world(tmp_path_factory.mktemp("gateway-world"), mp)


@pytest.fixture
def world(world_template: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    root = tmp_path / "world"
    shutil.copytree(world_template.root, root, symlinks=True)
    for manifest in (root / "models").glob("*.json"):  # `models prepare` manifests hold absolute paths
        data = json.loads(manifest.read_text())
        data["path"] = str(root / "models" / data["name"])
        manifest.write_text(json.dumps(data))
    _point_env_at(root, monkeypatch)
    return dataclasses.replace(world_template, root=root)
