"""Reading kubectl's own help texts: its command tree, every command's flags and examples.

Used at development time to generate `cmdtree.py` (python -m kctx.guard.kubectl_help) and by
the tests (the corpus of examples). Never imported by `k` itself.
"""

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

_FLAG = re.compile(r"^\s{4}(?:-([A-Za-z0-9]), )?--([A-Za-z0-9][A-Za-z0-9_-]*)=(.*):\s*$")
_COMMAND = re.compile(r"^  ([a-z][a-z0-9-]*)\s{2,}\S")


@dataclass
class Command:
    path: tuple[str, ...]
    aliases: list[str] = field(default_factory=list)
    subcommands: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)  # long name -> default as printed
    shorts: dict[str, str] = field(default_factory=dict)  # shorthand -> long name
    examples: list[str] = field(default_factory=list)  # one command line each (continuations joined)
    takes_value: dict[str, str] = field(default_factory=dict)  # long name -> "b" | "o" | "v"


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "KCTX"))}
    env.update(HOME=home, KUBECONFIG=os.path.join(home, "none"), KUBECACHEDIR=os.path.join(home, "cache"),
               EDITOR="true", KUBE_EDITOR="true", NO_COLOR="1")
    return env


def _help(kubectl: str, path: tuple[str, ...], env: dict[str, str]) -> str:
    out = subprocess.run([kubectl, *path, "--help"], capture_output=True, text=True, env=env,
                         stdin=subprocess.DEVNULL, timeout=60, check=False)
    return out.stdout


def _sections(text: str) -> dict[str, list[str]]:
    """Help text split at its headings ('Examples:', 'Options:', ...): heading -> lines."""
    out: dict[str, list[str]] = {}
    current = "_"
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1]
            out[current] = []
            continue
        out.setdefault(current, []).append(line)
    return out


def _examples(lines: list[str]) -> list[str]:
    """Command lines of an Examples section; backslash continuations joined, comments dropped."""
    cmds: list[str] = []
    pending = ""
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            if pending:
                cmds.append(pending)
                pending = ""
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        cmds.append(pending + line)
        pending = ""
    if pending:
        cmds.append(pending.strip())
    return cmds


def parse(path: tuple[str, ...], text: str) -> Command:
    cmd = Command(path)
    sec = _sections(text)
    for line in sec.get("Aliases", []):
        if line.strip():
            cmd.aliases = [a.strip() for a in line.split(",") if a.strip()]
            break
    subs = [ln for key, lines in sec.items() if key == "Available Commands" or key.endswith("Commands")
            or key.startswith("Basic Commands") for ln in lines]
    for line in subs:
        m = _COMMAND.match(line)
        if m:
            cmd.subcommands.append(m.group(1))
    for line in sec.get("Options", []) + (sec.get("The following options can be passed to any command", [])):
        m = _FLAG.match(line)
        if m:
            short, long, default = m.groups()
            cmd.flags[long] = default
            if short:
                cmd.shorts[short] = long
    cmd.examples = _examples(sec.get("Examples", []))
    return cmd


def _options(kubectl: str, env: dict[str, str]) -> Command:
    out = subprocess.run([kubectl, "options"], capture_output=True, text=True, env=env, timeout=60, check=False).stdout
    cmd = Command(())
    for line in out.splitlines():
        m = _FLAG.match(line)
        if m:
            short, long, default = m.groups()
            cmd.flags[long] = default
            if short:
                cmd.shorts[short] = long
    cmd.flags["help"] = "false"
    cmd.shorts["h"] = "help"
    return cmd


