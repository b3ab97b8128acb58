"""`ensure_prompt_versions` registers each contract prompt version once, across pages."""
from __future__ import annotations

from pathlib import Path

from releasegate.releases._registry import client, ensure_prompt_versions, mlflow_uri, prompt_versions


def _family(n: int) -> dict:
    return {"name": "router", "versions": {
        f"v{i}": {"system": "You route tickets.", "user": f"Ticket {{{{message}}}} ({i})",
                  "compatible_models": ["m"], "stop": None} for i in range(1, n + 1)}}


def test_prompt_versions_are_registered_once_across_pages(isolated_home: Path) -> None:
    uri = mlflow_uri()
    c = client(uri)
    assert prompt_versions(c, "router") == []  # no such prompt: none, not an error
    first = ensure_prompt_versions(c, uri, _family(3))
    assert first == {"v1": 1, "v2": 2, "v3": 3}
    # Registering again finds all three (through pages of 2) and adds only the new one.
    assert len(prompt_versions(c, "router", page_size=2)) == 3
    again = ensure_prompt_versions(c, uri, _family(4))
    assert again == {"v1": 1, "v2": 2, "v3": 3, "v4": 4}
    assert len(prompt_versions(c, "router", page_size=2)) == 4
