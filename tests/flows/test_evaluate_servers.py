"""The evaluate flow starts vLLM once per weights and settings, and not at all when nothing is missing.

support-triage's incumbent (smollm2-v1) and candidate (smollm2-v2) are two prompts on the same
weights and serving settings: one server serves both sides (and every sequential batch), and a
fully cached rerun starts none and sends nothing. "vLLM" here is a stand-in python
(RELEASEGATE_VLLM_PYTHON) that runs the fake OpenAI server of tests/gpu and logs each start, so
the test counts real process starts, requests and stops."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from releasegate.scenarios import read_records

from flow_fixtures import TRIAGE

pytestmark = pytest.mark.usefixtures("prefect_harness")
FAKE_OPENAI_DIR = Path(__file__).resolve().parents[1] / "gpu"


@pytest.fixture()
def fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rg_home: str) -> Path:
    """A vLLM stand-in whose every start appends '<pid> <port>' to the returned log."""
    starts = tmp_path / "vllm-starts.log"
    fake = tmp_path / "fake-vllm-python"
    fake.write_text(f"""#!{sys.executable}
import os, sys
from http.server import ThreadingHTTPServer
sys.path.insert(0, {str(FAKE_OPENAI_DIR)!r})
from fake_openai import FakeBehaviour, _Handler
argv = sys.argv
port = int(argv[argv.index("--port") + 1])
with open({str(starts)!r}, "a") as log:
    log.write(f"{{os.getpid()}} {{port}}\\n")
behaviour = FakeBehaviour(model=argv[argv.index("--served-model-name") + 1])
ThreadingHTTPServer(("127.0.0.1", port), type("H", (_Handler,), {{"behaviour": behaviour}})).serve_forever()
""")
    fake.chmod(0o755)
    models = tmp_path / "models"
    (models / "smollm2-135m-instruct").mkdir(parents=True)
    (models / "smollm2-135m-instruct.json").write_text(
        '{"path": "%s", "digest": "%s", "prompt_style": "chat", "max_model_len": 8192}'
        % (models / "smollm2-135m-instruct", "e" * 64))
    monkeypatch.setenv("RELEASEGATE_VLLM_PYTHON", str(fake))
    monkeypatch.setenv("RELEASEGATE_MODELS_DIR", str(models))
    monkeypatch.setenv("RELEASEGATE_DEVICE", "cpu")
    return starts


def _evaluate(**kwargs):
    from releasegate.flows.evaluate import evaluate_candidate

    return evaluate_candidate(scenario=str(TRIAGE), candidate="smollm2-v2", progress=False, **kwargs)


def _metas(result) -> list[dict]:
    run = Path(result.run_dir)
    return [read_records(run / f"{side}.parquet")[1] for side in ("incumbent", "candidate")]


def _gone(pid: int, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.2)
    return False


def test_one_server_for_both_sides_and_none_for_a_cached_rerun(fake_vllm: Path):
    first = _evaluate(limit=6, sequential=False)
    starts = fake_vllm.read_text().splitlines()
    assert len(starts) == 1, starts  # not one per side
    pid, port = (int(x) for x in starts[0].split())
    metas = _metas(first)
    assert [m["counts"]["generated"] for m in metas] == [6, 6]
    assert [m["serving"]["endpoints"] for m in metas] == [[f"http://127.0.0.1:{port}/v1"]] * 2
    assert "startup_s" in metas[0]["serving"] and "startup_s" not in metas[1]["serving"]  # started once
    assert _gone(pid), "the flow's vLLM server outlived the flow"

    again = _evaluate(limit=6, sequential=False)
    assert len(fake_vllm.read_text().splitlines()) == 1  # no server started for a cached rerun
    metas = _metas(again)
    assert [(m["counts"]["generated"], m["counts"]["cached"]) for m in metas] == [(0, 6), (0, 6)]
    assert all("endpoints" not in m["serving"] for m in metas)  # nothing sent anywhere
    assert again.decision == first.decision


def test_sequential_batches_share_one_server(fake_vllm: Path):
    result = _evaluate(limit=6, sequential=True, batch_size=2)
    assert result.cases_used >= 4  # more than one batch ran
    assert len(fake_vllm.read_text().splitlines()) == 1
    pid = int(fake_vllm.read_text().split()[0])
    assert _gone(pid)
