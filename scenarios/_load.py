"""Load a scenario contract from YAML, remembering the line of every field for error messages."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from ._contract import Scenario
from releasegate.core import MAX_CONTRACT_BYTES, InputError, load_yaml_strict, read_bytes_bounded


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


IDENTITY_FIX = "put the person's or role's identity here, e.g. jane.doe@example.com"
_FIXES = {
    "missing": "add the field",
    "extra_forbidden": "remove it or check its spelling against the golden-path template",
    "literal_error": "use one of the allowed values",
    "greater_than": "use a value in the allowed range",
    "greater_than_equal": "use a value in the allowed range",
    "less_than": "use a value in the allowed range",
    "less_than_equal": "use a value in the allowed range",
    "string_pattern_mismatch": "use the format the message names",
    "number_type": "write a plain number (no quotes, not true/false)",
    "finite_number": "write a finite number",
}


# Tags pydantic adds to an error's location for unions and validators; they are not YAML keys.
_UNION_TAGS = {"gpu", "token", "str", "int", "float", "bool", "list[str]"}


def _field_of(loc: tuple, lines: dict[str, int]) -> str:
    parts: list[str] = []
    for part in (str(p) for p in loc):
        if part.startswith("function-"):
            continue
        if part in _UNION_TAGS and ".".join(parts + [part]) not in lines:
            continue
        parts.append(part)
    return ".".join(parts) or "(root)"


def _schema_errors(exc: ValidationError, loaded: LoadedScenario) -> list[InputError]:
    """Every schema violation, one InputError each, with the line of the field (or its parent)."""
    errors: list[InputError] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc, msg = err["loc"], err["msg"].removeprefix("Value error, ")
        if err["type"] == "number_type":  # raised by the model for one of its fields
            loc, msg = (*loc, err["ctx"]["field"]), msg.split(": ", 1)[1]
        field = _field_of(loc, loaded.lines)
        if (field, msg) in seen:  # a union reports the same problem once per member
            continue
        seen.add((field, msg))
        fix = _FIXES.get(err["type"], "see the golden-path template")
        if field.startswith("owners.") and field.endswith(".id"):
            fix = IDENTITY_FIX
        errors.append(loaded.error(field, msg, fix))
    return errors


def read_scenario(path: str | Path) -> tuple[LoadedScenario | None, list[InputError]]:
    """Parse and schema-check a contract; return it, or None with ALL schema violations."""
    path = Path(path)
    try:
        raw = read_bytes_bounded(path, max_bytes=MAX_CONTRACT_BYTES, what="scenario contract")
        data, node = load_yaml_strict(raw, file=path, what="scenario contract")
    except InputError as exc:
        if exc.message.startswith("cannot read"):
            exc.fix = "pass the path of a datasets/<id>/scenario.yaml"
        return None, [exc]
    if not isinstance(data, dict):
        return None, [InputError("a scenario contract must be a YAML mapping", file=path,
                                 fix="start from `releasegate init ID`")]
    lines: dict[str, int] = {}
    if node is not None:
        _line_map(node, "", lines)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        unparsed = LoadedScenario(scenario=None, path=path, contract_sha256="", lines=lines)  # type: ignore[arg-type]
        return None, _schema_errors(exc, unparsed)
    return LoadedScenario(scenario=scenario, path=path,
                          contract_sha256=hashlib.sha256(raw).hexdigest(), lines=lines), []


def parse_scenario(path: str | Path) -> LoadedScenario:
    """Parse and schema-check a contract (no cross-field rules: see `validate_scenario`)."""
    loaded, errors = read_scenario(path)
    if errors:
        raise errors[0]
    assert loaded is not None
    return loaded
