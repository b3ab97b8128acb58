"""End to end with MLflow, through the CLI: a prompt-only PASS released with the product owner's
signature and the platform's signed release policy; a repository key swap refused; a rotation
signed by the old owners; audit and governance report what they saw."""
from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import yaml
from releases_fixtures import INTRUDER, PLATFORM, PRODUCT, Keys, attested, make_verdict, weights_digest
from test_trust_checks import _pass_checks
from trust_fixtures import BOT, ROOTS
from typer.testing import CliRunner

from releasegate.flows.cli import app
from releasegate.releases import Keyring, Ledger, build_decision, record_evaluation, signed_root_or_none
from releasegate.scenarios import LoadedScenario

RUNNER = "runner@platform.example"
LEDGER = "ledger@platform.example"


def rg(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_policy_release_key_swap_and_rotation(scenario: LoadedScenario, keys: Keys, home: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's trust story through the CLI, with the portfolio root pinned (root-required mode)
    and privileged rows signed by the platform owner (RELEASEGATE_ACTOR_KEY, as flows/demo.sh)."""
    for ident in (*ROOTS, BOT, RUNNER, LEDGER):
        assert rg("keys", "generate", "--identity", ident)[0] == 0
    k = {i: str(home / "keys" / f"{i}.pem") for i in (*ROOTS, BOT, PRODUCT, PLATFORM, INTRUDER)}
    code, out = rg("trust", "init", *[a for r in ROOTS for a in ("--root", r)], "--threshold", "2",
                   "--ledger-identity", LEDGER, "--key", k[ROOTS[0]], "--key", k[ROOTS[2]])
    assert code == 0, out
    monkeypatch.setenv("RELEASEGATE_TRUST_ROOT", re.search(r"RELEASEGATE_TRUST_ROOT=(sha256:[0-9a-f]{64})", out)[1])
    monkeypatch.setenv("RELEASEGATE_ACTOR_KEY", k[PLATFORM])
    policy = home / "policy.yaml"
    policy.write_text(yaml.safe_dump({"identity": BOT, "expires": (dt.date.today() + dt.timedelta(days=60)).isoformat(),
                                      "change_kinds": ["prompt_only"], "require_checks": ["cost_ratio", "latency_p95"],
                                      "runners": [RUNNER]}))
    assert rg("trust", "propose", "--scenario", "support-triage", "--policy", str(policy))[0] == 0
    v1 = home / "state" / "trust" / "proposals" / "support-triage-v1.json"
    for ident in (ROOTS[0], ROOTS[1], PRODUCT, PLATFORM):
        assert rg("trust", "sign", str(v1), "--key", k[ident])[0] == 0
    code, out = rg("trust", "apply", str(v1))
    assert code == 0, out
    runners = signed_root_or_none("support-triage").release_policy["runners"]  # type: ignore[union-attr]
    assert runners == {RUNNER: Keyring.load().entries[RUNNER].fingerprint}  # issue 15: the trusted runner

    # a prompt-only PASS (smollm2 weights, prompt v3), recorded in the ledger and MLflow
    verdict = attested(_pass_checks(make_verdict(scenario, candidate="smollm2-v3", model="smollm2-135m-instruct")))
    env = build_decision(scenario, verdict, candidate_model_digest=weights_digest("smollm2-135m-instruct"),
                         trust_root=signed_root_or_none("support-triage"))
    rec = record_evaluation(scenario, verdict, env)
    assert rec["mlflow_error"] is None
    decision = rec["decision_path"]
    code, out = rg("promote", "--scenario", "support-triage", "--decision", decision)
    assert code == 1 and "missing approval: no valid product signature" in out
    assert rg("approve", decision, "--role", "product", "--key", k[PRODUCT])[0] == 0
    code, out = rg("approve", decision, "--role", "platform", "--by-policy", "--key", k[BOT])
    assert code == 0, out
    assert "pass  change_kind: prompt-only change on the incumbent's weights" in out
    code, out = rg("verify", decision)
    assert code == 0 and "fully approved" in out and "not fully" not in out, out
    assert f"{BOT}  role=platform" in out and "by the signed release policy" in out
    code, out = rg("promote", "--scenario", "support-triage", "--decision", decision)
    assert code == 0, out
    promoted = Ledger.open().events(event_type="promoted")[-1]
    assert [s.get("by_policy") for s in promoted.payload["signers"]] == [True, None]
    # what was released by policy serves: verify-before-serve makes promote's signature check
    from releasegate.gateway import decision_reasons
    assert decision_reasons(scenario, promoted.payload["envelope"], keyring=Keyring.load(), ledger=Ledger.open()) == []
    code, out = rg("audit")
    assert code == 0, out
    assert f"first signature by {BOT}" in out

    # the repository's keyring gives the product owner another key: refused, and said so
    shutil.copy(k[PRODUCT], home / "old-product.pem")
    assert rg("keys", "generate", "--identity", PRODUCT, "--force")[0] == 0
    code, out = rg("approve", decision, "--role", "product", "--key", k[PRODUCT])
    assert code == 1 and "is not in the keyring <signed trust root support-triage v1>" in out
    assert "changed outside a signed rotation" in out  # the note on stderr (CliRunner mixes them)
    code, out = rg("audit")
    assert "changed outside a signed rotation" in out

    # the rotation, signed by the old product key, the new one and the platform owner
    assert rg("trust", "propose", "--scenario", "support-triage")[0] == 0
    v2 = home / "state" / "trust" / "proposals" / "support-triage-v2.json"
    for key in (k[PRODUCT], k[PLATFORM]):
        assert rg("trust", "sign", str(v2), "--key", key)[0] == 0
    code, out = rg("trust", "apply", str(v2))
    assert code == 1 and "not signed by v1's product owners" in out
    assert rg("trust", "sign", str(v2), "--key", str(home / "old-product.pem"))[0] == 0
    code, out = rg("trust", "apply", str(v2))
    assert code == 0 and "key changed: product." in out
    code, out = rg("trust", "show", "--scenario", "support-triage")
    assert "v2" in out and "working tree differs" not in out
    code, out = rg("audit")
    assert code == 0, out  # the champion was released under v1's keys: still valid after the rotation
    # the record: every privileged row signed by a key of the root version in force at it, and the
    # checkpoint written after the promotion signed by the pinned root's ledger key
    code, out = rg("ledger", "verify", "--no-mlflow")
    assert code == 0 and "1 checkpoints" in out and "anchored" not in out, out

    code, out = rg("governance", "--json")
    import json
    t = json.loads(out)["portfolio"]["trust"]
    assert (t["releases_by_policy"], t["releases_by_hand"], t["scenarios_with_root"]) == (1, 0, 1)
