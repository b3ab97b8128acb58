"""`releasegate plan`: assumptions from the ledger or the options; bad input exits 2."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from releasegate.evals import planning as P
from releasegate.flows.cli import app


def _verdict(n: int, both: int, cand_only: int, inc_only: int) -> dict:
    return {"metrics": {"paired": {"n": n, "both": both, "candidate_only": cand_only,
                                   "incumbent_only": inc_only, "neither": n - both - cand_only - inc_only}}}


def test_plan_from_the_ledger_pools_earlier_evaluations(isolated_home: Path) -> None:
    from releasegate.flows.gate import plan_evaluation
    from releasegate.releases import Ledger

    ledger = Ledger.open()
    ledger.append("evaluated", "support-triage", {"verdict": _verdict(200, 150, 10, 20)})
    ledger.append("evaluated", "support-triage", {"verdict": _verdict(100, 70, 5, 5)})
    ledger.append("evaluated", "invoice-extraction", {"verdict": _verdict(100, 0, 50, 50)})  # other scenario
    result = plan_evaluation("support-triage", repeats=(1,), sequential_runs=0, ledger=ledger)
    design = result["design"]
    assert design["incumbent_rate"] == pytest.approx((150 + 20 + 70 + 5) / 300)
    assert design["discordance"] == pytest.approx(40 / 300)
    expected = P.cases_needed(P.Design(margin=design["margin"], confidence=design["confidence"], power=0.8,
                                       incumbent_rate=245 / 300, discordance=40 / 300))
    assert result["rows"][0]["cases"] == expected
    assert "2 earlier evaluation(s), 300 cases" in result["source"]


def test_plan_with_stated_assumptions_prints_fixed_and_sequential_sizes(isolated_home: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["plan", "--scenario", "support-triage", "--incumbent-rate", "0.8",
                              "--discordance", "0.15", "--difference", "0.03", "--repeats", "1,3",
                              "--sequential-runs", "50", "--json"])
    assert out.exit_code == 0, out.output
    import json

    result = json.loads(out.output)
    assert [r["repeats"] for r in result["rows"]] == [1, 3]
    assert result["rows"][0]["sequential"]["max_cases"] is not None
    assert result["cases_available"] > 0


def test_plan_without_history_or_assumptions_exits_2(isolated_home: Path) -> None:
    out = CliRunner().invoke(app, ["plan", "--scenario", "support-triage"])
    assert out.exit_code == 2
    assert "--incumbent-rate" in out.output
    bad = CliRunner().invoke(app, ["plan", "--scenario", "support-triage", "--incumbent-rate", "0.8",
                                   "--discordance", "0.15", "--difference", "-0.2"])
    assert bad.exit_code == 2 and "above -margin" in bad.output


def test_plan_warns_when_the_dataset_cannot_decide_a_latency_slo(isolated_home: Path, tmp_path: Path) -> None:
    """Issue 13: 40 invoices cannot bound a p95 (the order-statistic bound needs 72 at 95%)."""
    import hashlib
    import re

    src = Path(__file__).resolve().parents[2] / "datasets" / "invoice-extraction"
    folder = tmp_path / "invoice-extraction"
    folder.mkdir()
    data = b"".join((src / "cases.jsonl").read_bytes().splitlines(keepends=True)[:40])
    (folder / "cases.jsonl").write_bytes(data)
    (folder / "CARD.md").write_bytes((src / "CARD.md").read_bytes())
    contract = re.sub(r'sha256: "[0-9a-f]{64}"', f'sha256: "{hashlib.sha256(data).hexdigest()}"',
                      (src / "scenario.yaml").read_text(), count=1)
    (folder / "scenario.yaml").write_text(contract)
    out = CliRunner().invoke(app, ["plan", "--scenario", str(folder), "--incumbent-rate", "0.1",
                                   "--discordance", "0.1", "--sequential-runs", "0"], env={"COLUMNS": "400"})
    assert out.exit_code == 0, out.output
    warnings = [line for line in out.output.splitlines() if line.startswith("warning: check ")]
    assert [w.split()[2] for w in warnings] == ["ttft_p95", "latency_p95"]
    assert "undecidable with 40 cases" in warnings[1] and "needs >= 72 cases" in warnings[1]
