"""A decision releases exactly what it names (issue 15): each path that moved an alias the signed
decision never allowed, tried as an attacker would, must be refused.

One module-scoped MLflow world: decision A (gemma3-v1, prompt v1) and decision B (smollm2-v2,
prompt v2), both PASS, recorded and approved by both owners; C like A but made 40 days ago.
Tests run in file order and share the registry.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from releases_fixtures import PLATFORM, PRODUCT, make_verdict, weights_digest, write_scenario
from typer.testing import CliRunner

from releasegate.flows.cli import app
from releasegate.releases import (
    Keyring,
    Ledger,
    build_decision,
    generate_key,
    load_private_key,
    record_approval,
    record_evaluation,
)
from releasegate.releases._keys import private_key_path
from releasegate.releases._registry import _fluent, client, mlflow_uri
from releasegate.scenarios import load_scenario

CI = "release-ci@platform.example"


@dataclass
class World:
    root: Path
    a: Path
    b: Path
    old: Path
    versions: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("binding")
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in (("RELEASEGATE_HOME", "state"), ("RELEASEGATE_KEYS_DIR", "keys"),
                         ("RELEASEGATE_KEYRING", "keyring.yaml"), ("RELEASEGATE_DATASETS", "datasets")):
            mp.setenv(var, str(root / sub))
        for var in ("RELEASEGATE_LEDGER_URL", "RELEASEGATE_MLFLOW_URI", "RELEASEGATE_CHECKPOINT_DIR"):
            mp.delenv(var, raising=False)
        write_scenario(root / "datasets" / "support-triage")
        loaded = load_scenario("support-triage")
        for identity in (PRODUCT, PLATFORM, CI, "releasegate-ledger"):
            generate_key(identity)
        mp.setenv("RELEASEGATE_ACTOR_KEY", str(private_key_path(CI)))
        ledger, ring = Ledger.open(), Keyring.load()
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

        def record(entry: str, model: str, created: dt.datetime) -> dict:
            verdict = make_verdict(loaded, candidate=entry, model=model)
            env = build_decision(loaded, verdict, candidate_model_digest=weights_digest(model),
                                 created_at=created.isoformat())
            rec = record_evaluation(loaded, verdict, env, ledger=ledger)
            env = json.loads(Path(rec["decision_path"]).read_text())
            for role, who in (("product", PRODUCT), ("platform", PLATFORM)):
                env, _ = record_approval(env, role, load_private_key(private_key_path(who)), keyring=ring,
                                         ledger=ledger, decision_path=rec["decision_path"], loaded=loaded)
            return rec

        a = record("gemma3-v1", "gemma3-270m", now)
        b = record("smollm2-v2", "smollm2-135m-instruct", now - dt.timedelta(seconds=1))
        old = record("gemma3-v1", "gemma3-270m", now - dt.timedelta(days=40))
        yield World(root, Path(a["decision_path"]), Path(b["decision_path"]), Path(old["decision_path"]),
                    {"a": a["model_version"], "b": b["model_version"], "old": old["model_version"]})


def rg(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def promote(decision: Path, *extra: str) -> tuple[int, str]:
    return rg("promote", "--scenario", "support-triage", "--decision", str(decision), *extra)


def _forge(world: World, *, prompt_of: str | None = None, run_of: str | None = None) -> str:
    """A model version with decision A's tags, registered straight in MLflow."""
    c = client()
    a = c.get_model_version("support-triage", world.versions["a"])
    tags = dict(a.tags)
    if prompt_of:
        tags["prompt_uri"] = c.get_model_version("support-triage", world.versions[prompt_of]).tags["prompt_uri"]
    run_id = c.get_model_version("support-triage", world.versions[run_of]).run_id if run_of else a.run_id
    with _fluent(mlflow_uri()):  # resolving a models:/ source reads the global tracking URI
        mv = c.create_model_version("support-triage", a.source, run_id=run_id, tags=tags)
    return str(mv.version)


def test_forged_version_with_the_decisions_tags_but_another_prompt_is_refused(world: World) -> None:
    forged = _forge(world, prompt_of="b")
    code, out = promote(world.a, "--version", forged)
    assert code == 1
    assert f"model version {forged} is not the one releasegate registered for decision" in out
    assert "is contract version 'v2', the decision says 'v1'" in out


def test_forged_version_with_another_source_run_is_refused(world: World) -> None:
    forged = _forge(world, run_of="b")
    code, out = promote(world.a, "--version", forged)
    assert code == 1 and f"model version {forged}'s source run" in out and "is not the evaluation run" in out


def test_the_decision_moves_only_the_aliases_it_names(world: World) -> None:
    code, out = promote(world.a, "--alias", "challenger")
    assert code == 1 and "the decision may move champion, not challenger" in out
    code, out = promote(world.a)
    assert code == 0, out
    assert "checkpoint: row" in out  # the move was checkpointed


def test_an_expired_decision_is_refused(world: World) -> None:
    code, out = promote(world.old)
    assert code == 1 and "expired at" in out and "evaluate again" in out


def test_a_rolled_back_release_revokes_its_decision(world: World) -> None:
    assert promote(world.b)[0] == 0
    code, out = rg("rollback", "--scenario", "support-triage", "--reason", "misroutes refunds")
    assert code == 0 and f"{world.versions['b']} -> {world.versions['a']}" in out
    revoked = Ledger.open().events(event_type="decision_revoked")
    assert len(revoked) == 1 and revoked[0].payload["version"] == world.versions["b"]
    assert revoked[0].actor == CI and revoked[0].actor_signature  # a privileged, signed row
    code, out = promote(world.b)
    assert code == 1 and "was revoked" in out and "fresh approvals" in out


def test_rollback_to_a_version_rolled_back_as_bad_is_refused(world: World) -> None:
    code, out = rg("rollback", "--scenario", "support-triage", "--to", world.versions["b"], "--reason", "try again")
    assert code == 1 and f"version {world.versions['b']} was rolled back as bad" in out


def test_a_prompt_alias_moved_in_mlflow_is_detected_and_repaired(world: World) -> None:
    c = client()
    name = "support-triage-router"
    want = str(c.get_prompt_version_by_alias(name, "champion").version)
    other = "1" if want != "1" else "2"
    assert rg("audit")[0] == 0
    c.set_prompt_alias(name, "champion", int(other))  # behind releasegate's back
    code, out = rg("audit")
    assert code == 1
    assert f"prompt {name}@champion points at version {other}, the ledger says {want}" in out
    code, out = rg("audit", "--repair")
    assert code == 0 and f"repaired to {want}" in out
    assert str(c.get_prompt_version_by_alias(name, "champion").version) == want
    assert rg("audit")[0] == 0


def test_the_ledger_of_this_story_verifies(world: World) -> None:
    code, out = rg("ledger", "verify")
    assert code == 0 and "ledger intact" in out, out
