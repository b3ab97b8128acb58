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
