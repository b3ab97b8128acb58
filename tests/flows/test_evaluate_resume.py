"""Killing `releasegate evaluate` during candidate generation loses nothing: the rerun completes
without regenerating finished cases and sends the unchanged incumbent no request at all.

Serving is two fake OpenAI-compatible servers (tests/gpu/fake_openai.py), attached with
--endpoint / --incumbent-endpoint, so the test can count what each receives."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from fake_openai import FakeBehaviour, serve_fake  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CASES = 40
CONCURRENCY = 8  # the support-triage entries' serving.concurrency


def _evaluate(incumbent_url: str, candidate_url: str, home: Path) -> subprocess.Popen:
    env = {**os.environ, "RELEASEGATE_HOME": str(home), "PREFECT_HOME": str(home / "prefect")}
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "releasegate"), "evaluate", "--scenario", "support-triage",
         "--candidate", "smollm2-v2", "--limit", str(CASES), "--fixed",
         "--endpoint", candidate_url, "--incumbent-endpoint", incumbent_url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_killed_evaluation_resumes_without_regenerating(tmp_path):
    incumbent = FakeBehaviour(answer="billing")
    candidate = FakeBehaviour(answer="billing", chunk_delay_s=0.4)  # slow: time to kill mid-run
    inc_url, inc_server = serve_fake(incumbent)
    cand_url, cand_server = serve_fake(candidate)
    home = tmp_path / "home"
    try:
        first = _evaluate(inc_url, cand_url, home)
        deadline = time.monotonic() + 240
        while candidate.generation_requests < 16 and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[0][-3000:]
            time.sleep(0.05)
        assert candidate.generation_requests >= 16, "candidate generation never started"
        os.killpg(first.pid, signal.SIGKILL)  # as hard as a crash: no cleanup code runs
        first.wait(timeout=30)
        sent_before_kill = candidate.generation_requests
        assert incumbent.generation_requests == CASES  # incumbent finished before the candidate started
        assert sent_before_kill < CASES

        candidate.chunk_delay_s = 0.0
        candidate.generation_requests = 0
        incumbent.generation_requests = 0
        second = _evaluate(inc_url, cand_url, home)
        out, _ = second.communicate(timeout=300)
        assert second.returncode in (0, 1, 3), out[-3000:]

        # Unchanged incumbent: served entirely from the generation cache.
        assert incumbent.generation_requests == 0
        # Candidate: only what had not finished. At most CONCURRENCY requests were in flight at
        # the kill; everything answered before it came from the cache.
        assert candidate.generation_requests <= CASES - sent_before_kill + CONCURRENCY
        assert candidate.generation_requests >= CASES - sent_before_kill
        assert "report" in out and "decision" in out
    finally:
        inc_server.shutdown()
        cand_server.shutdown()
