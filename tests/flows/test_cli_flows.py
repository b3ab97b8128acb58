"""`releasegate evaluate` refuses bad input before Prefect starts: one line, exit 2, nothing written."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _evaluate(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RELEASEGATE_HOME": str(home)}
    return subprocess.run([str(ROOT / ".venv" / "bin" / "releasegate"), "evaluate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--scenario", "no-such-scenario", "--candidate", "gemma3-v1"], "unknown scenario 'no-such-scenario'"),
    (["--scenario", "support-triage", "--candidate", "llama-v9"], "'llama-v9' is not a model entry"),
    (["--scenario", "support-triage", "--candidate", "gemma3-v1", "--incumbent", "nope"],
     "'nope' is not a model entry"),
    (["--scenario", "support-triage", "--candidate", "gemma3-v1", "--limit", "0"], "--limit must be at least 1"),
    (["--scenario", "support-triage", "--candidate", "gemma3-v1", "--candidate-records", "/nonexistent.parquet",
      "--incumbent-records", "/nonexistent.parquet"], "file not found"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, message):
    home = tmp_path / "home"
    result = _evaluate(home, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "fix:" in lines[0]
    written = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert written == []
