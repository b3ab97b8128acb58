"""`releasegate scenarios | datasets | init`: output and exit codes.

Most tests drive a typer app with only these commands (CliRunner, fast); a few run the installed
console script, because exit code 2 for bad input is `flows.cli.main`'s job.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner, Result

import releasegate.flows._cli_scenarios as cli_scenarios
from releasegate.core import InputError
from releasegate.scenarios import file_sha256

REPO = Path(__file__).resolve().parents[2]
RELEASEGATE = REPO / ".venv" / "bin" / "releasegate"
SUPPORT_TRIAGE = REPO / "datasets" / "support-triage"


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    app = typer.Typer()
    cli_scenarios.register(app)
    # wide enough that table cells are not folded across lines
    monkeypatch.setattr(cli_scenarios, "console", Console(width=300, highlight=False, color_system=None))

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    return run


def _broken_copy(tmp_path: Path) -> tuple[Path, int, int]:
    """support-triage with an empty escalation path and an unknown incumbent (two violations)."""
    folder = tmp_path / "broken"
    folder.mkdir()
    shutil.copy(SUPPORT_TRIAGE / "cases.jsonl", folder / "cases.jsonl")
    text = (SUPPORT_TRIAGE / "scenario.yaml").read_text(encoding="utf-8")
    start, end = text.index("escalation_path:\n"), text.index("\nraci:")
    text = text[:start] + "escalation_path: []\n" + text[end:]
    text = text.replace("incumbent: smollm2-v1", "incumbent: smollm2-v0")
    (folder / "scenario.yaml").write_text(text, encoding="utf-8")
    lines = text.splitlines()
    return (folder / "scenario.yaml", lines.index("escalation_path: []") + 1,
            lines.index("incumbent: smollm2-v0") + 1)


def test_list_shows_both_demo_scenarios_as_valid(invoke) -> None:
    result = invoke("scenarios", "list")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.startswith("│")}
    assert set(rows) == {"invoice-extraction", "support-triage"}
    assert "product-owner@support.example" in rows["support-triage"] and "valid" in rows["support-triage"]
    assert "ap-product-owner@finance.example" in rows["invoice-extraction"]


def test_show_prints_models_and_criteria(invoke) -> None:
    result = invoke("scenarios", "show", "support-triage")
    assert result.exit_code == 0, result.output
    incumbent = next(line for line in result.output.splitlines() if "│ smollm2-v1 " in line)
    assert "incumbent" in incumbent and "smollm2-135m-instruct" in incumbent
    assert re.search(r"minimum acceptance rate\s+│ 0\.10\b", result.output)


def test_show_raci_prints_the_decision_template(invoke) -> None:
    result = invoke("scenarios", "show", "support-triage", "--raci")
    assert result.exit_code == 0, result.output
    out = result.output
    for title in ("Owners of support-triage", "RACI", "Platform contract", "Escalation path"):
        assert title in out
    release = next(line for line in out.splitlines() if line.startswith("│ model release"))
    cells = [c.strip() for c in release.split("│")[1:-1]]
    assert cells == ["model release", "platform-owner@platform.example", "product-owner@support.example",
                     "quality-lead@support.example, finops@platform.example", "oncall-llm@platform.example"]
    assert re.search(r"│ 1\s+│ head-of-support@support\.example", out)
    assert re.search(r"context budget\s+│ 768 prompt \+ 8 output tokens\s+│ platform-owner@platform\.example", out)


def test_show_unknown_scenario_is_an_input_error(invoke) -> None:
    result = invoke("scenarios", "show", "nope")
    assert isinstance(result.exception, InputError)
    assert "unknown scenario 'nope'" in str(result.exception)


def test_validate_defaults_to_every_scenario(invoke) -> None:
    result = invoke("scenarios", "validate")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["ok", "ok"]


def test_validate_reports_every_violation_one_line_each(invoke, tmp_path: Path) -> None:
    path, escalation_line, incumbent_line = _broken_copy(tmp_path)
    result = invoke("scenarios", "validate", str(path), str(SUPPORT_TRIAGE / "scenario.yaml"))
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {path}:{escalation_line}: escalation_path: the escalation path is empty "
        "(fix: list at least one identity to escalate to, first approver first)",
        f"error: {path}:{incumbent_line}: incumbent: 'smollm2-v0' is not a model entry "
        "(fix: use one of: smollm2-v1, smollm2-v2, smollm2-v3, gemma3-v1)",
    ]
    assert f"ok {SUPPORT_TRIAGE / 'scenario.yaml'}" in result.output
    assert "2 problem(s) in 2 contract(s)" in result.output


def test_datasets_digest_prints_the_sha256(invoke) -> None:
    path = SUPPORT_TRIAGE / "cases.jsonl"
    result = invoke("datasets", "digest", str(path))
    assert result.exit_code == 0
    assert result.output.split() == [file_sha256(path), str(path)]


def test_datasets_show_counts_slices_and_labels(invoke) -> None:
    result = invoke("datasets", "show", "support-triage")
    assert result.exit_code == 0, result.output
    out = result.output
    rows = len((SUPPORT_TRIAGE / "cases.jsonl").read_text(encoding="utf-8").splitlines())
    assert re.search(rf"│ rows\s+│ {rows}\s", out)
    assert file_sha256(SUPPORT_TRIAGE / "cases.jsonl") in out
    for title in ("Slice channel", "Slice language", "Slice length", "Slice template", "Labels"):
        assert title in out
    assert re.search(r"│ billing\s+│ 62\s+│", out)


def test_init_scaffolds_then_refuses_the_same_id(invoke, tmp_path: Path) -> None:
    result = invoke("init", "my-scenario", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "my-scenario").iterdir()) == ["CARD.md", "cases.jsonl", "scenario.yaml"]
    again = invoke("init", "my-scenario", "--dir", str(tmp_path))
    assert isinstance(again.exception, InputError)
    assert "folder already exists" in str(again.exception)


# ---- the installed console script: real exit codes and the one-line error on stderr
def _releasegate(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RELEASEGATE), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(Path.home())})


def test_console_script_validates_the_demo_contracts() -> None:
    paths = sorted(str(p.relative_to(REPO)) for p in (REPO / "datasets").glob("*/scenario.yaml"))
    result = _releasegate("scenarios", "validate", *paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"ok {p}" for p in paths]


def test_console_script_exits_2_with_file_line_and_field(tmp_path: Path) -> None:
    path, escalation_line, _ = _broken_copy(tmp_path)
    result = _releasegate("scenarios", "validate", str(path))
    assert result.returncode == 2
    assert f"{path}:{escalation_line}: escalation_path: the escalation path is empty" in result.stdout


def test_console_script_init_round_trip(tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    assert _releasegate("init", "my-scenario", cwd=tmp_path).returncode == 0
    contract = tmp_path / "datasets" / "my-scenario" / "scenario.yaml"
    failing = _releasegate("scenarios", "validate", str(contract), cwd=tmp_path)
    assert failing.returncode == 2 and "owners.product.id" in failing.stdout
    text = re.sub(r"FILL-ME-([a-z]+)-owner", r"\1-owner@feedback.example", contract.read_text(encoding="utf-8"))
    contract.write_text(text, encoding="utf-8")
    passing = _releasegate("scenarios", "validate", str(contract), cwd=tmp_path)
    assert passing.returncode == 0, passing.stdout
    refused = _releasegate("init", "my-scenario", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: datasets/my-scenario: folder already exists "
        "(fix: choose another scenario id or remove the folder first)"]
