"""`releasegate --help` groups the commands by what a person does; none is left out of a panel."""
from __future__ import annotations

import typer
from typer.testing import CliRunner

from releasegate.flows._cli_common import PANELS
from releasegate.flows.cli import app


def test_every_command_is_in_one_help_panel() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    panel = {name: getattr(cmd, "rich_help_panel", None) for name, cmd in group.commands.items()}
    assert sorted(name for name, p in panel.items() if p not in PANELS) == []
    used = set(panel.values())
    commands = group.commands
    assert used == set(PANELS)  # no empty panel either
    assert {"init", "serve", "score", "promote", "trust", "governance", "gateway", "evaluate"} <= set(commands)


def test_help_shows_the_panels_with_their_commands() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"}, terminal_width=120)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    titles = [line.strip("╭─╮ ") for line in lines if line.startswith("╭─")]
    assert titles == ["Options", "Scenarios", "Serving", "Gate", "Releases", "Operating model", "Flows",
                      "Gateway", "Trust"]
    # the commands sit under their panel's title: promote in Releases, governance in Operating model
    start = next(i for i, line in enumerate(lines) if line.startswith("╭─ Releases"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("╰"))
    names = {line.strip("│ ").split(" ")[0] for line in lines[start + 1:end]}
    assert {"approve", "verify", "sync", "promote", "rollback", "audit", "keys", "ledger", "guard"} <= names
