"""Server lifecycle without vLLM: flags, ports, readiness failures, process-group cleanup, attach."""
from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from releasegate.gpu import (Endpoint, ResolvedModel, ServerSpec, ServingError, VllmServer, attach, find_running_server,
                 free_port, port_in_use, summarize)
from releasegate.gpu._server import api_key_from_env, cpu_dtype, cpu_flags
from releasegate.gpu._telemetry import parse_metrics
from releasegate.core import InputError

MODEL = ResolvedModel("m", "folder", "/models/m", "ab" * 32, "chat", 2048)


def test_cpu_spec_runs_eager_and_gpu_spec_passes_gpu_flags():
    cpu = ServerSpec(MODEL, "m", device="cpu", enforce_eager=True, max_num_seqs=4, extra_args=("--seed", "1"))
    argv = cpu.argv("127.0.0.1", 8123)
    assert argv[:2] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--port") + 1] == "8123" and argv[argv.index("--model") + 1] == "/models/m"
    assert "--enforce-eager" in argv and "--tensor-parallel-size" not in argv
    assert argv[-4:] == ["--max-num-seqs", "4", "--seed", "1"]
    assert argv[argv.index("--dtype") + 1] == cpu_dtype("bfloat16")  # a spec built directly swaps too (bench/)
    gpu = ServerSpec(MODEL, "m", device="gpu", enforce_eager=False, tensor_parallel_size=2,
                     gpu_memory_utilization=0.8)
    argv = gpu.argv("127.0.0.1", 8123)
    assert "--enforce-eager" not in argv
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.8"


def test_spec_from_a_contract_entry(state_home, triage, monkeypatch):
    loaded, _ = triage
    monkeypatch.setenv("RELEASEGATE_DEVICE", "cpu")
    monkeypatch.setattr("releasegate.gpu._server.resolve_model", lambda ref: MODEL)
    spec = ServerSpec.from_entry(loaded.scenario.models["smollm2-v1"])
    assert spec.enforce_eager is True and spec.device == "cpu"  # eager by default on CPU (FACTS.md)
    assert spec.max_model_len == 2048 and spec.served_name == "smollm2-135m-instruct"
    assert spec.settings()["dtype"] == cpu_dtype("bfloat16")  # float32 on a CPU without bf16


@pytest.mark.parametrize(("flags", "device", "served"), [
    ("fpu sse avx avx2 fma", "cpu", "float32"),  # AVX2 only (AMD EPYC here): bf16 is emulated
    ("fpu avx2 avx512f avx512_bf16", "cpu", "bfloat16"),
    ("fpu avx2 avx512f amx_bf16 amx_tile", "cpu", "bfloat16"),
    ("fpu avx2", "gpu", "bfloat16"),  # a GPU serves what the contract asks
])
def test_bf16_is_served_as_float32_on_a_cpu_without_it(state_home, triage, monkeypatch, tmp_path,
                                                      flags, device, served):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_flags(str(cpuinfo)) == frozenset(flags.split())
    monkeypatch.setattr("releasegate.gpu._server.cpu_flags", lambda: cpu_flags(str(cpuinfo)))
    monkeypatch.setattr("releasegate.gpu._server.resolve_model", lambda ref: MODEL)
    loaded, _ = triage
    spec = ServerSpec.from_entry(loaded.scenario.models["smollm2-v1"], device=device)
    assert spec.dtype == served and spec.settings()["dtype"] == served
    assert spec.argv("127.0.0.1", 8000)[spec.argv("127.0.0.1", 8000).index("--dtype") + 1] == served
    assert cpu_dtype("float16", frozenset({"avx2"})) == "float16"  # only bfloat16 is swapped
    assert cpu_dtype("bfloat16", frozenset()) == "bfloat16"  # flags unknown: the request stands


def test_a_busy_port_is_bad_input():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_in_use(port)
        with pytest.raises(InputError, match=f"port {port} on 127.0.0.1 is already in use"):
            VllmServer(ServerSpec(MODEL, "m"), port=port)
    assert not port_in_use(free_port())


def _fake_python(tmp_path: Path, body: str) -> Path:
    """A stand-in for .venv-vllm/bin/python that runs `body` instead of vLLM."""
    script = tmp_path / "fake-python"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return script


