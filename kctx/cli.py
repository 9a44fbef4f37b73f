"""The click layer: parses arguments and hands values to the plain functions in kctx.commands.

Each area keeps its commands in its own section below; the functions they call live in
kctx/commands/<area>.py and take plain values, so tests can call them directly.
"""

import sys
from typing import Any

import click

from kctx import __version__
from kctx.commands import table
from kctx.errors import INTERRUPTED, USAGE, exit_code
from kctx.shell import SHELLS

OUTPUT = click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="Output format.")


def _entry_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    from kctx import session

    names, tiers, _ = session.completion_columns(in_force=True)
    return [CompletionItem(n, help=t or None) for n, t in zip(names, tiers) if n.startswith(incomplete)]


def _tier_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        from kctx import config

        return [t for t in config.load()["tiers"] if t.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - a completion must never print a traceback
        return []


def _namespaces(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Namespaces already used: the entries' own and those `kctx ns` recorded."""
    from kctx import session

    return [n for n in session.used_namespaces() if n.startswith(incomplete)]


_COMPLETERS = {table.ENTRY: _entry_names, table.ENTRIES: _entry_names, table.NAMESPACE: _namespaces,
               table.TIER: _tier_names}


def argument(command: str, position: int, *decls: str, **kwargs: Any) -> Any:
    """A click argument that completes as the command table says."""
    return click.argument(*decls, shell_complete=_COMPLETERS.get(table.completes(command, position)), **kwargs)


def option(*decls: str, **kwargs: Any) -> Any:
    """A click option; its value completes as the command table says for options of that name."""
    kind = next((table.OPTIONS[d] for d in decls if d in table.OPTIONS), "")
    return click.option(*decls, shell_complete=_COMPLETERS.get(kind), **kwargs)




@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kctx")
def cli() -> None:
    """kctx: a kubeconfig per cluster, a target per shell, a guard for production.

    Load the shell integration first, e.g. in ~/.bashrc:  eval "$(kctx init bash)"
    """


# -- store ------------------------------------------------------------------------------------
@cli.command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@option("--tier", help="Tier for every imported entry (default: inferred from the name).")
@click.option("--strict", is_flag=True, help="Refuse context names that are not valid entry names instead of renaming them.")
@click.option("--force", is_flag=True, help="Replace entries of the same name.")
@click.option("--prefix", metavar="P", help="Prefix every imported entry's name with P.")
@click.option("--names", "naming", type=click.Choice(["short", "full"]), default="short", show_default=True,
              help="short: name entries after the cluster for generated context names (EKS, GKE, eksctl, "
                   "OpenShift, kubeadm...); full: the context's own name.")
@OUTPUT
def import_cmd(files: tuple[str, ...], tier: str | None, strict: bool, force: bool, prefix: str | None,
               naming: str, output: str) -> int:
    """Split kubeconfig FILES (default: $KUBECONFIG or ~/.kube/config) into one entry per context.

    The source files are never modified.
    """
    from kctx.commands import store_cmds

    return store_cmds.import_(list(files), tier, strict, force, prefix, output, naming)


@cli.command("list")
@click.option("-o", "--output", type=click.Choice(["text", "json", "name"]), default="text", show_default=True,
              help="Output format.")
def list_cmd(output: str) -> int:
    """List the entries: NAME TIER SERVER NAMESPACE, this shell's entry marked with *."""
    from kctx.commands import store_cmds

    return store_cmds.list_(output)


@cli.command("show")
@argument("show", 0, "name")
@OUTPUT
def show_cmd(name: str, output: str) -> int:
    """Show one entry: tier, server, user, namespace, file, where it came from."""
    from kctx.commands import store_cmds

    return store_cmds.show(name, output)


@cli.command("tier")
@argument("tier", 0, "name")
@argument("tier", 1, "tier", required=False)
def tier_cmd(name: str, tier: str | None) -> int:
    """Print the tier of NAME, or set it to TIER (prod, staging, dev, none, or one of the config's)."""
    from kctx.commands import store_cmds

    return store_cmds.tier(name, tier)


@cli.command("rm")
@argument("rm", 0, "names", nargs=-1, required=True)
def rm_cmd(names: tuple[str, ...]) -> int:
    """Remove entries from the store (the files they were imported from are untouched)."""
    from kctx.commands import store_cmds

    return store_cmds.rm(list(names))


@cli.command("rename")
@argument("rename", 0, "old")
@argument("rename", 1, "new")
def rename_cmd(old: str, new: str) -> int:
    """Rename entry OLD to NEW."""
    from kctx.commands import store_cmds

    return store_cmds.rename(old, new)


# -- switching, sessions, prompt (kctx/commands/switch.py, init.py, pick.py) ----------------
NAMESPACE = option("-n", "--namespace", metavar="NS",
                         help="Namespace (default: the entry's own).")


@cli.command("init")
@click.argument("shell", type=click.Choice(SHELLS))
@click.option("--ps1", is_flag=True, help="Put the prompt segment in front of PS1 / PROMPT / fish_prompt.")
@click.option("--no-kubectl", is_flag=True,
              help="Leave the word kubectl alone (by default it goes through the guard k in interactive shells).")
def init_cmd(shell: str, ps1: bool, no_kubectl: bool) -> int:
    """Print the shell integration: eval "$(kctx init bash)" in ~/.bashrc, "$(kctx init zsh)"
    in ~/.zshrc (after compinit), kctx init fish | source in config.fish; nu: save it in
    an autoload folder (see the README).

    It defines the kctx function, keeps KCTX_PS1 current at every prompt (put ${KCTX_PS1} in
    PS1, or PROMPT with prompt_subst; fish: call kctx_prompt) and completes kctx and k.
    """
    from kctx.commands import init

    return init.init(shell, ps1=ps1, kubectl=not no_kubectl)


@cli.command("use")
@argument("use", 0, "name", required=False)
@NAMESPACE
def use_cmd(name: str | None, namespace: str | None) -> int:
    """Point this shell at entry NAME ('-': the previous one); no NAME: pick one on the terminal.

    Other shells keep their own target. Needs the shell integration (kctx init).
    """
    from kctx.commands import switch

    return switch.use(name, namespace)


@cli.command("ns")
@argument("ns", 0, "namespace", required=False)
def ns_cmd(namespace: str | None) -> int:
    """Set this shell's namespace ('-': the previous one); without NAMESPACE, print it."""
    from kctx.commands import switch

    return switch.ns(namespace)


@cli.command("off")
def off_cmd() -> int:
    """This shell targets nothing: kubectl refuses to run until the next kctx use."""
    from kctx.commands import switch

    return switch.off()


@cli.command("_adopt", hidden=True)
def adopt_cmd() -> int:
    """(internal) Give a shell that inherited a target its own session file."""
    from kctx.commands import switch

    return switch.adopt()


@cli.command("_start", hidden=True)
def start_cmd() -> int:
    """(internal) A new shell under shell.start: last takes the entry last chosen."""
    from kctx.commands import switch

    return switch.start()


@cli.command("_dir", hidden=True)
@click.argument("file")
def dir_cmd(file: str) -> int:
    """(internal) Under shell.directories: the .kctx file nearest the shell's new folder."""
    from kctx.commands import switch

    return switch.directory(file)


@cli.command("current")
@OUTPUT
def current_cmd(output: str) -> int:
    """Print this shell's entry (exit 1 when none); -o json adds namespace, tier, server, session."""
    from kctx.commands import switch

    return switch.current(output)


@cli.command("exec")
@argument("exec", 0, "name")
@NAMESPACE
@click.option("--fail-fast", is_flag=True, help="With a pattern: stop at the first entry whose run fails.")
@click.option("-P", "--parallel", "jobs", type=int, default=1, metavar="N",
              help="With a pattern: N runs at once, each output line after its entry's name.")
@argument("exec", 1, "command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(name: str, namespace: str | None, fail_fast: bool, jobs: int, command: tuple[str, ...]) -> int:
    """Run COMMAND against entry NAME without switching: kctx exec staging -- kubectl get pods.

    Put -- before COMMAND. The exit code is COMMAND's. NAME may be a pattern ('staging-*'):
    COMMAND then runs once per matching entry, in name order; the exit code is 0 when every run
    succeeded, else the first failure's.
    """
    from kctx.commands import switch

    return switch.exec_(name, namespace, list(command), fail_fast, jobs)


@cli.command("prompt")
@click.option("--plain", is_flag=True, help="No colours.")
def prompt_cmd(plain: bool) -> int:
    """Print the prompt segment once, e.g. for tmux or a starship custom module."""
    from kctx.commands import switch

    return switch.prompt(plain)


@cli.command("unlock")
@argument("unlock", 0, "duration")
def unlock_cmd(duration: str) -> int:
    """Let k change this shell's protected entry without asking for DURATION (15m, 1h; at most 24h)."""
    from kctx.commands import switch

    return switch.unlock(duration)


@cli.command("lock")
def lock_cmd() -> int:
    """End this shell's unlock now."""
    from kctx.commands import switch

    return switch.lock()


# -- guard (kctx/commands/guard_cmds.py) ------------------------------------------------------
@cli.command("audit")
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the last N records.")
@option("--entry", help="Only the records of this entry.")
@OUTPUT
def audit_cmd(last: int | None, entry: str | None, output: str) -> int:
    """What the guard (k) decided on protected targets: asked, confirmed, refused, unlocked."""
    from kctx.commands import guard_cmds

    return guard_cmds.audit_(output, last, entry)



@cli.command("confirm", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
@argument("confirm", 0, "command", nargs=-1, required=True, type=click.UNPROCESSED)
def confirm_cmd(command: tuple[str, ...]) -> int:
    """Run COMMAND (helm, a script, any client) on this shell's protected entry once you type its name.

    kctx confirm helm upgrade web ./chart: the question k asks for kubectl, on the terminal
    (KCTX_CONFIRM=<entry> without one); once confirmed, COMMAND alone may write, around the API
    guard. On an unprotected entry COMMAND just runs. The exit code is COMMAND's; 4 refused,
    5 aborted, 130 interrupted, 127 no such command.
    """
    from kctx.commands import guard_cmds

    return guard_cmds.confirm(list(command))


# -- kubectl versions (kctx/commands/kubectl_cmds.py) -----------------------------------------
@cli.group("kubectl")
def kubectl_group() -> None:
    """The kubectl each entry uses: matched to its server's version, or pinned."""


@kubectl_group.command("which")
@argument("kubectl which", 0, "name", required=False)
@OUTPUT
def kubectl_which_cmd(name: str | None, output: str) -> int:
    """Print the path of the kubectl NAME (default: this shell's entry) uses, and why."""
    from kctx.commands import kubectl_cmds

    return kubectl_cmds.which(name, output)


@kubectl_group.command("pin")
@argument("kubectl pin", 0, "name")
@argument("kubectl pin", 1, "version")
def kubectl_pin_cmd(name: str, version: str) -> int:
    """Pin NAME to kubectl VERSION (1.29.10, or 1.29 for its newest patch); 'auto' matches the server again."""
    from kctx.commands import kubectl_cmds

    return kubectl_cmds.pin(name, version)


@kubectl_group.command("install")
@click.argument("version")
@OUTPUT
def kubectl_install_cmd(version: str, output: str) -> int:
    """Download and verify kubectl VERSION: 1.31 for its newest patch, 1.31.2 exactly."""
    from kctx.commands import kubectl_cmds

    return kubectl_cmds.install(version, output)


@kubectl_group.command("list")
@OUTPUT
def kubectl_list_cmd(output: str) -> int:
    """Installed kubectl versions, their size, and the entries that use them."""
    from kctx.commands import kubectl_cmds

    return kubectl_cmds.list_(output)


@kubectl_group.command("prune")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def kubectl_prune_cmd(dry_run: bool) -> int:
    """Remove installed kubectl versions that no entry uses."""
    from kctx.commands import kubectl_cmds

    return kubectl_cmds.prune(dry_run)


@cli.command("doctor")
@click.option("--offline", is_flag=True, help="Do not contact the servers.")
@click.option("--fix", is_flag=True, help="Tighten file modes and remove stale session files.")
@OUTPUT
def doctor_cmd(offline: bool, fix: bool, output: str) -> int:
    """Check the setup: integration, file modes, sessions, servers, kubectl per entry, skew.

    Exits non-zero when something is wrong.
    """
    from kctx.commands import doctor

    return doctor.doctor(offline, fix, output)



def handle(fn: Any, *args: Any) -> int:
    """Run fn, mapping every failure to one line on stderr and an exit code."""
    try:
        rc = fn(*args)
        return rc if isinstance(rc, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.Abort:
        sys.stderr.write("kctx: aborted\n")
        return INTERRUPTED
    except click.ClickException as e:
        e.show()
        return e.exit_code if e.exit_code else USAGE
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - one line and an exit code
        return exit_code(e)


def run(argv: list[str]) -> int:
    return handle(lambda: cli.main(args=argv, prog_name="kctx", standalone_mode=False))
