"""`releasegate scenarios ...`, `releasegate datasets ...` and `releasegate init`.

Thin commands over `scenarios`: they parse options, call the library and print rich tables. Bad
input raises `scenarios.InputError`, which `flows.cli.main` prints as one line with exit code 2.
The HF `datasets` import happens inside `datasets show` only, so `--help` stays fast.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ._cli_common import SCENARIOS, shown

if TYPE_CHECKING:
    from releasegate.scenarios import LoadedScenario

console = Console(highlight=False)

scenarios_app = typer.Typer(help="Scenario contracts: list, show, validate.", no_args_is_help=True)
datasets_app = typer.Typer(help="Scenario datasets: content digests and contents.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(scenarios_app, name="scenarios", rich_help_panel=SCENARIOS)
    app.add_typer(datasets_app, name="datasets", rich_help_panel=SCENARIOS)
    app.command("init", rich_help_panel=SCENARIOS)(init)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _join(names: list[str] | str) -> str:
    return names if isinstance(names, str) else ", ".join(names) or "-"


# ------------------------------------------------------------------------------- scenarios
@scenarios_app.command("list")
def list_scenarios() -> None:
    """Every scenario under datasets/, with its owners, models and whether its contract is valid."""
    from releasegate.scenarios import read_scenario, scenario_errors, scenario_paths

    table = _table("Scenarios", "id", "product owner", "platform owner", "incumbent", "candidates", "contract")
    for path in scenario_paths():
        loaded, errors = read_scenario(path)
        if loaded is None:
            table.add_row(shown(path.parent.name), "-", "-", "-", "-", f"[red]invalid ({len(errors)})[/]")
            continue
        s = loaded.scenario
        problems = scenario_errors(path)
        status = "[green]valid[/]" if not problems else f"[red]invalid ({len(problems)})[/]"
        table.add_row(s.id, s.owners.product.id if s.owners.product else "-",
                      s.owners.platform.id if s.owners.platform else "-", s.incumbent,
                      _join(s.candidates), status)
    console.print(table)


@scenarios_app.command("show")
def show(
    scenario_id: Annotated[str, typer.Argument(metavar="ID", help="Scenario id, folder or scenario.yaml")],
    raci: Annotated[bool, typer.Option("--raci", help="The decision template: RACI, platform contract, "
                                       "owners and escalation path")] = False,
) -> None:
    """A scenario's contract as tables (validated first: a broken contract exits 2)."""
    from releasegate.scenarios import load_scenario

    loaded = load_scenario(scenario_id)
    if raci:
        _print_decision_template(loaded)
    else:
        _print_contract(loaded)


