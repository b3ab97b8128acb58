"""Reading a verdict from a verdict JSON or from a DSSE release-decision envelope."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from releasegate.evals import Verdict
from releasegate.reports import load_decision
from releasegate.core import InputError

from report_fixtures import make_verdict, ni_check


# A well-formed DSSE entry (read_decision refuses malformed ones); not verified by the report.
SIGNATURE = {"keyid": "ab" * 32, "sig": base64.b64encode(b"s" * 64).decode()}


def envelope(verdict: Verdict, **predicate: object) -> dict:
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": "gemma3-270m", "digest": {"sha256": "a" * 64}}],
                 "predicateType": "https://releasegate.dev/decision/v1",
                 "predicate": {"verdict": verdict.to_dict(), **predicate}}
    return {"payloadType": "application/vnd.in-toto+json",
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
            "signatures": [SIGNATURE]}


def test_dsse_envelope_yields_the_embedded_verdict_and_signatures(tmp_path: Path) -> None:
    verdict = make_verdict("PASS", [ni_check(0.01, -0.02, 0.04, "pass")])
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(envelope(verdict, scenario_id="support-triage")))
    doc = load_decision(path)
    assert doc.is_envelope
    assert doc.verdict == verdict
    assert doc.predicate["scenario_id"] == "support-triage"
    assert doc.subject[0]["digest"]["sha256"] == "a" * 64
    assert doc.signatures == [SIGNATURE]


def test_plain_verdict_json_is_accepted(tmp_path: Path) -> None:
    verdict = make_verdict("FAIL", [ni_check(-0.09, -0.12, -0.06, "fail")])
    path = tmp_path / "verdict.json"
    path.write_text(verdict.to_json())
    doc = load_decision(path)
    assert not doc.is_envelope and doc.verdict == verdict and doc.signatures == []


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"hello": 1}', "neither a verdict nor a DSSE decision envelope"),
    ('{"payloadType": "x", "payload": "%%%"}', "payloadType is 'x'"),
    ('{"payloadType": "application/vnd.in-toto+json", "payload": "%%%"}', "no valid base64"),
    ('{"payloadType": "application/vnd.in-toto+json", "payload": "'
     + base64.b64encode(b'{"predicate": {}}').decode() + '"}', "not a releasegate decision statement"),
])
def test_bad_files_raise_one_input_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "decision.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_decision(path)
    assert info.value.file == str(path)


def test_a_verdict_with_an_undeclared_metrics_key_is_refused(tmp_path: Path) -> None:
    data = make_verdict("PASS", [ni_check(0.01, -0.02, 0.04, "pass")]).to_dict()
    data["metrics"] = {"n_used": 3}  # an old alias spelling: the typed verdict has no such field
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="malformed verdict") as info:
        load_decision(path)
    assert info.value.field.startswith("metrics")