def test_a_server_that_dies_at_startup_reports_its_log(state_home, tmp_path, monkeypatch):
    monkeypatch.setenv("RELEASEGATE_VLLM_PYTHON", str(_fake_python(tmp_path, """
        import sys
        print("ValueError: model type gemma9 is not supported", flush=True)
        sys.exit(3)
    """)))
    server = VllmServer(ServerSpec(MODEL, "m"), startup_timeout_s=30)
    with pytest.raises(ServingError, match="exited with code 3") as info:
        server.start()
    assert "gemma9 is not supported" in str(info.value)


def test_readiness_timeout_kills_the_whole_process_group(state_home, tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("RELEASEGATE_VLLM_PYTHON", str(_fake_python(tmp_path, f"""
        import subprocess, sys, time
        # like vLLM's engine core: a child process in the same group
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("loading weights...", flush=True)
        time.sleep(600)
    """)))
    server = VllmServer(ServerSpec(MODEL, "m"), startup_timeout_s=3)
    with pytest.raises(ServingError, match="not ready after 3 s") as info:
        server.start()
    assert "loading weights" in str(info.value)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "engine child survived the server's stop"
        time.sleep(0.1)


def test_missing_api_key_variable_is_bad_input(monkeypatch):
    monkeypatch.delenv("RG_TEST_KEY", raising=False)
    with pytest.raises(InputError, match="environment variable RG_TEST_KEY is not set"):
        api_key_from_env("RG_TEST_KEY")
    monkeypatch.setenv("RG_TEST_KEY", "sk-123")
    assert api_key_from_env("RG_TEST_KEY") == "sk-123"


def test_unreachable_endpoint_is_bad_input():
    with pytest.raises(InputError, match="unreachable"):
        attach(f"http://127.0.0.1:{free_port()}/v1")


def test_attach_sends_the_key_and_finds_the_model(fake_server, monkeypatch):
    monkeypatch.setenv("RG_TEST_KEY", "sk-abc")
    ep = attach(fake_server.url.removesuffix("/v1"), model="smollm2-135m-instruct", api_key_env="RG_TEST_KEY")
    assert ep.base_url == fake_server.url and ep.model == "smollm2-135m-instruct"
    assert ep.headers() == {"Authorization": "Bearer sk-abc"} and ep.root_url == fake_server.url[:-3]


def test_a_stale_state_file_is_ignored_and_removed(state_home):
    from releasegate.gpu._server import servers_dir

    path = servers_dir() / "m.json"
    path.write_text('{"url": "http://127.0.0.1:1/v1", "pid": 999999999, "served_name": "m"}')
    assert find_running_server(ServerSpec(MODEL, "m")) is None
    assert not path.exists()


def test_metrics_parse_and_summary():
    before = parse_metrics('vllm:prefix_cache_queries_total{engine="0"} 100\n'
                           'vllm:prefix_cache_hits_total{engine="0"} 10\n'
                           'vllm:request_queue_time_seconds_bucket{le="0.1"} 5\n'
                           'vllm:request_queue_time_seconds_sum 1.0\nvllm:request_queue_time_seconds_count 5\n')
    assert before["vllm:prefix_cache_queries_total"] == 100.0
    assert "vllm:request_queue_time_seconds_bucket" not in before
    after = dict(before, **{"vllm:prefix_cache_queries_total": 300.0, "vllm:prefix_cache_hits_total": 160.0,
                            "vllm:request_queue_time_seconds_sum": 3.0,
                            "vllm:request_queue_time_seconds_count": 9.0})
    summary = summarize(before, after)
    assert summary["prefix_cache_hit_rate"] == pytest.approx(0.75)  # 150 / 200 over the run
    assert summary["queue_time_mean_s"] == pytest.approx(0.5)  # 2 s / 4 requests
    assert summarize(None, after) == {"available": False}


def test_endpoint_urls():
    ep = Endpoint("http://h:1/v1", "m", api_key=None)
    assert ep.root_url == "http://h:1" and ep.headers() == {}


def test_gauge_sampler_keeps_the_peak_kv_cache_usage(fake_server):
    import asyncio

    import httpx

    from releasegate.gpu._telemetry import GaugeSampler

    async def run() -> GaugeSampler:
        async with httpx.AsyncClient() as client:
            sampler = GaugeSampler(client, fake_server.url.removesuffix("/v1"), interval_s=0.05)
            sampler.start()
            await asyncio.sleep(0.4)
            await sampler.stop()
            return sampler

    sampler = asyncio.run(run())
    assert sampler.samples >= 2 and sampler.kv_max == 0.25
    assert summarize({}, {}, sampler)["kv_cache_usage_max"] == 0.25