def _print_contract(loaded: LoadedScenario) -> None:
    s = loaded.scenario
    overview = _table(f"Scenario {s.id}", "field", "value")
    overview.add_row("description", shown(s.description))
    overview.add_row("contract", f"{shown(loaded.path)} (sha256 {loaded.contract_sha256})")
    overview.add_row("template / intake", f"{s.template or '-'} / {s.intake_date or '-'}")
    overview.add_row("task", s.task.kind + (f": {', '.join(s.task.labels)}" if s.task.labels else ""))
    overview.add_row("dataset", f"{s.dataset.path} (sha256 {s.dataset.sha256}); slices: "
                     f"{_join(s.dataset.slice_fields)}")
    overview.add_row("context budget", f"{s.context_budget.max_prompt_tokens} prompt + "
                     f"{s.context_budget.max_output_tokens} output tokens")
    scorers = ", ".join(f"{sc.name} ({sc.type})" for sc in s.scoring.scorers)
    acceptance = s.scoring.acceptance
    rule = acceptance.mode + (f" >= {acceptance.threshold}" if acceptance.threshold is not None else "")
    overview.add_row("scoring", f"{scorers}; accepted when {rule}")
    console.print(overview)

    models = _table("Model entries", "entry", "role", "model", "prompt", "style", "max_model_len", "cost")
    for name, entry in s.models.items():
        role = "incumbent" if name == s.incumbent else "candidate" if name in s.candidates else "-"
        cost = entry.cost
        price = (f"{cost.count} x {cost.accelerator} at ${cost.usd_per_hour}/h" if cost.pricing == "gpu"
                 else f"${cost.usd_per_million_input}/M in, ${cost.usd_per_million_output}/M out")
        models.add_row(name, role, entry.model, entry.prompt_version, entry.prompt_style,
                       str(entry.serving.max_model_len), price)
    console.print(models)

    c = s.success_criteria
    criteria = _table("Success criteria", "criterion", "threshold")
    criteria.add_row("minimum acceptance rate", f"{c.min_acceptance_rate:.2f}")
    criteria.add_row("non-inferiority margin", f"{c.non_inferiority_margin:.2f} at confidence {c.confidence}")
    criteria.add_row("cost per accepted outcome", f"<= ${c.max_cost_per_accepted_usd}" if c.max_cost_per_accepted_usd else "-")
    criteria.add_row("cost ratio to incumbent", f"<= {c.max_cost_ratio}" if c.max_cost_ratio else "-")
    criteria.add_row("latency p95 (TTFT / end-to-end)", f"{c.latency_slo.ttft_p95_s or '-'} s / {c.latency_slo.latency_p95_s or '-'} s")
    criteria.add_row("slice guard", f"{_join(c.slice_guard.fields)}: margin {c.slice_guard.margin}, "
                     f"min {c.slice_guard.min_cases} cases")
    criteria.add_row("critical checks", _join(c.critical))
    console.print(criteria)
    console.print("Decision template: releasegate scenarios show " + s.id + " --raci")


def _print_decision_template(loaded: LoadedScenario) -> None:
    s = loaded.scenario
    owners = _table(f"Owners of {s.id}", "role", "identity", "name")
    for role in ("product", "platform", "quality", "cost", "incident"):
        owner = getattr(s.owners, role)
        owners.add_row(role, shown(owner.id) if owner else "[red]missing[/]", shown(owner.name or "-") if owner else "-")
    console.print(owners)

    raci = _table("RACI", "activity", "responsible", "accountable", "consulted", "informed")
    for activity, entry in s.raci.items():
        raci.add_row(activity.replace("_", " "), _join(entry.responsible), _join(entry.accountable_list),
                     _join(entry.consulted), _join(entry.informed))
    console.print(raci)

    platform = _table("Platform contract", "area", "policy", "owner")
    rp = s.route_policy
    platform.add_row("route policy", f"{rp.mode}; fallback {rp.fallback or '-'}; human review "
                     f"{'yes' if rp.human_review else 'no'}", rp.owner or "-")
    cb = s.context_budget
    platform.add_row("context budget", f"{cb.max_prompt_tokens} prompt + {cb.max_output_tokens} output tokens",
                     cb.owner or "-")
    tp = s.tool_policy
    platform.add_row("tool policy", f"{tp.version}; allowed tools: {_join(tp.allowed_tools) if tp.allowed_tools else 'none'}",
                     tp.owner or "-")
    cs = s.cache_strategy
    platform.add_row("cache strategy", f"prefix {'stable' if cs.prefix_stable else 'not stable'}; "
                     f"min prefix cache hit rate {cs.min_prefix_cache_hit_rate}", cs.owner or "-")
    pf = s.prompt_family
    versions = "; ".join(f"{v}: {', '.join(pv.compatible_models)}" for v, pv in pf.versions.items())
    platform.add_row("prompt family", f"{pf.name} (default {pf.default_version}); {versions}", pf.owner or "-")
    platform.add_row("incident process", f"runbook {s.incident_process.runbook or '-'}; rollback: "
                     f"{_join(list(s.incident_process.rollback_targets))}",
                     s.owners.incident.id if s.owners.incident else "-")
    console.print(platform)

    escalation = _table("Escalation path", "step", "identity")
    for step, who in enumerate(s.escalation_path, start=1):
        escalation.add_row(str(step), who)
    console.print(escalation)


