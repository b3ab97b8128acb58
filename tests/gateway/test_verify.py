"""Verify before serve: what the ledger released, signed by the current owners, with its weights."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from gateway_fixtures import World, world, world_template  # noqa: F401 (fixtures)
from releases_fixtures import INTRUDER

from releasegate.core import Refused
from releasegate.gateway import manifest_weight_digest, verify_servable, weights_manifest
from releasegate.gpu import weight_digest
from releasegate.releases import Ledger


def test_the_promoted_champion_is_servable(world: World) -> None:
    release = verify_servable("support-triage", "champion")
    assert release.version == world.versions["gemma3-v1"]
    assert release.entry == "gemma3-v1" and release.model == "gemma3-270m"
    assert release.weight_digest == world.digests["gemma3-270m"]
    assert set(release.manifest) == {"config.json", "model.safetensors", "tokenizer.json"}


def test_manifest_digest_is_the_gpu_weight_digest(world: World) -> None:
    folder = world.root / "models" / "smollm2-135m-instruct"
    manifest = weights_manifest(folder)
    assert manifest_weight_digest(manifest) == weight_digest(folder)
    import hashlib
    assert manifest["config.json"] == hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()


def test_weights_changed_on_disk_are_not_loaded(world: World) -> None:
    weights = world.root / "models" / "gemma3-270m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(Refused) as refused:
        verify_servable("support-triage", "champion")
    assert "refusing to load them" in str(refused.value)


def test_an_extra_file_or_symlink_in_the_weights_is_refused(world: World) -> None:
    folder = world.root / "models" / "gemma3-270m"
    (folder / "extra.bin").write_bytes(b"x")
    with pytest.raises(Refused, match="refusing to load them") as refused:
        verify_servable("support-triage", "champion")
    assert refused.value.code == "serve"
    (folder / "extra.bin").unlink()
    (folder / "link.bin").symlink_to(folder / "config.json")
    with pytest.raises(Refused, match="cannot be hashed"):
        verify_servable("support-triage", "champion")


def test_a_tampered_decision_in_the_ledger_is_not_served(world: World) -> None:
    # The ledger row keeps the envelope; the chain is the ledger's business (ledger verify), the
    # signature is ours: change the payload and the owners' signatures no longer verify.
    ledger = Ledger.open()
    promo = [e for e in ledger.events(scenario_id="support-triage", event_type="promoted")][-1]
    env = promo.payload["envelope"]
    import base64
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["predicate"]["verdict"]["decision"] = "PASS"
    statement["predicate"]["tool_policy_version"] = "v9"
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    from sqlalchemy import text
    with ledger.transaction() as conn:
        conn.execute(text("UPDATE ledger_events SET payload = :p WHERE seq = :s"),
                     {"p": json.dumps(promo.payload), "s": promo.seq})
    with pytest.raises(Refused) as refused:
        verify_servable("support-triage", "champion")
    assert "no valid product signature" in str(refused.value)
    assert "no valid platform signature" in str(refused.value)


def test_a_decision_signed_by_someone_else_is_not_served(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The contract's product owner changes: the released decision no longer carries the owner's key.
    import yaml
    path = world.root / "datasets" / "support-triage" / "scenario.yaml"
    data = yaml.safe_load(path.read_text())
    data["owners"]["product"]["id"] = INTRUDER
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(Refused) as refused:
        verify_servable("support-triage", "champion")
    assert f"as product owner, the contract names {INTRUDER}" in str(refused.value)


def test_a_revoked_decision_is_not_served(world: World) -> None:
    release = verify_servable("support-triage", "champion")
    Ledger.open().append("decision_revoked", "support-triage",
                         {"decision_digest": release.decision_digest, "reason": "key compromised"},
                         subject=release.decision_digest, actor="security@platform.example")
    with pytest.raises(Refused, match="was revoked .*key compromised"):
        verify_servable("support-triage", "champion")


def test_an_expired_decision_is_not_served(world: World) -> None:
    from releasegate.gateway import decision_reasons
    from releasegate.releases import Keyring
    from releasegate.scenarios import load_scenario
    import base64
    env = dict(world.decisions["gemma3-v1"])
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["predicate"]["expires_at"] = "2026-11-30T00:00:00+00:00"
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    reasons = decision_reasons(load_scenario("support-triage"), env, keyring=Keyring.load(), ledger=Ledger.open(),
                               now=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
    assert any("expired at 2026-11-30" in r for r in reasons)


def test_an_alias_moved_outside_releasegate_is_not_served(world: World) -> None:
    from mlflow import MlflowClient
    from releasegate.releases import mlflow_uri
    c = MlflowClient(tracking_uri=mlflow_uri(), registry_uri=mlflow_uri())
    c.set_registered_model_alias("support-triage", "champion", world.versions["smollm2-v2"])
    with pytest.raises(Refused, match="drift"):
        verify_servable("support-triage", "champion")


def test_nothing_promoted_is_nothing_to_serve(world: World) -> None:
    with pytest.raises(Refused, match="the ledger has no canary"):
        verify_servable("support-triage", "canary")


def test_serve_command_refuses_before_vllm_starts(world: World) -> None:
    from typer.testing import CliRunner

    from releasegate.core import state_dir
    from releasegate.flows.cli import app

    weights = world.root / "models" / "gemma3-270m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    result = CliRunner().invoke(app, ["serve", "--scenario", "support-triage", "--alias", "champion"])
    assert result.exit_code == 1
    assert "refusing to serve support-triage@champion" in result.output and "refusing to load them" in result.output
    assert not list((state_dir() / "servers").glob("*.log"))  # no vLLM was started
    assert [e.event_type for e in Ledger.open().events(event_type="serving_started")] == []
