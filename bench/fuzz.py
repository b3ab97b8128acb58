"""`make fuzz`: the fuzz suite (tests/fuzz) with a larger example budget; writes the tally of
inputs tried per category and their outcomes to bench/RESULTS.md (section `fuzz`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._results import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    examples = int(os.environ.get("RELEASEGATE_FUZZ_EXAMPLES", "300"))
    seed = os.environ.get("RELEASEGATE_FUZZ_SEED", "20261201")
    log = Path(tempfile.mkdtemp(prefix="rg-fuzz-")) / "tally.json"
    env = {**os.environ, "HYPOTHESIS_PROFILE": "fuzz", "RELEASEGATE_FUZZ_EXAMPLES": str(examples),
           "RELEASEGATE_FUZZ_LOG": str(log)}
    command = [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-p", "no:cacheprovider",
               f"--hypothesis-seed={seed}"]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, env=env)
    elapsed = time.monotonic() - started
    tally = json.loads(log.read_text()) if log.is_file() else []
    by_category: dict[str, dict[str, int]] = defaultdict(dict)
    for row in tally:
        by_category[row["category"]][row["outcome"]] = row["count"]
    lines = ["## Fuzz suite (issue 13)", "",
             f"`make fuzz FUZZ_EXAMPLES={examples}` (hypothesis profile `fuzz`, seed {seed}): "
             f"{elapsed:.0f} s, pytest exit {proc.returncode} "
             f"({'all properties held' if proc.returncode == 0 else 'a property FAILED'}).", "",
             "| category | inputs tried | outcomes |", "|---|---:|---|"]
    for category, outcomes in sorted(by_category.items()):
        total = sum(outcomes.values())
        shown = ", ".join(f"{o}: {n}" for o, n in sorted(outcomes.items()))
        lines.append(f"| {category} | {total} | {shown} |")
    lines += ["", "Every refused input was exit 2 (or the documented code; HTTP 400/401/411/413 for the guard "
              "and the gateway) with one line naming file/field and fix, no traceback, nothing written, within "
              "the time bound (tests/fuzz/fuzz_helpers.py); `accepted`/`signed`/`exit 0|1|3`/`HTTP 200` rows are "
              "inputs that are valid after all (e.g. a YAML comment appended, a webhook for another event) and "
              "were checked to be sound."]
    write_section("fuzz", "\n".join(lines))
    print("\n".join(lines))
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