@scenarios_app.command("validate")
def validate(
    paths: Annotated[list[str] | None, typer.Argument(metavar="[PATH]...",
                     help="scenario.yaml files, folders or ids (default: every scenario)")] = None,
) -> None:
    """Check contracts; print EVERY violation, one line each. Exit 2 if there is any."""
    from releasegate.core import InputError
    from releasegate.scenarios import resolve_scenario_path, scenario_errors, scenario_paths

    targets: list[str | Path] = list(paths) if paths else list(scenario_paths())
    if not targets:
        raise InputError("no scenarios found", field="PATH", fix="pass a scenario.yaml or run `releasegate init ID`")
    problems = 0
    for target in targets:
        try:
            errors = scenario_errors(resolve_scenario_path(target))
        except InputError as exc:  # an unknown id or path is one more problem, not the end
            errors = [exc]
        if errors:
            for error in errors:
                console.print(f"[red]error:[/] {error}", soft_wrap=True, markup=True)
            problems += len(errors)
        else:
            console.print(f"[green]ok[/] {target}", soft_wrap=True)
    if problems:
        console.print(f"{problems} problem(s) in {len(targets)} contract(s)", soft_wrap=True)
        raise typer.Exit(2)


# -------------------------------------------------------------------------------- datasets
@datasets_app.command("digest")
def digest(path: Annotated[Path, typer.Argument(metavar="PATH", help="A cases file")]) -> None:
    """sha256 of a file's bytes (what `dataset.sha256` in a contract must say)."""
    from releasegate.core import InputError
    from releasegate.scenarios import file_sha256

    if not path.is_file():
        raise InputError("no such file", file=path, fix="pass the path of a cases file")
    console.print(f"{file_sha256(path)}  {path}", soft_wrap=True)


@datasets_app.command("show")
def show_dataset(scenario_id: Annotated[str, typer.Argument(metavar="ID", help="Scenario id, folder or scenario.yaml")]) -> None:
    """Rows, digest, and counts per slice value and per label of a scenario's dataset."""
    from releasegate.scenarios import load_dataset_for, load_scenario

    loaded = load_scenario(scenario_id)
    dataset = load_dataset_for(loaded)
    s = loaded.scenario
    summary = _table(f"Dataset of {s.id}", "field", "value")
    summary.add_row("file", str(dataset.path))
    summary.add_row("rows", str(len(dataset)))
    summary.add_row("sha256", dataset.sha256)
    summary.add_row("reference", dataset.reference_field + (" (JSON text)" if s.task.kind == "json" else ""))
    console.print(summary)
    for field in dataset.slice_fields:
        counts = Counter(str(row[field]) for row in dataset.rows)
        table = _table(f"Slice {field}", "value", "cases")
        for value, n in counts.most_common():
            table.add_row(value, str(n))
        console.print(table)
    if s.task.kind == "label":
        counts = Counter(str(row[dataset.reference_field]) for row in dataset.rows)
        table = _table("Labels", "label", "cases")
        for label in s.task.labels:  # contract order, zeros included: a label with no case is a gap
            table.add_row(label, str(counts.get(label, 0)))
        console.print(table)


# ------------------------------------------------------------------------------------ init
def init(
    scenario_id: Annotated[str, typer.Argument(metavar="ID", help="New scenario id, e.g. invoice-triage")],
    directory: Annotated[Path, typer.Option("--dir", help="Folder that holds scenario folders")] = Path("datasets"),
) -> None:
    """Scaffold a new scenario folder from the golden-path template (refuses an existing folder)."""
    from releasegate.scenarios import scaffold_scenario

    folder = scaffold_scenario(scenario_id, directory)
    console.print(f"created {folder}/ (scenario.yaml, cases.jsonl, CARD.md)", soft_wrap=True)
    console.print("next: replace every FILL-ME-<role> in scenario.yaml with a real identity (product and "
                  "platform owners must differ), then run "
                  f"`releasegate scenarios validate {folder / 'scenario.yaml'}`", soft_wrap=True)
