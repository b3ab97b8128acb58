"""Free text that reaches the terminal (incident summaries, owners, scenario ids, file names in an
error line) is printed escaped: an ANSI sequence cannot clear the screen or recolour a line, and
rich markup such as `[/x]` is shown literally instead of crashing the print (issue 15 item 5)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostile_cli import refused_cleanly, run_main

from releasegate.flows import _cli_common

HOSTILE = "\x1b[2J\x1b[31mOK [bold]green[/bold] [/oops]"
SHOWN = "\\x1b[2J\\x1b[31mOK [bold]green[/bold] [/oops]"


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """One table row per line, so the asserted text is not folded across cells."""
    monkeypatch.setattr(_cli_common.out, "_width", 400)  # undone to None: COLUMNS again


def test_incident_summary_prints_escaped_in_open_and_list(isolated_home: Path, wide: None) -> None:
    run = run_main("incident", "open", "--scenario", "support-triage", "--severity", "sev2", "--summary", HOSTILE)
    assert run.code == 0, run.err
    assert "\x1b" not in run.out and f"on support-triage: {SHOWN}" in run.out
    run = run_main("incident", "list")
    assert run.code == 0, run.err
    assert "\x1b" not in run.out and SHOWN in run.out
    run = run_main("incident", "list", "--json")  # markup in JSON output is not interpreted either
    assert run.code == 0, run.err
    assert json.loads(run.out)[0]["summary"] == HOSTILE


def test_audit_error_with_escapes_and_markup_in_the_scenario_id_is_one_clean_line(isolated_home: Path) -> None:
    line = refused_cleanly(run_main("audit", "--scenario", HOSTILE))
    assert "\x1b" not in line and "[/oops]" in line and "unknown scenario" in line


def test_a_file_name_with_markup_and_escapes_in_an_error_line(tmp_path: Path) -> None:
    name = tmp_path / "[/x]\x1b[31m.json"
    line = refused_cleanly(run_main("report", str(name)))
    assert "\x1b" not in line and "[/x]\\x1b[31m.json" in line


def test_a_group_readable_key_is_refused_with_the_chmod_fix_and_nothing_written(isolated_home: Path) -> None:
    assert run_main("keys", "generate", "--identity", "someone@support.example").code == 0
    key = Path(os.environ["RELEASEGATE_KEYS_DIR"]) / "someone@support.example.pem"
    os.chmod(key, 0o644)
    out = isolated_home / "root.json"
    line = refused_cleanly(run_main("trust", "init", "--root", "someone@support.example", "--threshold", "1",
                                    "--key", str(key), "--out", str(out)))
    assert f"{key}: --key: private key is readable by group or others (mode 0644) (fix: chmod 600 {key})" in line
    assert not out.exists()


def test_contract_free_text_prints_escaped_in_scenarios_show(tmp_path: Path, wide: None) -> None:
    import shutil

    from releasegate.core import project_root

    folder = tmp_path / "support-triage"
    folder.mkdir()
    for name in ("scenario.yaml", "cases.jsonl"):
        shutil.copy(project_root() / "datasets" / "support-triage" / name, folder / name)
    contract = (folder / "scenario.yaml").read_text(encoding="utf-8")
    contract = contract.replace("name: Priya Natarajan", 'name: "Priya \\e[2J\\e[31m[/oops]"')
    (folder / "scenario.yaml").write_text(contract, encoding="utf-8")
    run = run_main("scenarios", "show", str(folder / "scenario.yaml"), "--raci")
    assert run.code == 0, run.err
    assert "\x1b" not in run.out and "Priya \\x1b[2J\\x1b[31m[/oops]" in run.out


def test_checks_table_shows_unbounded_intervals_and_escapes_slice_names() -> None:
    """rich read "[unbounded, 0.2]" as a markup tag and printed nothing; a slice name comes from the
    dataset (any text)."""
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from releasegate.flows._cli_gate import checks_table

    check = SimpleNamespace(name="slice:channel=\x1b[31m[/x]", critical=False, status="pass", value=0.1,
                            ci_low=None, ci_high=0.2, unbounded="low", threshold=-0.05, direction=">=",
                            reason="holds [bold]")
    verdict = SimpleNamespace(scenario_id="support-triage", decision="PASS", n=40, confidence=0.95, seed=1,
                              checks=[check])
    buffer = io.StringIO()
    Console(file=buffer, width=300).print(checks_table(verdict))
    text = buffer.getvalue()
    assert "[unbounded, 0.2]" in text and "slice:channel=\\x1b[31m[/x]" in text and "holds [bold]" in text
    assert "\x1b" not in text