def walk(kubectl: str, probe_values: bool = False) -> dict[tuple[str, ...], Command]:
    """Every command of kubectl's tree, keyed by path; () holds the global flags."""
    with tempfile.TemporaryDirectory() as home:
        env = _env(home)
        tree: dict[tuple[str, ...], Command] = {}
        glob = _options(kubectl, env)
        root = parse((), _help(kubectl, (), env))
        # `help` is a command cobra adds; `options` is listed nowhere but exists.
        pending = [(c,) for c in root.subcommands] + [("options",), ("help",)]
        with ThreadPoolExecutor(8) as pool:
            while pending:
                texts = list(pool.map(lambda p: (p, _help(kubectl, p, env)), pending))
                pending = []
                for p, text in texts:
                    cmd = parse(p, text)
                    tree[p] = cmd
                    pending.extend(p + (s,) for s in cmd.subcommands if p + (s,) not in tree)
            glob.subcommands = root.subcommands + ["options", "help"]
            tree[()] = glob
            for cmd in tree.values():
                for long, default in cmd.flags.items():
                    cmd.takes_value[long] = "b" if default in ("true", "false") else "v"
            if probe_values:
                jobs = [(cmd, long) for cmd in tree.values() for long, kind in cmd.takes_value.items()
                        if kind == "v"]
                for (cmd, long), optional in zip(jobs, pool.map(lambda j: _optional(kubectl, j[0].path, j[1], env), jobs)):
                    if optional:
                        cmd.takes_value[long] = "o"
        return tree


def _optional(kubectl: str, path: tuple[str, ...], long: str, env: dict[str, str]) -> bool:
    """True when `--long` may be given without a value (pflag's NoOptDefVal)."""
    argv = [kubectl, *path, "--server=https://127.0.0.1:9", "--request-timeout=1s", f"--{long}"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return True  # it got past flag parsing and ran
    if "applying preferences" in out.stderr:
        return False  # kubectl read the next word as a kuberc path before pflag saw it: takes a value
    return "flag needs an argument" not in out.stderr


CMDTREE_HEADER = '''"""GENERATED by `python -m kctx.guard.kubectl_help` from kubectl {version}: do not edit.

For each command path (words joined by one space; "" holds the global flags): its subcommands
and their aliases, its flags, and its shorthands. Flags are kept as strings (" name name ") so
that loading this costs `k` next to nothing: NOVALUE holds the flags that take no value (bool;
"name?" when pflag's NoOptDefVal makes the value optional, as for --dry-run), VALUE the others.
"""
'''


def render_cmdtree(tree: dict[tuple[str, ...], Command], version: str) -> str:
    lines = [CMDTREE_HEADER.format(version=version)]
    lines.append(f"VERSION = {version!r}\n")
    lines.append("SUBCOMMANDS = {")
    for path in sorted(tree):
        cmd = tree[path]
        if not cmd.subcommands:
            continue
        names: dict[str, str] = {}
        for sub in cmd.subcommands:
            names[sub] = sub
            for alias in tree.get(path + (sub,), Command(())).aliases:
                names.setdefault(alias, sub)
        lines.append(f"    {' '.join(path)!r}: {names!r},")
    lines.append("}\n")
    for table, kinds in (("NOVALUE", "bo"), ("VALUE", "v")):
        lines.append(f"{table} = {{")
        for path in sorted(tree):
            flags = sorted(n + ("?" if kind == "o" else "") for n, kind in tree[path].takes_value.items()
                           if kind in kinds)
            lines.append(f"    {' '.join(path)!r}: {' ' + ' '.join(flags) + ' '!r},")
        lines.append("}\n")
    lines.append("SHORTS = {")
    for path in sorted(tree):
        if tree[path].shorts:
            lines.append(f"    {' '.join(path)!r}: {dict(sorted(tree[path].shorts.items()))!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def version_of(kubectl: str) -> str:
    out = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, timeout=60, check=False).stdout
    m = re.search(r"Client Version: (v\S+)", out)
    return m.group(1) if m else "unknown"


def main() -> int:
    kubectl = sys.argv[1] if len(sys.argv) > 1 else "kubectl"
    tree = walk(kubectl, probe_values=True)
    version = version_of(kubectl)
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "cmdtree.py")
    with open(target, "w", encoding="utf-8") as f:
        f.write(render_cmdtree(tree, version))
    print(f"wrote {target}: {len(tree)} commands")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
