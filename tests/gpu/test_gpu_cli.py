"""Bad input on the serving commands: one line on stderr, exit code 2, nothing written."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gpu import free_port

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RELEASEGATE_HOME": str(home), "RELEASEGATE_ROOT": str(ROOT),
                   "COLUMNS": "200", **env}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=environment, timeout=120)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_unknown_model_entry(tmp_path):
    line = _one_error_line(_cli(["generate", "--scenario", "support-triage", "--model", "gpt-9"], tmp_path))
    assert "no model entry 'gpt-9'" in line and "smollm2-v1" in line
    assert not (tmp_path / "records").exists()


def test_unknown_packaged_model_for_prepare(tmp_path):
    line = _one_error_line(_cli(["models", "prepare", "llama-70b"], tmp_path))
    assert "unknown packaged model 'llama-70b'" in line and "smollm2-135m-instruct" in line


def test_unreachable_endpoint(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    line = _one_error_line(_cli(["generate", "--scenario", "support-triage", "--model", "smollm2-v1",
                                 "--endpoint", url, "--limit", "2"], tmp_path))
    assert f"endpoint {url} is unreachable" in line


def test_port_in_use(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        line = _one_error_line(_cli(["serve", "smollm2-135m-instruct", "--port", str(port)], tmp_path,
                                    RELEASEGATE_MODELS_DIR=str(_prepared_stub(tmp_path))))
    assert f"port {port} on 127.0.0.1 is already in use" in line


def _prepared_stub(tmp_path: Path) -> Path:
    """A models dir where smollm2 looks prepared (serve fails on the port before loading it)."""
    import json

    models = tmp_path / "models"
    (models / "smollm2-135m-instruct").mkdir(parents=True, exist_ok=True)
    (models / "smollm2-135m-instruct.json").write_text(json.dumps({
        "path": str(models / "smollm2-135m-instruct"), "digest": "e" * 64, "prompt_style": "chat",
        "max_model_len": 8192}))
    return models


def test_missing_api_key_variable(tmp_path):
    # A copy of support-triage with a hosted incumbent whose key variable is unset.
    folder = tmp_path / "datasets" / "hosted-triage"
    shutil.copytree(ROOT / "datasets" / "support-triage", folder)
    text = (folder / "scenario.yaml").read_text().replace("id: support-triage", "id: hosted-triage")
    text += ("  hosted-v1:\n    model: smollm2-135m-instruct\n    prompt_version: v1\n"
             "    endpoint: http://127.0.0.1:9/v1\n    api_key_env: RG_TEST_UNSET_KEY\n"
             "    cost: {pricing: token, usd_per_million_input: 0.5, usd_per_million_output: 1.5}\n")
    (folder / "scenario.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "RG_TEST_UNSET_KEY"}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "generate", "--scenario", str(folder),
                           "--model", "hosted-v1", "--limit", "1"], capture_output=True, text=True, cwd=ROOT,
                          env={**env, "RELEASEGATE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}, timeout=120)
    line = _one_error_line(done)
    assert "environment variable RG_TEST_UNSET_KEY is not set" in line


@pytest.mark.parametrize("levels", ["0,2", "a,b"])
def test_bad_concurrency_list(tmp_path, levels):
    line = _one_error_line(_cli(["profile", "--scenario", "support-triage", "--endpoint",
                                 "http://127.0.0.1:9/v1", "--concurrency", levels], tmp_path))
    assert "is not a list of positive integers" in line
