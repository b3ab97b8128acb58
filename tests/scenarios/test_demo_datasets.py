"""The committed demo datasets: reproducible from the generator, balanced, with usable slices."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from contract_helpers import INVOICE_EXTRACTION, REPO, SUPPORT_TRIAGE

from releasegate.scenarios import load_dataset_for, load_scenario, render_prompt

GENERATOR = REPO / "datasets" / "generate_demo_cases.py"


def test_generator_reproduces_the_committed_files() -> None:
    result = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_datasets_folder_is_data_only() -> None:
    assert not list((REPO / "datasets").rglob("__init__.py"))


def test_support_triage_is_large_balanced_and_sliced() -> None:
    dataset = load_dataset_for(load_scenario("support-triage"))
    assert len(dataset) >= 300
    labels = Counter(r["reference"] for r in dataset.rows)
    assert set(labels) == {"billing", "technical", "account", "shipping", "returns", "other"}
    assert max(labels.values()) - min(labels.values()) <= 5
    languages = Counter(r["language"] for r in dataset.rows)
    assert set(languages) == {"en", "es", "de", "fr", "mixed"}
    assert min(languages.values()) >= 20  # the slice guard's min_cases
    templates = Counter(r["template"] for r in dataset.rows)
    assert {"clear", "ambiguous", "misleading", "noisy-long", "other-language", "mixed-language"} == set(templates)
    assert set(r["channel"] for r in dataset.rows) == {"email", "chat", "phone-transcript", "social"}


def test_invoice_extraction_is_large_and_sliced() -> None:
    dataset = load_dataset_for(load_scenario("invoice-extraction"))
    assert len(dataset) >= 300
    layouts = Counter(r["layout"] for r in dataset.rows)
    assert set(layouts) == {"key-value", "table", "letter", "receipt", "email"} and min(layouts.values()) >= 20
    for row in dataset.rows:
        reference = json.loads(row["reference"])
        assert reference["currency"] == row["currency"]
        assert reference["invoice_number"] in row["invoice_text"]
        assert reference["vendor"] in row["invoice_text"]


def test_longest_prompts_fit_the_context_budget_roughly() -> None:
    """Without a tokenizer here: 3 characters per token undercounts tokens only for odd text."""
    for folder in (SUPPORT_TRIAGE, INVOICE_EXTRACTION):
        loaded = load_scenario(folder)
        budget = loaded.scenario.context_budget.max_prompt_tokens
        for row in load_dataset_for(loaded).rows:
            for entry in loaded.scenario.models:
                prompt = render_prompt(loaded.scenario, entry, row)
                assert len(prompt.cache_text()) / 3 < budget, (row["id"], entry)


def test_cards_carry_current_counts() -> None:
    card = (SUPPORT_TRIAGE / "CARD.md").read_text(encoding="utf-8")
    rows = len((SUPPORT_TRIAGE / "cases.jsonl").read_text(encoding="utf-8").splitlines())
    assert f"{rows} cases." in card
