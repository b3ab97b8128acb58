"""Shared pieces of the fuzz suite: the support-triage copy, hostile values, the bad-input contract."""
from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

from hostile_cli import CliRun
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
TRIAGE = REPO / "datasets" / "support-triage"
# A hang (the alias bomb ran past a minute before issue 13) must fail; a slow start of the CLI on a
# loaded 2-core machine must not: one example took 24 s at load average 12.
TIME_BOUND_S = 60.0

# Values that must never be read as a number, a date or a plain string by accident.
HOSTILE_SCALARS = ["true", "false", ".inf", "-.inf", ".nan", "'0.5'", "-1", "1e400",
                   "[]", "{}", "!!float 1", "!!python/none ''", "*undefined",
                   "2026-13-45", "'\u202e'", '"\\0"']

# Any JSON value (NaN included: a writer that is not json.dumps may produce it), small.
JSONISH = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                       max_leaves=8)

HOSTILE_YAML_TAILS = [
    "success_criteria:\n  min_acceptance_rate: 0.0\n  non_inferiority_margin: 1.0\n",
    "x: !!python/object/apply:os.system [echo pwned]\n",
    "x: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(f"y{i}: &a{i} [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n" for i in range(9)),
    "x: " + "[" * 3000 + "]" * 3000 + "\n",
    "x: " + "{a: " * 200 + "1" + "}" * 200 + "\n",
    "---\nsecond: document\n",
    "models: {}\n",
    "\t- broken: indentation\n",
]


def scenario_copy(tmp: Path) -> Path:
    folder = tmp / "support-triage"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in ("scenario.yaml", "cases.jsonl"):
        shutil.copy(TRIAGE / name, folder / name)
    return folder


def set_dataset_digest(folder: Path) -> None:
    digest = hashlib.sha256((folder / "cases.jsonl").read_bytes()).hexdigest()
    contract = (folder / "scenario.yaml").read_text(encoding="utf-8")
    contract = re.sub(r'sha256: "?[0-9a-f]{64}"?', f'sha256: "{digest}"', contract, count=1)
    (folder / "scenario.yaml").write_text(contract, encoding="utf-8")


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_clean_refusal(run: CliRun, *, codes: tuple[int, ...] = (2,)) -> str:
    """Exit code documented, one `error: ... (fix: ...)` line, no traceback."""
    text = run.out + run.err
    assert run.code in codes, text
    assert "Traceback" not in text, text
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error: ") and "(fix: " in lines[0], text
    return lines[0]


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.started
        if exc[0] is None:
            assert self.elapsed < TIME_BOUND_S, f"took {self.elapsed:.1f} s"


def pass_verdict() -> dict:
    """A sound PASS verdict document (support-triage), for decisions built by hand."""
    return {"schema": "releasegate.verdict/v1", "scenario_id": "support-triage", "decision": "PASS",
            "reason": "ok", "vetoed_by": [],
            "checks": [{"name": "non_inferiority", "kind": "change", "metric": "acceptance_difference",
                        "value": 0.01, "ci_low": -0.02, "ci_high": 0.04, "threshold": -0.05, "direction": ">=",
                        "status": "pass", "critical": True, "reason": "ok"}],
            "candidate": {"entry": "gemma3-v1", "model": "m", "model_digest": "", "prompt_version": "v1",
                          "records_sha256": ""},
            "incumbent": {"entry": "smollm2-v1", "model": "m", "model_digest": "", "prompt_version": "v1",
                          "records_sha256": ""},
            "contract_sha256": "c" * 64, "dataset_sha256": "e" * 64, "n": 10, "confidence": 0.95, "seed": 1,
            "metrics": {}, "slices": [], "sequential": None}
