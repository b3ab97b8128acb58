"""Each stage's `__all__` is what another stage or a user needs, and nothing more.

A name a stage exports must be used by another stage, by a test or a bench script, or be
documented (README.md or docs/*.md); otherwise it belongs inside the package (import it from
the module that defines it there).
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("scenarios", "gpu", "evals", "releases", "gateway", "reports", "flows")
THIS = Path(__file__).resolve()


def _sources() -> dict[Path, str]:
    folders = [*STAGES, "tests", "bench", "releasegate"]
    return {p: p.read_text(encoding="utf-8") for d in folders for p in (ROOT / d).rglob("*.py")
            if p.resolve() != THIS}


def _docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def unneeded_exports(stage: str, sources: dict[Path, str], docs: str) -> list[str]:
    own = ROOT / stage
    names = importlib.import_module(f"releasegate.{stage}").__dict__.get("__all__", [])
    out = []
    for name in names:
        word = re.compile(rf"\b{re.escape(name)}\b")
        if not word.search(docs) and not any(word.search(text) for path, text in sources.items()
                                             if own not in path.parents):
            out.append(name)
    return out


@pytest.mark.parametrize("stage", STAGES)
def test_every_export_is_needed_outside_its_stage(stage: str) -> None:
    assert unneeded_exports(stage, _sources(), _docs()) == []


def test_the_check_finds_an_export_nobody_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = importlib.import_module("releasegate.gpu")
    monkeypatch.setattr(gpu, "__all__", [*gpu.__all__, "an_export_nobody_uses"])
    assert unneeded_exports("gpu", _sources(), _docs()) == ["an_export_nobody_uses"]


def test_every_name_imported_from_a_stage_is_exported() -> None:
    """`from releasegate.<stage> import name` anywhere (even inside a function) names an export or a
    public submodule: a name dropped from a stage's face cannot leave a caller behind."""
    import ast
    import importlib.util

    missing = []
    for path, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.removeprefix("releasegate.") in STAGES:
                stage = importlib.import_module(node.module)
                missing += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                            if not hasattr(stage, a.name) and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
    assert missing == []


def test_stage_imports_leave_scipy_for_the_first_statistic() -> None:
    # Every CLI command imports releases (and with it evals' typed documents); scipy.stats took
    # ~2 s of that on this machine, paid by `keys generate` and every refusal alike.
    import subprocess
    import sys

    code = ("import sys, releasegate.releases, releasegate.evals; "
            "print(sorted(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
