"""`releasegate trust init|propose|sign|apply|show` end to end through the CLI."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from releasegate.core import InputError, project_root
from releasegate.flows.cli import app

ROOTS = ("root-a@platform.example", "root-b@platform.example", "root-c@platform.example")
PRODUCT = "product-owner@support.example"
PLATFORM = "platform-owner@platform.example"


@pytest.fixture
def env(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = isolated_home / "datasets" / "support-triage"
    folder.mkdir(parents=True)
    for name in ("scenario.yaml", "cases.jsonl"):
        shutil.copy(project_root() / "datasets" / "support-triage" / name, folder / name)
    monkeypatch.setenv("RELEASEGATE_DATASETS", str(isolated_home / "datasets"))
    return isolated_home


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def key(env: Path, identity: str) -> str:
    return str(env / "keys" / f"{identity}.pem")


def test_trust_cli_init_propose_sign_apply_show(env: Path) -> None:
    for ident in (*ROOTS, PRODUCT, PLATFORM):
        assert run("keys", "generate", "--identity", ident)[0] == 0
    roots = [a for r in ROOTS for a in ("--root", r)]
    code, output = run("trust", "init", *roots, "--threshold", "2", "--key", key(env, ROOTS[0]))
    assert code == 0, output
    proposal = env / "state" / "trust" / "proposals" / "portfolio-v1.json"
    assert "1 of 2 signatures" in output and proposal.is_file()
    code, output = run("trust", "apply", str(proposal))
    assert code == 1 and "signed by 1/2 keys" in output  # below threshold: refused, nothing recorded
    assert run("trust", "sign", str(proposal), "--key", key(env, ROOTS[1]))[0] == 0
    code, output = run("trust", "apply", str(proposal))
    assert code == 0, output
    assert "export RELEASEGATE_TRUST_ROOT=sha256:" in output
    again = CliRunner().invoke(app, ["trust", "init", *roots, "--threshold", "2"])
    assert isinstance(again.exception, InputError) and "already has a portfolio root" in str(again.exception)

    code, output = run("trust", "propose", "--scenario", "support-triage")
    assert code == 0, output
    v1 = env / "state" / "trust" / "proposals" / "support-triage-v1.json"
    assert "must sign: the portfolio root's threshold" in output
    for ident in (ROOTS[0], ROOTS[2], PRODUCT, PLATFORM):
        assert run("trust", "sign", str(v1), "--key", key(env, ident))[0] == 0
    code, output = run("trust", "apply", str(v1))
    assert code == 0, output
    assert "support-triage root v1" in output

    # a repository edit of an owner is a proposal only: show reports it, nothing changes
    contract = env / "datasets" / "support-triage" / "scenario.yaml"
    data = yaml.safe_load(contract.read_text())
    data["owners"]["product"]["id"] = "intern@support.example"
    contract.write_text(yaml.safe_dump(data, sort_keys=False))
    code, output = run("trust", "show", "--scenario", "support-triage")
    assert code == 0, output
    assert "v1" in output and "signed by" in output and PRODUCT in output
    assert "working tree differs (not in force until signed): the working tree names intern@support.example as product owner" in output
    code, output = run("trust", "show")
    assert code == 0 and "RELEASEGATE_TRUST_ROOT is not set" in output


def test_trust_apply_bad_file_is_input_error(env: Path) -> None:
    bad = env / "bad.json"
    bad.write_text("{}")
    result = CliRunner().invoke(app, ["trust", "apply", str(bad)])
    assert isinstance(result.exception, InputError) and "not TUF root metadata" in str(result.exception)


def test_portfolio_rotation_needs_the_old_threshold(env: Path) -> None:
    new_root = "root-d@platform.example"
    for ident in (*ROOTS, new_root):
        assert run("keys", "generate", "--identity", ident)[0] == 0
    roots = [a for r in ROOTS for a in ("--root", r)]
    assert run("trust", "init", *roots, "--threshold", "2", "--key", key(env, ROOTS[0]), "--key", key(env, ROOTS[1]))[0] == 0
    # root-c's key is lost: root-d replaces it
    code, output = run("trust", "propose", "--portfolio", "--root", ROOTS[0], "--root", ROOTS[1], "--root", new_root,
                       "--threshold", "2")
    assert code == 0, output
    assert "owner added: root.root-d@platform.example" in output and "owner removed: root.root-c@platform.example" in output
    v2 = env / "state" / "trust" / "proposals" / "portfolio-v2.json"
    for ident in (ROOTS[1], new_root):  # one old key and the new: below v1's threshold
        assert run("trust", "sign", str(v2), "--key", key(env, ident))[0] == 0
    code, output = run("trust", "apply", str(v2))
    assert code == 1 and "not signed by the threshold of v1's root keys" in output
    assert run("trust", "sign", str(v2), "--key", key(env, ROOTS[0]))[0] == 0
    code, output = run("trust", "apply", str(v2))
    assert code == 0 and "portfolio root v2" in output
    code, output = run("trust", "show")
    assert "v1" in output and "v2" in output and "RELEASEGATE_TRUST_ROOT is not set: pin sha256:" in output
