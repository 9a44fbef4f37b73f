"""THE table of what a kubectl command does to a cluster: read, or change (ask first).

One entry per command path. A command kubectl has that is not here (a plugin, a newer verb) asks.
`guard.ask` and `guard.allow` in the config file extend the table ("verb" or "verb sub"; for a
plugin its words, e.g. "ns" for kubectl-ns); a command matched by both asks.
"""

from kctx.guard.args import Parsed

TYPE_CHECKING = False  # typing (and __future__) cost milliseconds at start-up; mypy reads this
if TYPE_CHECKING:
    from typing import Any
else:
    Any = object

READ = "read"
WRITE = "write"
FORWARD = "forward"  # opens a tunnel into the cluster: asks unless guard.port_forward/proxy is off
GROUP = "group"  # alone it prints help (a read); followed by a word kctx does not know, it asks

# path -> (class of the command itself, class of subcommands missing from the table or None)
TABLE: dict[str, tuple[str, str | None]] = {
    "": (READ, None),  # bare `kubectl`: help
    # reads
    "get": (READ, None),
    "describe": (READ, None),
    "logs": (READ, None),
    "explain": (READ, None),
    "events": (READ, None),
    "wait": (READ, None),
    "diff": (READ, None),  # sends server-side dry runs only
    "api-resources": (READ, None),
    "api-versions": (READ, None),
    "cluster-info": (READ, None),
    "cluster-info dump": (READ, None),
    "version": (READ, None),
    "top": (GROUP, None),
    "top node": (READ, None),
    "top pod": (READ, None),
    "auth": (GROUP, None),
    "auth can-i": (READ, None),
    "auth whoami": (READ, None),
    "rollout": (GROUP, None),
    "rollout status": (READ, None),
    "rollout history": (READ, None),
    "kustomize": (READ, None),  # local build
    "completion": (READ, None),
    "options": (READ, None),
    "help": (READ, None),
    "__complete": (READ, None),  # shell completion: lists names, never changes anything
    "__completeNoDesc": (READ, None),
    # kubeconfig and kuberc edits touch local files, never a cluster; the next command is
    # judged by the cluster it then reaches.
    "config": (READ, READ),
    "kuberc": (READ, READ),
    "plugin": (GROUP, None),
    "plugin list": (READ, None),
    "apply view-last-applied": (READ, None),
    # changes
    "apply": (WRITE, WRITE),
    "create": (WRITE, WRITE),
    "delete": (WRITE, None),
    "edit": (WRITE, None),
    "patch": (WRITE, None),
    "replace": (WRITE, None),
    "scale": (WRITE, None),
    "autoscale": (WRITE, None),
    "rollout restart": (WRITE, None),
    "rollout pause": (WRITE, None),
    "rollout resume": (WRITE, None),
    "rollout undo": (WRITE, None),
    "drain": (WRITE, None),
    "cordon": (WRITE, None),
    "uncordon": (WRITE, None),
    "taint": (WRITE, None),
    "label": (WRITE, None),  # unless --list
    "annotate": (WRITE, None),  # unless --list
    "set": (GROUP, WRITE),  # every set subcommand changes objects
    "expose": (WRITE, None),
    "run": (WRITE, None),
    "debug": (WRITE, None),
    "certificate": (GROUP, None),
    "certificate approve": (WRITE, None),
    "certificate deny": (WRITE, None),
    "auth reconcile": (WRITE, None),
    "exec": (WRITE, None),
    "attach": (WRITE, None),
    "cp": (WRITE, None),
    "port-forward": (FORWARD, None),
    "proxy": (FORWARD, None),
}

