"""Rendering a prompt version for a chat model and for a completion (base) model."""
from __future__ import annotations

from releasegate.scenarios import load_scenario, render_prompt

ROW = {"id": "x", "message": "Where is my parcel?", "channel": "email", "reference": "shipping"}


def test_chat_entry_renders_system_and_user_messages() -> None:
    scenario = load_scenario("support-triage").scenario
    prompt = render_prompt(scenario, "smollm2-v2", ROW)
    assert prompt.style == "chat"
    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    assert prompt.messages[1]["content"] == "Customer message via email:\nWhere is my parcel?\n\nQueue name:"
    assert prompt.stop == ("\n",)


def test_completion_entries_share_the_few_shot_prompt() -> None:
    scenario = load_scenario("support-triage").scenario
    prompt = render_prompt(scenario, "gemma3-v1", ROW)
    assert prompt.style == "completion" and prompt.messages == ()
    assert prompt.prompt.startswith("Route each customer message to one queue")
    assert prompt.prompt.endswith("Message: Where is my parcel?\nQueue:")
    assert prompt.cache_text() == prompt.prompt
    # the same prompt version on other weights renders the same text
    assert render_prompt(scenario, "smollm2-v1", ROW) == prompt


def test_prompt_versions_differ_in_cache_text() -> None:
    scenario = load_scenario("support-triage").scenario
    assert render_prompt(scenario, "smollm2-v1", ROW).cache_text() != render_prompt(scenario, "smollm2-v2", ROW).cache_text()
