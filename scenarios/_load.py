"""Load a scenario contract from YAML, remembering the line of every field for error messages."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from ._contract import Scenario
from ._errors import InputError


@dataclass(frozen=True)
class LoadedScenario:
    """A validated contract with where it came from."""

    scenario: Scenario
    path: Path  # the scenario.yaml file
    contract_sha256: str  # sha256 of the YAML file's bytes
    lines: dict[str, int]  # dotted field path -> line number (1-based)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def dataset_path(self) -> Path:
        return (self.folder / self.scenario.dataset.path).resolve()

    def line_of(self, field: str) -> int | None:
        """Line of `field`, or of its closest ancestor that has one."""
        parts = field.split(".")
        while parts:
            key = ".".join(parts)
            if key in self.lines:
                return self.lines[key]
            parts.pop()
        return None

    def error(self, field: str, message: str, fix: str | None = None) -> InputError:
        return InputError(message, file=self.path, line=self.line_of(field), field=field, fix=fix)


def _line_map(node: yaml.Node, prefix: str, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            out[key] = key_node.start_mark.line + 1
            _line_map(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = f"{prefix}.{i}"
            out[key] = item.start_mark.line + 1
            _line_map(item, key, out)


_FIXES = {
    "missing": "add the field",
    "extra_forbidden": "remove it or check its spelling against the golden-path template",
    "literal_error": "use one of the allowed values",
}


def parse_scenario(path: str | Path) -> LoadedScenario:
    """Parse and schema-check a contract (no cross-field rules: see `validate_scenario`)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read scenario contract: {exc.strerror}", file=path,
                         fix="pass the path of a datasets/<id>/scenario.yaml") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=path,
                         line=mark.line + 1 if mark else None, fix="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise InputError("a scenario contract must be a YAML mapping", file=path,
                         fix="start from `releasegate init ID`")
    lines: dict[str, int] = {}
    if node is not None:
        _line_map(node, "", lines)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        # pydantic appends discriminator tags to the loc; drop those that are not real keys
        field = ".".join(p for p in field.split(".") if p not in ("gpu", "token") or p in lines)
        msg = err["msg"].removeprefix("Value error, ")
        loaded = LoadedScenario(scenario=None, path=path, contract_sha256="", lines=lines)  # type: ignore[arg-type]
        raise loaded.error(field or "(root)", msg, _FIXES.get(err["type"], "see the golden-path template")) from None
    return LoadedScenario(scenario=scenario, path=path,
                          contract_sha256=hashlib.sha256(raw).hexdigest(), lines=lines)
