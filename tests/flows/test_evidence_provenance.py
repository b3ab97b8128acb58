"""Evidence provenance through `evaluate` (issue 15): generations releasegate produced are signed by
the runner and attested in the verdict, the decision and the report; fabricated records are
self-declared; records edited after signing are refused (exit 2, nothing written)."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from releasegate.evals import Verdict

from flow_fixtures import ROOT, TRIAGE, record_triage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from fake_openai import FakeBehaviour, serve_fake  # noqa: E402

RUNNER = "ci-runner@platform.example"


@pytest.fixture
def runner(rg_home, monkeypatch: pytest.MonkeyPatch) -> str:
    from releasegate.releases import generate_key

    generate_key(RUNNER)
    monkeypatch.setenv("RELEASEGATE_RUNNER", RUNNER)
    return RUNNER


def _predicate(decision_path: str) -> dict:
    return json.loads(base64.b64decode(json.loads(Path(decision_path).read_text())["payload"]))["predicate"]


@pytest.mark.usefixtures("prefect_harness")
def test_generated_records_are_signed_and_attested(runner, tmp_path) -> None:
    from releasegate.flows.evaluate import evaluate_candidate
    from releasegate.releases import Keyring
    from releasegate.scenarios import attestation_path, file_sha256

    url, server = serve_fake(FakeBehaviour(answer="billing"))
    try:
        result = evaluate_candidate(scenario=str(TRIAGE), candidate="smollm2-v2", limit=12, sequential=False,
                                    candidate_endpoints=[url], incumbent_endpoints=[url], progress=False)
    finally:
        server.shutdown()
    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    fingerprint = Keyring.load().entries[RUNNER].fingerprint
    for side, name in ((verdict.candidate, "candidate.parquet"), (verdict.incumbent, "incumbent.parquet")):
        records = Path(result.run_dir) / name
        att = attestation_path(records)
        assert att.is_file()
        ev = side.evidence
        assert (ev.status, ev.runner, ev.runner_keyid) == ("attested", RUNNER, fingerprint)
        assert ev.records_sha256 == side.records_sha256 == file_sha256(records)
        statement = json.loads(base64.b64decode(json.loads(att.read_text())["payload"]))
        assert statement["predicate"]["endpoints"] == [url] and statement["predicate"]["cases"] == 12
    pred = _predicate(result.decision_path)
    assert pred["verdict"]["candidate"]["evidence"]["status"] == "attested"
    assert pred["verdict"]["incumbent"]["evidence"]["runner"] == RUNNER
    html = Path(result.report_path).read_text()
    assert f"attested by {RUNNER} (key {fingerprint[:12]}" in html
    assert f"| Evidence | candidate attested by {RUNNER}" in result.markdown


@pytest.mark.usefixtures("prefect_harness")
def test_fabricated_records_are_self_declared_everywhere(rg_home, tmp_path) -> None:
    from releasegate.flows.evaluate import evaluate_candidate

    cand = record_triage(tmp_path / "cand.parquet", "gemma3-v1", 0.80, seed=1)
    inc = record_triage(tmp_path / "inc.parquet", "smollm2-v1", 0.50, seed=2)
    result = evaluate_candidate(scenario=str(TRIAGE), candidate="gemma3-v1", candidate_records=str(cand),
                                incumbent_records=str(inc), progress=False)
    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    assert verdict.decision == "PASS"
    assert (verdict.candidate.evidence.status, verdict.incumbent.evidence.status) == ("self-declared",) * 2
    pred = _predicate(result.decision_path)
    assert pred["verdict"]["candidate"]["evidence"]["status"] == "self-declared"
    html = Path(result.report_path).read_text()
    assert html.count("self-declared (no runner attestation)") == 2
    assert ("| Evidence | candidate self-declared (no runner attestation); incumbent self-declared "
            "(no runner attestation) |") in result.markdown


def _evaluate_cli(home: Path, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RELEASEGATE_HOME": str(home), **env_extra}
    return subprocess.run([str(ROOT / ".venv" / "bin" / "releasegate"), "evaluate", "--scenario", "support-triage",
                           "--candidate", "gemma3-v1", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_records_edited_after_signing_exit_2_and_nothing_written(isolated_home, runner, tmp_path) -> None:
    from releasegate.releases import attest_records, runner_signer
    from releasegate.scenarios import attestation_path, read_records, write_records

    cand = record_triage(tmp_path / "cand.parquet", "gemma3-v1", 0.80, seed=1)
    inc = record_triage(tmp_path / "inc.parquet", "smollm2-v1", 0.50, seed=2)
    signer = runner_signer()
    for path in (cand, inc):
        attest_records(path, signer, started_at="2026-12-01T10:00:00+00:00")
    frame, meta = read_records(cand)
    frame.loc[frame.index[:40], "output"] = "billing"
    write_records(frame, cand, meta)  # "improved" answers after the runner signed
    home = tmp_path / "home"
    env = {k: os.environ[k] for k in ("RELEASEGATE_KEYS_DIR", "RELEASEGATE_KEYRING", "RELEASEGATE_RUNNER")}
    result = _evaluate_cli(home, env, "--candidate-records", str(cand), "--incumbent-records", str(inc))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {attestation_path(cand)}"), lines
    assert "records edited after signing" in lines[0] and "fix:" in lines[0]
    assert not home.exists() or [p for p in home.rglob("*") if p.is_file()] == []


def test_score_says_which_side_is_attested(runner, tmp_path) -> None:
    from typer.testing import CliRunner

    from releasegate.flows.cli import app
    from releasegate.releases import attest_records, runner_signer

    cand = record_triage(tmp_path / "cand.parquet", "gemma3-v1", 0.80, seed=1)
    inc = record_triage(tmp_path / "inc.parquet", "smollm2-v1", 0.50, seed=2)
    attest_records(cand, runner_signer(), started_at="2026-12-01T10:00:00+00:00")
    out = tmp_path / "verdict.json"
    result = CliRunner().invoke(app, ["score", "--scenario", "support-triage", "--candidate", str(cand),
                                      "--incumbent", str(inc), "--out", str(out)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert f"evidence: candidate records attested by {RUNNER}" in result.output
    assert "evidence: incumbent records self-declared (no runner attestation)" in result.output
    verdict = Verdict.from_json(out.read_text())
    assert (verdict.candidate.evidence.runner, verdict.incumbent.evidence.status) == (RUNNER, "self-declared")


def test_generate_signs_its_records_when_a_runner_is_configured(runner, tmp_path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from releasegate.flows.cli import app
    from releasegate.releases import records_evidence
    from releasegate.scenarios import attestation_path, load_dataset_for, load_scenario

    url, server = serve_fake(FakeBehaviour(answer="billing"))
    try:
        out = tmp_path / "smollm2.parquet"
        args = ["generate", "--scenario", "support-triage", "--model", "smollm2-v1", "--endpoint", url,
                "--limit", "5", "--no-cache", "--out", str(out)]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        assert f"attested by runner {RUNNER}: {attestation_path(out)}" in result.output
        loaded = load_scenario("support-triage")
        ev = records_evidence(out, loaded, load_dataset_for(loaded).sha256)
        assert (ev.status, ev.runner) == ("attested", RUNNER)

        monkeypatch.delenv("RELEASEGATE_RUNNER")
        plain = tmp_path / "plain.parquet"
        result = CliRunner().invoke(app, [*args[:-1], str(plain)], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        assert "self-declared: no runner configured" in result.output and not attestation_path(plain).exists()
    finally:
        server.shutdown()


def test_recorded_file_changed_after_its_check_is_refused(rg_home, tmp_path) -> None:
    """The flow reads recorded generations only as they were when their evidence was checked."""
    from releasegate.core import InputError
    from releasegate.flows._prefect_env import configure_prefect
    from releasegate.scenarios import file_sha256

    configure_prefect()
    from releasegate.flows.evaluate import subset_task

    cand = record_triage(tmp_path / "cand.parquet", "gemma3-v1", 0.80, seed=1)
    checked = file_sha256(cand)
    assert Path(subset_task.fn(str(cand), ["st-0001"], str(tmp_path / "ok.parquet"), checked)).is_file()
    record_triage(cand, "gemma3-v1", 0.99, seed=7)  # swapped after the check
    with pytest.raises(InputError, match="the records changed after their evidence was checked"):
        subset_task.fn(str(cand), ["st-0001"], str(tmp_path / "sub.parquet"), checked)
    assert not (tmp_path / "sub.parquet").exists()
