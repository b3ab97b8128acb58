"""Fuzzed contracts and datasets: every problem is an InputError line naming file and fix, within
a time bound; a hostile value where a number belongs is never accepted."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from conftest import record
from fuzz_helpers import HOSTILE_SCALARS, HOSTILE_YAML_TAILS, TRIAGE, Timer, scenario_copy, set_dataset_digest
from hypothesis import given
from hypothesis import strategies as st

from releasegate.core import InputError
from releasegate.scenarios import load_dataset_for, parse_scenario, scenario_errors

CONTRACT = (TRIAGE / "scenario.yaml").read_text(encoding="utf-8")
NUMERIC_LINES = [i for i, line in enumerate(CONTRACT.splitlines())
                 if re.fullmatch(r"\s*[a-z_0-9]+: -?[0-9.]+\s*", line)]


def _errors(path: Path) -> list[InputError]:
    with Timer():
        errors = scenario_errors(path)
    for error in errors:
        text = str(error)
        assert isinstance(error, InputError) and "\n" not in text and "(fix: " in text, text
        assert str(path) in text, text
    return errors


@given(line=st.sampled_from(NUMERIC_LINES), value=st.sampled_from(HOSTILE_SCALARS))
def test_hostile_value_where_a_number_belongs(line: int, value: str) -> None:
    lines = CONTRACT.splitlines()
    key = lines[line].split(":")[0]
    lines[line] = f"{key}: {value}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = scenario_copy(Path(tmp))
        (folder / "scenario.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        errors = _errors(folder / "scenario.yaml")
    record("contracts", "refused" if errors else "accepted")
    assert errors, f"{key.strip()}: {value} was accepted"


@given(tail=st.sampled_from(HOSTILE_YAML_TAILS) | st.text(max_size=200),
       cut=st.integers(0, len(CONTRACT)), junk=st.binary(max_size=16), mode=st.sampled_from(["append", "splice"]))
def test_mangled_contract_is_refused_or_valid(tail: str, cut: int, junk: bytes, mode: str) -> None:
    raw = CONTRACT.encode() + tail.encode("utf-8", "surrogatepass") if mode == "append" else \
        CONTRACT.encode()[:cut] + junk + CONTRACT.encode()[cut:]
    with tempfile.TemporaryDirectory() as tmp:
        folder = scenario_copy(Path(tmp))
        (folder / "scenario.yaml").write_bytes(raw)
        errors = _errors(folder / "scenario.yaml")
    record("contracts", "refused" if errors else "accepted")
    if mode == "append" and tail in HOSTILE_YAML_TAILS:
        assert errors, tail[:80]


ROW_MUTATIONS = {
    "utf16": lambda text: text.encode("utf-16"),
    "latin1": lambda text: text.replace("e", "\u00e9", 3).encode("latin-1", "replace"),
    "invalid-bytes": lambda text: text.encode()[:200] + b"\xff\xfe\x80" + text.encode()[200:],
    "deep-json": lambda text: (text + '{"id": "deep", "x": ' + "[" * 5000 + "]" * 5000 + "}\n").encode(),
    "null-id": lambda text: text.replace('"id": "', '"id": null, "_": "', 1).encode(),
    "nan": lambda text: text.replace('"id": "', '"id": NaN, "_": "', 1).encode(),
    "duplicate-row": lambda text: (text + text.splitlines()[0] + "\n").encode(),
    "not-an-object": lambda text: (text + "[1, 2]\n").encode(),
    "truncated": lambda text: text.encode()[: len(text) // 2],
    "nul": lambda text: text.encode()[:100] + b"\x00" + text.encode()[100:],
}


@given(mutation=st.sampled_from(sorted(ROW_MUTATIONS)))
def test_hostile_dataset_is_one_input_error(mutation: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = scenario_copy(Path(tmp))
        text = (folder / "cases.jsonl").read_text(encoding="utf-8")
        (folder / "cases.jsonl").write_bytes(ROW_MUTATIONS[mutation](text))
        set_dataset_digest(folder)
        loaded = parse_scenario(folder / "scenario.yaml")
        try:
            with Timer():
                load_dataset_for(loaded)
            outcome = "accepted"
        except InputError as exc:
            assert "\n" not in str(exc) and "(fix: " in str(exc) and "cases.jsonl" in str(exc), str(exc)
            outcome = "refused"
    record("datasets", outcome)
    assert outcome == "refused" or mutation == "truncated", mutation
