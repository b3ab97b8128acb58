"""Promote killed at every ledger/MLflow boundary (issue 13): the next promote or `audit --repair`
finishes or undoes the interrupted promotion, for the model aliases and the prompt alias together,
and leaves MLflow and the ledger consistent."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_registry import World, aliases, world  # noqa: F401  (the module-scoped world fixture)

from releasegate.releases import Ledger, audit, promote, rollback
from releasegate.releases._intent import FAULT_STEPS, pending_intents, prompt_alias_version
from releasegate.releases._recording import expected_aliases
from releasegate.releases._registry import client

SID = "support-triage"


def _champion_is(world: World, key: str) -> None:
    c = client()
    if aliases(c).get("champion") != world.versions[key]:
        # Promote it back rather than roll back: a model rollback revokes the decision it rolls
        # back from (issue 15), and the next test promotes that decision again.
        moves = [e for e in Ledger.open().events(event_type=("promoted", "rolled_back"))
                 if e.payload.get("target", "model") == "model"]
        current = moves[-1].payload.get("decision_digest") if moves else None
        result = promote(SID, json.loads(getattr(world, key).read_text()), replaces=current)
        assert result.promoted, result.reasons
    # the prompt alias follows too, so that the promotion under test really moves it
    promoted = [e for e in Ledger.open().events(event_type="promoted") if e.payload["version"] == world.versions[key]]
    uri = promoted[-1].payload["prompt"].get("uri")
    if uri:
        name, version = uri.rsplit("/", 2)[1].split(":/")[-1], uri.rsplit("/", 1)[1]
        if prompt_alias_version(c, name, "champion") != version:
            rollback(SID, reason="reset the prompt for the fault test", to=version, target="prompt")


def _killed_promote(world: World, step: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RELEASEGATE_FAULT": f"promote:{step}"}
    return subprocess.run([sys.executable, "-m", "releasegate.flows.cli", "promote", "--scenario", SID,
                           "--decision", str(world.b)], env=env, capture_output=True, text=True, timeout=300)


def _consistent(ledger: Ledger) -> None:
    c = client()
    with ledger.scenario_lock(SID) as conn:
        assert pending_intents(ledger, SID, conn) == []
        assert aliases(c) == expected_aliases(ledger, SID, conn)
    assert ledger.verify() == []


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_killed_promote_is_finished_or_undone(world: World, step: str) -> None:  # noqa: F811
    _champion_is(world, "a")
    c = client()
    ledger = Ledger.open()
    killed = _killed_promote(world, step)
    assert killed.returncode == 137, killed.stdout + killed.stderr
    intent = ledger.events(scenario_id=SID, event_type="promotion_intent")[-1]
    with ledger.scenario_lock(SID) as conn:
        assert [e.seq for e in pending_intents(ledger, SID, conn)] == [intent.seq]  # recognised
    prompt = intent.payload["prompt_alias"]
    if FAULT_STEPS.index(step) % 2 == 0:  # recovered by the next promote of the same decision
        result = promote(SID, json.loads(world.b.read_text()), ledger=ledger)
        assert result.recovered and not result.reasons, result
        assert aliases(c)["champion"] == world.versions["b"]
    else:  # recovered by audit --repair
        report = audit([SID], repair=True, ledger=ledger)
        assert report.recovered[SID], report
    outcome = [e for e in ledger.events(scenario_id=SID, event_type=("promoted", "promotion_abandoned"))
               if e.payload.get("intent_seq") == intent.seq]
    assert len(outcome) == 1
    finished = outcome[0].event_type == "promoted"
    # killed before every planned alias moved: undone; after all of them moved: finished
    moved = {"after_intent": 0, "after_model_alias": 1, "after_previous_alias": 2,
             "after_prompt_alias": 3, "before_outcome_commit": 3}[step]
    planned = len(intent.payload["moves"]) + (1 if prompt and prompt["from"] != prompt["to"] else 0)
    assert finished == (moved >= planned), (step, intent.payload["moves"], prompt)
    if prompt:
        want = prompt["to"] if finished else prompt["from"]
        if FAULT_STEPS.index(step) % 2 == 0:
            want = prompt["to"]  # the recovering promote moved it again
        assert prompt_alias_version(c, prompt["name"], "champion") == want
    _consistent(ledger)


def test_fault_steps_name_every_boundary() -> None:
    assert FAULT_STEPS == ("after_intent", "after_model_alias", "after_previous_alias", "after_prompt_alias",
                           "before_outcome_commit")
