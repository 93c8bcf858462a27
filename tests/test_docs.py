"""Documentation the tests keep honest: the README's two commands and every CLI command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from aggregator.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def all_commands(group: click.Group, prefix: str = "aggregator") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
        else:
            found.append((path, command))
    return found


@pytest.mark.parametrize(("path", "command"), all_commands(cli), ids=lambda v: str(v))
def test_every_command_is_documented_and_has_help(path: str, command: click.Command) -> None:
    assert command.help, f"{path} has no help text"
    assert f"`{path}" in README, f"{path} is not in the README's command reference"


def test_readme_opens_with_the_two_commands() -> None:
    block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert README.index("```sh") < README.index("\n## ")  # the very top of the README
    code = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(code) == 2
    run, test = code
    assert run.startswith("python3 -m venv .venv") and run.endswith("aggregator run")
    assert test.startswith("python3 -m venv .venv") and test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci and "eval" in ci
    for check in ("ruff check", "ruff format --check", "mypy"):
        assert check in ci
