"""The package's shape, enforced: one installed top-level name, and the import order.

Both tests use one real (non-editable) install of the checkout into a temporary target: the
editable install maps the stage folders through an import hook that import-linter cannot see,
and only a real install shows what lands in site-packages.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import Distribution
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`pip install --no-deps .` into a temporary target (the build uses this environment's setuptools)."""
    # Built from a copy: an in-tree build leaves build/lib behind, whose stale files a later
    # build would package.
    source = tmp_path_factory.mktemp("source") / "releasegate"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv*", ".git", "build", "dist", "*.egg-info", ".releasegate", "__pycache__", "mlruns", ".pytest_cache"))
    target = tmp_path_factory.mktemp("installed")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-warn-script-location", "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    yield target


def lint(target: Path) -> subprocess.CompletedProcess[str]:
    # cwd = the install: import-linter puts the cwd first on sys.path, and the checkout's own
    # releasegate/ folder must not shadow the installed package.
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache", str(ROOT / "pyproject.toml")],
                          cwd=target, env={"PYTHONPATH": str(target), "PATH": str(BIN)},
                          capture_output=True, text=True, timeout=300)


def test_pip_install_puts_exactly_one_top_level_package(installed: Path) -> None:
    (info,) = installed.glob("releasegate-*.dist-info")
    dist = Distribution.at(info)
    assert dist.metadata["Name"] == "releasegate"
    top = {f.parts[0] for f in dist.files or [] if not f.parts[0].endswith(".dist-info") and f.parts[0] != "bin"
           and f.parts[0] != ".."}
    assert top == {"releasegate"}
    assert (dist.read_text("top_level.txt") or "").split() == ["releasegate"]
    stages = {p.name for p in (installed / "releasegate").iterdir() if (p / "__init__.py").is_file()}
    assert {"scenarios", "gpu", "evals", "releases", "gateway", "reports", "flows"} <= stages
    assert not any((installed / name).exists() for name in ("evals", "gpu", "flows", "scenarios", "datasets"))


def test_the_import_contracts_hold(installed: Path) -> None:
    proc = lint(installed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout and "5 kept" in proc.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("scenarios/_load.py", "import releasegate.reports", "stages import only the stages before them"),
    ("releases/_ledger.py", "from releasegate.flows import cli", "stages import only the stages before them"),
    ("evals/stats.py", "from releasegate import gpu", "it never imports gpu"),
    ("_io.py", "import releasegate.releases", "the core primitives import no stage"),
    ("reports/_format.py", "import evals", "no bare top-level stage imports"),
    ("flows/_cli_gate.py", "from releasegate.releases._ledger import Ledger", "_private modules are its own"),
    ("evals/stats.py", "import releasegate.scenarios._records", "_private modules are its own"),
])
def test_a_backwards_import_breaks_a_contract(installed: Path, tmp_path: Path, module: str, line: str,
                                              contract: str) -> None:
    copy = tmp_path / "site"
    shutil.copytree(installed, copy)
    path = copy / "releasegate" / module
    path.write_text(path.read_text() + f"\n{line}  # injected\n")
    proc = lint(copy)
    assert proc.returncode != 0
    assert any(contract in row and row.rstrip().endswith("BROKEN") for row in proc.stdout.splitlines()), \
        proc.stdout[-3000:]
