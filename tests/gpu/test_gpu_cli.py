"""Bad input on the serving commands: one line on stderr, exit code 2, nothing written."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from releasegate.gpu import free_port

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RELEASEGATE_HOME": str(home), "RELEASEGATE_ROOT": str(ROOT),
                   "COLUMNS": "200", **env}
    return subprocess.run([sys.executable, "-m", "releasegate.flows.cli", *args], capture_output=True, text=True,
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
    done = subprocess.run([sys.executable, "-m", "releasegate.flows.cli", "generate", "--scenario", str(folder),
                           "--model", "hosted-v1", "--limit", "1"], capture_output=True, text=True, cwd=ROOT,
                          env={**env, "RELEASEGATE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}, timeout=120)
    line = _one_error_line(done)
    assert "environment variable RG_TEST_UNSET_KEY is not set" in line


@pytest.mark.parametrize("levels", ["0,2", "a,b"])
def test_bad_concurrency_list(tmp_path, levels):
    line = _one_error_line(_cli(["profile", "--scenario", "support-triage", "--endpoint",
                                 "http://127.0.0.1:9/v1", "--concurrency", levels], tmp_path))
    assert "is not a list of positive integers" in line


def test_serve_is_reused_by_generate_and_ctrl_c_stops_the_whole_group(tmp_path):
    """`serve` with a stand-in for vLLM (the fake OpenAI server + a child like vLLM's engine core)."""
    import json
    import signal
    import time

    import psutil

    child_pid = tmp_path / "child.pid"
    fake = tmp_path / "fake-vllm-python"
    fake.write_text(f"""#!{sys.executable}
import subprocess, sys, threading
from http.server import ThreadingHTTPServer
sys.path.insert(0, {str(Path(__file__).parent)!r})
from fake_openai import FakeBehaviour, _Handler
argv = sys.argv
port = int(argv[argv.index("--port") + 1])
behaviour = FakeBehaviour(model=argv[argv.index("--served-model-name") + 1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open({str(child_pid)!r}, "w").write(str(child.pid))
ThreadingHTTPServer(("127.0.0.1", port), type("H", (_Handler,), {{"behaviour": behaviour}})).serve_forever()
""")
    fake.chmod(0o755)
    home = tmp_path / "home"
    env = {**os.environ, "RELEASEGATE_HOME": str(home), "RELEASEGATE_ROOT": str(ROOT),
           "RELEASEGATE_VLLM_PYTHON": str(fake), "RELEASEGATE_DEVICE": "cpu",
           "RELEASEGATE_MODELS_DIR": str(_prepared_stub(tmp_path))}
    # As a terminal's foreground process has it: a shell's background job (`make test &`) starts with
    # SIGINT ignored, every child inherits that, and Python then installs no KeyboardInterrupt handler.
    serve = subprocess.Popen([sys.executable, "-m", "releasegate.flows.cli", "serve", "smollm2-135m-instruct"], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state = home / "servers" / "smollm2-135m-instruct.json"
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            assert serve.poll() is None and time.monotonic() < deadline, serve.stdout.read() if serve.stdout else ""
            time.sleep(0.2)
        server_pid = json.loads(state.read_text())["pid"]
        out = tmp_path / "r.parquet"
        done = subprocess.run([sys.executable, "-m", "releasegate.flows.cli", "generate", "--scenario", "support-triage",
                               "--model", "smollm2-v1", "--limit", "2", "--out", str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        from releasegate.scenarios import read_records

        frame, meta = read_records(out)
        assert meta["serving"]["endpoint_kind"] == "reused" and list(frame["output"]) == ["billing", "billing"]
        serve.send_signal(signal.SIGINT)  # Ctrl-C
        serve.wait(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
    assert not state.exists()
    for pid in (server_pid, int(child_pid.read_text())):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
