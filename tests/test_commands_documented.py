"""Every command the tool has is named in the README (as sqlite-utils checks its docs)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from flitstack.cli import app


def _commands(group: object, prefix: str = "") -> list[str]:
    out = []
    for name, command in getattr(group, "commands", {}).items():
        full = f"{prefix}{name}"
        if getattr(command, "commands", None):
            out.extend(_commands(command, full + " "))
        else:
            out.append(full)
    return out


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15
    missing = [c for c in commands if f"flitstack {c}" not in readme]
    assert not missing, f"not in README.md: {missing}"
