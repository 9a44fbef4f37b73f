"""The corpus: every example in real kubectl's `--help` texts, as argv lists `k` can run.

Each Examples line becomes zero or more runnable kubectl commands. The rules, and why:
  * `<name>` placeholders stand for a name: replaced by the word inside (`<some-pod>` ->
    `some-pod`); taken as shell syntax they would be redirections.
  * command substitution `$(...)`, backticks, process substitution `<(...)` and bash's `$'...'`
    quoting: skipped, the arguments are another program's output, unknown without a shell.
  * output redirections (`> file`, `2>/dev/null`): dropped, the output is discarded anyway.
  * pipelines, `;`, `&&`, `||` and shell loops (`until ... do ... done`): every kubectl command
    in them runs on its own; one fed by a pipe gets a manifest on stdin (`... | kubectl apply
    -f -`), or an env list for `set env -e -`.
  * `NAME=value` before kubectl (KUBE_EDITOR="nano"): dropped, the tests' editor is `true`.
  * anything that is not kubectl (brew, source, printf, PowerShell): skipped, not a command
    of kubectl's.
  * a manifest, kustomization or file given by URL: skipped, it would be downloaded from the
    internet; relative files and folders the example names are created with a ConfigMap.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field

_PLACEHOLDER = re.compile(r"<([A-Za-z][\w.-]*)>")
_REDIRECT = re.compile(r"\s\d?>>?\s*(\"[^\"]*\"|'[^']*'|\S+)")
_SUBST = ("$(", "`", "<(", "$'")
_KEYWORDS = {"until", "while", "if", "then", "do", "else", "!"}
_OPERATORS = {"|", "||", "&&", ";", "&", ";;"}


@dataclass
class Example:
    source: str  # the Examples line
    path: str  # the help page it came from ("rollout restart")
    argv: list[str]  # after "kubectl"
    stdin: bytes | None = None
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content
    folders: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "kubectl " + " ".join(self.argv)


@dataclass
class Skipped:
    source: str
    path: str
    reason: str


def manifest(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name}, "data": {"from": "kctx-corpus"}})


def _safe_name(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return (out or "x")[:50].strip("-") or "x"


def _files_for(ex: Example) -> None:
    """Create what the example reads from disk: files and folders named relatively (as kubectl
    reads the command line, so `logs -f` is not a file); a `*` glob becomes one file."""
    from kctx.guard.args import parse

    p = parse(ex.argv)
    wanted: list[tuple[str, str]] = []
    for name in ("filename", "kustomize", "from-file", "from-env-file", "env-file", "cert", "key", "patch-file"):
        for value in p.flags.get(name) or []:
            if name == "from-file" or name == "from-env-file":
                value = value.split("=", 1)[-1]
            wanted.append((name, value))
    for name, value in wanted:
        if not value or value == "-" or os.path.isabs(value) or ".." in value.split("/"):
            continue
        if "*" in value:
            concrete = value.replace("*", "x")
            ex.argv = [a.replace(value, concrete) for a in ex.argv]
            value = concrete
        folder = value.rstrip("/")
        if not folder or folder == ".":
            continue
        if name == "kustomize":
            ex.folders.append(folder)
            ex.files[f"{folder}/cm.yaml"] = manifest(_safe_name(folder))
            ex.files[f"{folder}/kustomization.yaml"] = "resources:\n- cm.yaml\n"
        elif name in ("from-env-file", "env-file"):
            ex.files[value] = "KEY=value\n"
        elif name in ("cert", "key", "from-file", "patch-file"):
            ex.files[value] = "{}\n" if name == "patch-file" else "some bytes\n"
        elif value.endswith("/") or "." not in os.path.basename(folder) or p.true("recursive"):
            ex.folders.append(folder)
            ex.files[f"{folder}/cm.yaml"] = manifest(_safe_name(folder))
        else:
            ex.files[value] = manifest(_safe_name(value))


def _downloads(argv: list[str]) -> bool:
    """A manifest or kustomization by URL (kubectl would fetch it from the internet)."""
    from kctx.guard.args import parse

    p = parse(argv)
    given = (p.flags.get("filename") or []) + (p.flags.get("kustomize") or [])
    if p.level == "kustomize":
        given += p.args
    return any("://" in v or v.startswith(("github.com/", "git@")) for v in given)


def parse_line(source: str, path: str) -> tuple[list[Example], list[Skipped]]:
    line = _PLACEHOLDER.sub(r"\1", source)
    if any(s in line for s in _SUBST):
        return [], [Skipped(source, path, "arguments from another command's output or bash-only quoting")]
    line = _REDIRECT.sub(" ", " " + line).strip()
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as e:
        return [], [Skipped(source, path, f"not shell syntax ({e})")]
    segments: list[tuple[list[str], bool]] = []  # (words, fed by a pipe)
    current: list[str] = []
    piped = False
    for tok in tokens:
        if tok in _OPERATORS:
            segments.append((current, piped))
            piped = tok == "|"
            current = []
        else:
            current.append(tok)
    segments.append((current, piped))
    examples, skipped = [], []
    for words, fed in segments:
        while words and (words[0] in _KEYWORDS or re.fullmatch(r"[A-Za-z_]\w*=.*", words[0])):
            words = words[1:]
        if not words or words[0] in ("done", "fi", "}"):
            continue
        if words[0] != "kubectl":
            skipped.append(Skipped(source, path, f"not a kubectl command ({words[0]})"))
            continue
        argv = words[1:]
        if _downloads(argv):
            skipped.append(Skipped(source, path, "would download a manifest from the internet"))
            continue
        ex = Example(source, path, argv)
        if fed:
            ex.stdin = b"RAILS_ENV=production\n" if "-e" in argv else manifest("from-pipe").encode()
        _files_for(ex)
        examples.append(ex)
    return examples, skipped


def corpus(tree: dict) -> tuple[list[Example], list[Skipped]]:  # type: ignore[type-arg]
    """Every example of every help page of `tree` (kubectl_help.walk)."""
    examples: list[Example] = []
    skipped: list[Skipped] = []
    for path in sorted(tree):
        for source in tree[path].examples:
            ex, sk = parse_line(source, " ".join(path))
            examples += ex
            skipped += sk
    return examples, skipped


def shell_quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
