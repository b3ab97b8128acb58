"""The scenario contract: schema, loader, validation rules, datasets, registry.

The public face of the first stage. Every later stage may import from here.
"""
from ._contract import (
    ModelEntry,
    Owner,
    Scenario,
    ScorerSpec,
)
from ._attestation import (
    GENERATION_PREDICATE_TYPE,
    STATEMENT_TYPE,
    GenerationPredicate,
    attestation_path,
    generation_predicate,
    generation_statement,
    predicate_mismatches,
)
from ._evidence import check_record_meta, check_record_values, check_records_match
from ._dataset import ScenarioDataset, file_sha256, load_dataset_for, load_rows
from ._load import LoadedScenario, parse_scenario, read_scenario
from ._records import RECORD_COLUMNS, REQUIRED_FOR_SCORING, read_records, write_records
from ._records_meta import RecordsMeta, check_produced_meta, records_meta_json_schema
from ._registry import load_contract, load_scenario, resolve_scenario_path, scenario_paths
from ._render import render_prompt
from ._scaffold import scaffold_scenario, template_dir
from ._rules import RULES, scenario_errors, validate_scenario

__all__ = [
    "GENERATION_PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "GenerationPredicate",
    "attestation_path",
    "generation_predicate",
    "generation_statement",
    "predicate_mismatches",
    "RECORD_COLUMNS",
    "REQUIRED_FOR_SCORING",
    "RecordsMeta",
    "check_produced_meta",
    "records_meta_json_schema",
    "RULES",
    "check_record_meta",
    "check_record_values",
    "check_records_match",
    "LoadedScenario",
    "ModelEntry",
    "Owner",
    "Scenario",
    "ScenarioDataset",
    "ScorerSpec",
    "file_sha256",
    "load_dataset_for",
    "load_rows",
    "load_scenario",
    "load_contract",
    "parse_scenario",
    "read_records",
    "read_scenario",
    "render_prompt",
    "resolve_scenario_path",
    "scaffold_scenario",
    "scenario_errors",
    "scenario_paths",
    "template_dir",
    "validate_scenario",
    "write_records",
]