# Resources that live outside namespaces: a change to them touches every namespace.
CLUSTER_SCOPED = frozenset((
    "node", "nodes", "no", "persistentvolume", "persistentvolumes", "pv", "clusterrole", "clusterroles",
    "clusterrolebinding", "clusterrolebindings", "customresourcedefinition", "customresourcedefinitions",
    "crd", "crds", "storageclass", "storageclasses", "sc", "priorityclass", "priorityclasses", "pc",
    "ingressclass", "ingressclasses", "runtimeclass", "runtimeclasses", "apiservice", "apiservices",
    "mutatingwebhookconfiguration", "mutatingwebhookconfigurations", "validatingwebhookconfiguration",
    "validatingwebhookconfigurations", "validatingadmissionpolicy", "validatingadmissionpolicies",
    "validatingadmissionpolicybinding", "validatingadmissionpolicybindings", "certificatesigningrequest",
    "certificatesigningrequests", "csr", "csidriver", "csidrivers", "csinode", "csinodes",
    "volumeattachment", "volumeattachments", "componentstatus", "componentstatuses", "cs",
    "flowschema", "flowschemas", "prioritylevelconfiguration", "prioritylevelconfigurations",
))
NAMESPACE_WORDS = frozenset(("namespace", "namespaces", "ns"))
NODE_VERBS = frozenset(("drain", "cordon", "uncordon", "taint", "certificate approve", "certificate deny"))


def _matches(rules: list[Any], words: list[str]) -> bool:
    """A config rule "verb sub" matches a command whose words start with it."""
    for rule in rules:
        want = str(rule).split()
        if want and words[: len(want)] == want:
            return True
    return False


def classify(p: Parsed, guard: dict[str, Any] | None = None) -> tuple[str, str]:
    """(READ or WRITE, why) for a parsed command line."""
    guard = guard or {}
    words = list(p.path) if p.path or not p.plugin else list(p.plugin)
    if _matches(guard.get("ask") or [], words):
        return WRITE, "listed in guard.ask"
    if _matches(guard.get("allow") or [], words):
        return READ, "listed in guard.allow"
    if not p.path and (p.plugin or p.args):
        # kubectl runs a plugin named after the words, or fails: kctx cannot tell what it does.
        if p.plugin:
            return WRITE, f"'{p.plugin[0]}' is not a kubectl command kctx knows (a plugin?)"
        return WRITE, "kctx cannot tell which kubectl command this is"
    kind = _lookup(p)
    if kind == FORWARD:
        setting = "port_forward" if p.level == "port-forward" else "proxy"
        kind = WRITE if guard.get(setting, True) else READ
    if kind == GROUP:
        kind = READ if not p.args else WRITE
        if kind == WRITE:
            return WRITE, f"'{p.level} {p.args[0]}' is not a kubectl command kctx knows"
    if kind != WRITE:
        return READ, p.level or "kubectl"
    # What makes a change harmless, trusted only when every flag was understood.
    if p.uncertain:
        return WRITE, p.level
    if p.true("help"):
        return READ, "--help"
    if p.has_flag("dry-run") and p.last("dry-run") in ("client", "server"):
        return READ, f"--dry-run={p.last('dry-run')}"
    if p.level in ("label", "annotate") and p.true("list"):
        return READ, "--list"
    if p.has_flag("local") and p.true("local"):
        return READ, "--local"
    return WRITE, p.level


def _lookup(p: Parsed) -> str:
    entry = TABLE.get(p.level)
    if entry is not None:
        return entry[0]
    # A subcommand the table does not list: its nearest listed ancestor decides, if it says so.
    words = list(p.path)
    while words:
        words.pop()
        entry = TABLE.get(" ".join(words))
        if entry is not None:
            return entry[1] or WRITE
    return WRITE


def scope(p: Parsed) -> tuple[bool, list[str]]:
    """(all namespaces?, namespaces named as objects) that a change may touch.

    Node operations, cluster-scoped resources, -A and manifests without -n may reach any
    namespace; `delete namespace X` touches namespace X whatever -n says.
    """
    named: list[str] = []
    everywhere = p.true("all-namespaces") or p.level in NODE_VERBS
    if p.level in ("create namespace",):
        named.extend(p.args[:1])
    if (p.flags.get("filename") or p.flags.get("kustomize")) and not p.flags.get("namespace"):
        everywhere = True  # the manifests may name any namespace
    kind_words: list[str] = []
    for i, arg in enumerate(p.args):
        kinds, _, name = arg.partition("/")
        for kind in kinds.split(","):
            base = kind.split(".", 1)[0].lower()
            if base in CLUSTER_SCOPED:
                everywhere = True
            if base in NAMESPACE_WORDS:
                if name:
                    named.append(name)
                elif i == 0:
                    kind_words.append(base)
    if kind_words:
        named.extend(a for a in p.args[1:] if "/" not in a)
    return everywhere, named
