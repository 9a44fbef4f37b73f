"""The layout's single sources: the command table matches the click app."""

import click

from kctx import cli
from kctx.commands import table


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, cmd in group.commands.items():
        out[prefix + name] = cmd
        if isinstance(cmd, click.Group):
            out.update(_commands(cmd, prefix + name + " "))
    return out


def test_command_table_names_every_click_command_and_no_other() -> None:
    assert set(_commands(cli.cli)) == set(table.COMMANDS)


def test_arguments_complete_as_the_table_says() -> None:
    for name, cmd in _commands(cli.cli).items():
        positional = [p for p in cmd.params if isinstance(p, click.Argument)]
        for i, param in enumerate(positional):
            kind = table.completes(name, i)
            expected = cli._COMPLETERS.get(kind)
            assert param._custom_shell_complete is expected, (name, param.name, kind)


def test_evaluated_commands_are_switching_commands() -> None:
    assert set(table.EVALUATED) == {"use", "ns", "off", "unlock", "lock", "_adopt", "_start", "_dir"}
    assert all(table.fast(c) for c in table.EVALUATED)
