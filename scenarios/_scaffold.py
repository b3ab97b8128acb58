"""`releasegate init`: a new scenario folder from the golden-path template (package data).

The template's owners are `FILL-ME-<role>` placeholders that the schema and the rules reject, so a
scaffolded scenario cannot be evaluated or released until a product team names its owners.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from releasegate.core import InputError

TEMPLATES = ("golden-path",)
_ID = re.compile(r"^[a-z0-9][a-z0-9\-]*$")
_TEMPLATE_FILES = ("scenario.yaml", "cases.jsonl", "CARD.md")


def template_dir(name: str = "golden-path") -> Path:
    return Path(str(resources.files("releasegate.scenarios") / "templates" / name))


def scaffold_scenario(scenario_id: str, parent: str | Path, *, template: str = "golden-path",
                      today: dt.date | None = None) -> Path:
    """Create `parent/scenario_id/` from a template; refuse (nothing written) if it exists.

    The folder is assembled in a temporary sibling and renamed into place, so a failure leaves
    nothing half-written.
    """
    if not _ID.match(scenario_id):
        raise InputError(f"{scenario_id!r} is not a scenario id", field="ID",
                         fix="use lower-case letters, digits and dashes, e.g. invoice-triage")
    if template not in TEMPLATES:
        raise InputError(f"unknown template {template!r}", field="--template", fix=f"use one of: {', '.join(TEMPLATES)}")
    parent = Path(parent)
    target = parent / scenario_id
    if target.exists():
        raise InputError("folder already exists", file=target,
                         fix="choose another scenario id or remove the folder first")
    source = template_dir(template)
    cases = (source / "cases.jsonl").read_bytes()
    substitutions = {
        "__SCENARIO_ID__": scenario_id,
        "__INTAKE_DATE__": (today or dt.date.today()).isoformat(),
        "__DATASET_SHA256__": hashlib.sha256(cases).hexdigest(),
    }
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{scenario_id}-", dir=parent))
    try:
        for name in _TEMPLATE_FILES:
            if name == "cases.jsonl":
                (staging / name).write_bytes(cases)  # byte for byte: the digest names these bytes
                continue
            text = (source / name).read_text(encoding="utf-8")
            for placeholder, value in substitutions.items():
                text = text.replace(placeholder, value)
            (staging / name).write_text(text, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
