"""examples/ci (issue 15 item 6): the job runs only for the protected branch, and workflow inputs
and file names reach the shell only through `env:`, quoted; the script validates them again."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
WORKFLOW = CI / "release-gate.yml"
SCRIPT = CI / "release-gate.sh"
EXPANSION = re.compile(r"\$(\{[^}]*\}|[A-Za-z_][A-Za-z_0-9]*|[0-9@*])")


def _workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _steps(doc: dict) -> list[dict]:
    return [s for job in doc["jobs"].values() for s in job["steps"]]


def unquoted_expansions(script: str) -> list[str]:
    """`$VAR` / `${VAR}` expansions outside double quotes (word splitting and globbing apply to
    them). Comments and single-quoted text are skipped; `$(...)` command substitution is not an
    expansion of a variable and is judged by its own contents."""
    found = []
    for lineno, line in enumerate(script.splitlines(), 1):
        quote = None
        i = 0
        while i < len(line):
            c = line[i]
            if quote is None and c == "#" and (i == 0 or line[i - 1] in " \t;"):
                break
            if c == "\\" and quote != "'":
                i += 2
                continue
            if c in "'\"" and quote in (None, c):
                quote = None if quote == c else c
            elif c == "$" and quote is None and (m := EXPANSION.match(line, i)):
                found.append(f"line {lineno}: {m.group(0)}")
            i += 1
    return found


def test_the_job_runs_only_for_the_protected_branch():
    doc = _workflow()
    assert doc["on"]["push"]["branches"] == ["main"]
    for name, job in doc["jobs"].items():
        assert job.get("if") == "github.ref == 'refs/heads/main'", name
        assert job.get("environment") == "production", name  # the secrets live there


def test_inputs_and_file_names_reach_the_shell_only_through_env():
    steps = [s for s in _steps(_workflow()) if "run" in s]
    assert len(steps) >= 3
    for step in steps:
        assert "${{" not in step["run"], f"expression pasted into a run line: {step['run']!r}"
        for var in EXPANSION.findall(step["run"]):
            name = var.strip("{}").split(":")[0].split("[")[0]
            # every variable a run line uses is the step's env, the job's, or the runner's own
            assert name in step.get("env", {}) or name.startswith(("GITHUB_", "RUNNER_")) or name in (
                "scenario", "decision"), f"{name} in {step.get('name')}"
        assert not unquoted_expansions(step["run"]), step["run"]
    for value in (v for s in steps for v in s.get("env", {}).values()):
        assert re.fullmatch(r"\$\{\{ (inputs|steps|secrets)\.[A-Za-z_.]+ \}\}", value), value


def test_script_quotes_every_expansion():
    assert unquoted_expansions(SCRIPT.read_text()) == []


def test_the_quoting_check_catches_an_unquoted_input():
    bad = 'releasegate promote --scenario $scenario --decision "$decision" ${ALIAS}\necho \'$safe\'  # $x'
    assert unquoted_expansions(bad) == ["line 1: $scenario", "line 1: ${ALIAS}"]


@pytest.mark.parametrize("args", [
    ["support-triage", "decisions/support-triage/a$(touch PWNED).dsse.json"],
    ["support-triage", "decisions/../../etc/passwd.dsse.json"],
    ["support-triage", "--help.dsse.json"],  # an option, not a file
    ["support-triage", "decisions/x/y.json"],
    ["$(touch PWNED)", "decisions/x/y.dsse.json"],
    ["support-triage", "decisions/x/y.dsse.json", "champion; touch PWNED"],
    ["support-triage", "decisions/x/y.dsse.json\nscenario=other"],
])
def test_hostile_arguments_are_refused_before_anything_runs(tmp_path, args):
    fake = tmp_path / "releasegate"
    fake.write_text("#!/bin/sh\ntouch RAN\n")
    fake.chmod(0o755)
    env = {**os.environ, "RELEASEGATE": str(fake), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    proc = subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "bad input" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["releasegate"]  # nothing ran, nothing written


def test_find_the_decision_step_with_a_hostile_input(tmp_path):
    """The workflow's own run block, given an input that would be shell code if pasted in."""
    step = next(s for s in _steps(_workflow()) if s.get("id") == "target")
    out = tmp_path / "github_output"
    env = {**os.environ, "INPUT_SCENARIO": "support-triage", "INPUT_ALIAS": "",
           "INPUT_DECISION": 'decisions/x/"; touch PWNED; echo ".dsse.json', "GITHUB_OUTPUT": str(out)}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=CI.parents[1], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert not (CI.parents[1] / "PWNED").exists() and not out.exists()
    env["INPUT_DECISION"] = "decisions/support-triage/d1.dsse.json"
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=CI.parents[1], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == ("scenario=support-triage\ndecision=decisions/support-triage/d1.dsse.json\n"
                               "alias=champion\n")


def test_the_script_promotes_with_valid_arguments(tmp_path):
    fake = tmp_path / "releasegate"
    fake.write_text('#!/bin/sh\necho "$@" >> calls\n[ "$1" = promote ] && exit 1\nexit 0\n')
    fake.chmod(0o755)
    env = {**os.environ, "RELEASEGATE": str(fake), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    proc = subprocess.run(["bash", str(SCRIPT), "support-triage", "decisions/support-triage/d_1.dsse.json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 1  # promote's exit status is the job's
    assert "release blocked" in proc.stdout
    assert (tmp_path / "calls").read_text().splitlines() == [
        "verify decisions/support-triage/d_1.dsse.json",
        "promote --scenario support-triage --decision decisions/support-triage/d_1.dsse.json --alias champion"]
