"""Real vLLM (CPU build) with SmolLM2: generation, cache, cleanup, a server killed mid-run.

Marked `vllm`: needs .venv-vllm and `releasegate models prepare smollm2-135m-instruct`. Each vLLM
start takes about 40 s on 2 cores, so these tests use the minimum number of cases and servers.
"""
from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from releasegate.gpu import GenerationCache, ServerSpec, VllmServer, generate_records, list_models, vllm_python

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vllm_ready(state_home):
    if not vllm_python().exists():
        pytest.skip("serving environment .venv-vllm missing (make serving)")
    if not {r["name"]: r for r in list_models()}["smollm2-135m-instruct"]["prepared"]:
        pytest.skip("smollm2-135m-instruct not prepared (make models)")
    return state_home


def _servers_of(home: Path) -> list[int]:
    """vLLM servers started under this test's RELEASEGATE_HOME (other helpers' servers excluded)."""
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if ("vllm.entrypoints.openai.api_server" in (proc.info["cmdline"] or [])
                    and proc.environ().get("RELEASEGATE_HOME") == str(home)):
                pids += [proc.pid] + [c.pid for c in proc.children(recursive=True)]
        except psutil.Error:
            continue
    return pids


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_generate_8_cases_then_rerun_from_cache_and_leave_no_process(vllm_ready, triage):
    loaded, dataset = triage
    tree: list[int] = []

    def remember_server(example_id: str, record: dict) -> None:
        if not tree:  # while the managed server is up: note its process tree
            tree.extend(_servers_of(vllm_ready))

    frame, meta = generate_records(loaded, dataset, "smollm2-v1", limit=8, progress=False,
                                   on_result=remember_server)
    assert len(frame) == 8 and frame["error"].isna().all()
    assert meta["serving"]["endpoint_kind"] == "managed" and meta["serving"]["enforce_eager"] is True
    assert (frame["prompt_tokens"] > 20).all()  # system prompt + message
    assert frame["completion_tokens"].between(1, 8).all()  # max_output_tokens is 8
    assert (frame["ttft_s"] > 0).all() and (frame["ttft_s"] <= frame["latency_s"]).all()
    assert frame["output"].notna().all()  # text, possibly empty if the model stops at once
    assert set(frame["finish_reason"]) <= {"stop", "length"}
    telemetry = meta["telemetry"]
    assert telemetry["available"] and telemetry["requests_succeeded"] == 8
    assert telemetry["prompt_tokens"] == frame["prompt_tokens"].sum()
    assert telemetry["generation_tokens"] == frame["completion_tokens"].sum()
    assert meta["cost"]["total_usd"] == pytest.approx(frame["cost_usd"].sum()) and meta["cost"]["total_usd"] > 0
    print(f"\nvLLM startup {meta['serving']['startup_s']} s, run {meta['cost']['serving_seconds']:.2f} s, "
          f"{frame['completion_tokens'].sum() / meta['cost']['serving_seconds']:.1f} generated tokens/s")
    # The managed server and its engine workers are gone.
    assert len(tree) >= 2 and _alive(tree) == []

    again, meta2 = generate_records(loaded, dataset, "smollm2-v1", limit=8, progress=False)
    assert again["cached"].all() and meta2["counts"]["generated"] == 0
    assert "endpoints" not in meta2["serving"]  # no server was started for a fully cached run
    assert list(again["output"]) == list(frame["output"])
    assert list(again["cost_usd"]) == pytest.approx(list(frame["cost_usd"]))


def test_server_killed_mid_run_records_errors_and_rerun_completes_only_the_rest(vllm_ready, triage):
    loaded, dataset = triage
    entry = loaded.scenario.models["smollm2-v1"]
    spec = ServerSpec.from_entry(entry)
    ids = dataset.ids[8:16]
    cache = GenerationCache()
    first = VllmServer(spec)
    try:
        endpoint = first.start()
        pids = first.pids()
        done: list[str] = []

        def kill_after_three(example_id: str, record: dict) -> None:
            done.append(example_id)
            if len(done) == 3:
                first.kill()

        frame, meta = generate_records(loaded, dataset, "smollm2-v1", endpoint=endpoint, ids=ids, cache=cache,
                                       progress=False, concurrency=1, backoff_s=0.05, max_attempts=3,
                                       on_result=kill_after_three)
    finally:
        first.stop()
    assert len(pids) >= 2 and _alive(pids) == []
    finished = list(frame.loc[frame["error"].isna(), "example_id"])
    assert finished == ids[:3]
    assert frame["error"].notna().sum() == 5 and meta["counts"]["errors"] == 5

    with VllmServer(spec) as second:
        frame2, meta2 = generate_records(loaded, dataset, "smollm2-v1", endpoint=second, ids=ids, cache=cache,
                                         progress=False)
    assert frame2["error"].isna().all()
    assert list(frame2.loc[frame2["cached"], "example_id"]) == ids[:3]
    # The new server answered exactly the 5 unfinished cases: finished ones were not repeated.
    assert meta2["telemetry"]["requests_succeeded"] == 5
    assert meta2["counts"] == {"cases": 8, "cached": 3, "generated": 5, "errors": 0}
