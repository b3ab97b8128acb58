"""sampling.repeats: k generations per case with seeds seed..seed+k-1, each repeat cached on its own."""
from __future__ import annotations

import dataclasses

from releasegate.gpu import Endpoint, generate_repeats


def _endpoint(url: str) -> Endpoint:
    return Endpoint(base_url=url, model="smollm2-135m-instruct", kind="attached", model_digest="d" * 64,
                    settings={"device": "fake"})


def _with_sampling(loaded, **changes):
    return dataclasses.replace(loaded, scenario=loaded.scenario.model_copy(
        update={"sampling": loaded.scenario.sampling.model_copy(update=changes)}))


def test_k_repeats_use_distinct_seeds_and_are_cached_per_repeat(state_home, fake_server, triage):
    loaded, dataset = triage
    sampled = _with_sampling(loaded, temperature=0.8, seed=7, repeats=3)
    frame, meta = generate_repeats(sampled, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), limit=4,
                                   progress=False)
    assert len(frame) == 12 and list(frame["repeat"]) == [0] * 4 + [1] * 4 + [2] * 4
    assert list(frame["example_id"][:4]) == list(frame["example_id"][4:8]) == dataset.ids[:4]
    seeds = sorted({body["seed"] for body in fake_server.behaviour.bodies})
    assert seeds == [7, 8, 9]
    assert meta["sampling"]["repeats"] == 3 and "repeat" not in meta["sampling"]
    assert meta["counts"]["cases"] == 12 and meta["counts"]["generated"] == 12
    assert fake_server.behaviour.generation_requests == 12
    # a rerun is served from the cache, every repeat of it
    again, _ = generate_repeats(sampled, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), limit=4,
                                progress=False)
    assert fake_server.behaviour.generation_requests == 12 and again["cached"].all()


def test_unseeded_repeats_are_still_distinct_cache_entries(state_home, fake_server, triage):
    loaded, dataset = triage
    sampled = _with_sampling(loaded, temperature=0.8, seed=None, repeats=2)
    frame, _ = generate_repeats(sampled, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), limit=3,
                                progress=False)
    assert fake_server.behaviour.generation_requests == 6 and not frame["cached"].any()
    assert all("seed" not in body for body in fake_server.behaviour.bodies)


def test_one_repeat_keeps_the_records_and_cache_key_of_before(state_home, fake_server, triage):
    loaded, dataset = triage
    frame, meta = generate_repeats(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), limit=2,
                                   progress=False)
    assert "repeat" not in frame.columns and meta["sampling"]["repeats"] == 1
