"""Render a scenario's prompt family for one case and one model entry."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2

from ._contract import Scenario

_env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


@dataclass(frozen=True)
class RenderedPrompt:
    """Either chat messages (chat-style models) or a completion prompt (base models)."""

    style: str  # "chat" | "completion"
    messages: tuple[dict[str, str], ...] = ()
    prompt: str = ""
    stop: tuple[str, ...] = ()

    def cache_text(self) -> str:
        """A stable text form for content-addressed caching."""
        if self.style == "chat":
            return "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in self.messages)
        return self.prompt


def render_prompt(scenario: Scenario, entry_name: str, row: dict[str, Any]) -> RenderedPrompt:
    entry = scenario.model_entry(entry_name)
    version = scenario.prompt_version(entry.prompt_version)
    values = {v: "" if row.get(v) is None else str(row[v]) for v in scenario.prompt_family.variables}
    stop = tuple(version.stop)
    if entry.prompt_style == "completion":
        return RenderedPrompt(style="completion", prompt=_env.from_string(version.completion or "").render(values),
                              stop=stop)
    messages = []
    if version.system:
        messages.append({"role": "system", "content": _env.from_string(version.system).render(values)})
    messages.append({"role": "user", "content": _env.from_string(version.user).render(values)})
    return RenderedPrompt(style="chat", messages=tuple(messages), stop=stop)
