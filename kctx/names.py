"""What context names say: entry names people can type, the cloud facts in them, their tier.

Cloud tools name contexts after everything they know (`arn:aws:eks:eu-west-1:123456789012:
cluster/prod-eu`, `gke_acme-staging_europe-west1_staging`); kctx names the entry after the
cluster (`prod-eu`, `staging`) and keeps the rest: the original context name in the index, the
parts that tell two same-named clusters apart (region, location, project, account) for when
short names collide, and the facts a team policy matches on (eks_account, gke_project, ...).

Tiers are inferred from the words of the context name, the cluster name and the server host:
`eks-prod-eu` is prod, `stg2` staging, `kind-dev` dev; the word lists are configurable.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from kctx.errors import FatalError

MAX_NAME = 63
_NAME_START = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _NAME_START | set("._-")
_DIGITS = set("0123456789")

# The words each built-in tier is inferred from (config: tiers.<tier>.words replaces a list).
DEFAULT_WORDS: dict[str, list[str]] = {
    "prod": ["prod", "prd", "production", "live"],
    "staging": ["staging", "stg", "stage", "preprod", "uat"],
    "dev": ["dev", "development", "sandbox",
            # clusters on the user's own machine
            "kind", "minikube", "docker-desktop", "docker-for-desktop", "k3d", "rancher-desktop",
            "orbstack", "colima"],
}

# Context names kctx recognises, and the facts they hold.
FACTS = ("eks_account", "eks_region", "gke_project", "gke_location", "aks_resource_group",
         "aks_region", "openshift_user", "openshift_namespace")

# File names that say nothing about the cluster (kubeadm's admin.conf, k3s.yaml copied as config).
_GENERIC_STEMS = {"config", "admin", "kubeconfig", "kube-config", "kube_config", "cluster", "kube",
                  "super-admin", "default", "kubernetes"}
_DO_REGIONS = {"nyc1", "nyc2", "nyc3", "sfo1", "sfo2", "sfo3", "ams2", "ams3", "sgp1", "lon1",
               "fra1", "tor1", "blr1", "syd1", "atl1"}


# -- entry names --------------------------------------------------------------------------------
def valid_name(name: str) -> bool:
    """Entry names: [A-Za-z0-9][A-Za-z0-9._-]*, at most 63 characters."""
    return (
        0 < len(name) <= MAX_NAME
        and name[0] in _NAME_START
        and set(name) <= _NAME_CHARS
    )


def no_entry(name: str, names: Iterable[str]) -> FatalError:
    """The error for `name` when no entry has it: the entries it may have meant in the hint, for
    the user to type. Never chosen for them: a mistyped name may be a step from production."""
    from kctx.errors import FatalError

    hint = "'kctx list' shows the entries"
    near = suggestions(name, names)
    if near:
        hint = f"did you mean {' or '.join(near)}? {hint}"
    return FatalError(f"no entry named {name!r}", hint=hint)


def suggestions(name: str, names: Iterable[str], limit: int = 3) -> list[str]:
    """The entries `name` may have meant, at most `limit`: those that hold its words in a row
    (`prod-main` → `arn-aws-eks-eu-west-1-1234-cluster-prod-main`, `prod` → `prod-eu`), shortest
    first; else the closest spellings, any case, of a whole name (`prdo` → `prod`, `Staging` →
    `staging`) or of as many words in a row of a longer one (`prdo-main` → `arn-…-prod-main`)."""
    want = words(name)
    if not want:
        return []
    split = [(c, words(c)) for c in names]
    held = [c for c, w in split if c != name and _contains(w, want)]
    if held:
        return sorted(held, key=lambda c: (len(c), c))[:limit]
    import difflib

    n = len(want)
    m = difflib.SequenceMatcher(a="", b="-".join(want), autojunk=False)
    scored = []
    for c, w in split:
        best = 0.0
        for part in ["-".join(w)] + ["-".join(w[i:i + n]) for i in range(len(w) - n + 1) if len(w) > n]:
            m.set_seq1(part)
            if m.real_quick_ratio() > max(best, 0.7) and m.quick_ratio() > max(best, 0.7):
                best = max(best, m.ratio())
        if best > 0.7:
            scored.append((-best, len(c), c))
    return [c for _, _, c in sorted(scored)[:limit]]


def sanitise(name: str) -> str:
    """A valid entry name made from any context name ('' when nothing usable is left)."""
    out = "".join(c if c in _NAME_CHARS else "-" for c in name)
    while "--" in out:
        out = out.replace("--", "-")
    out = out.lstrip("._-")[:MAX_NAME].rstrip("._-")
    return out


# -- words and tiers ----------------------------------------------------------------------------
_WORD: Any = None  # the pattern, compiled on first use


def words(text: str) -> list[str]:
    """The words of a name, lower-cased: split at punctuation, between letters and digits, and
    at camelCase humps (`myProdCluster` → my prod cluster, `prod01` → prod 01, `k3d` → k 3 d)."""
    global _WORD
    if _WORD is None:
        import re

        # An upper-case run not followed by lower case (HTTP in HTTPServer), a capitalised or
        # lower-case word, a run of digits; anything else (punctuation, non-ASCII) separates.
        _WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z][a-z]*|[a-z]+|[0-9]+").findall
    if not text.isascii():
        return _unicode_words(text)
    return [w.lower() for w in _WORD(text)]


def _unicode_words(text: str) -> list[str]:
    """words() where a non-ASCII lower-case letter (which separates) also ends a hump: HTTPé."""
    out: list[str] = []
    cur = ""
    prev = ""
    for i, c in enumerate(text):
        if not c.isalnum() or not c.isascii():
            if cur:
                out.append(cur)
            cur, prev = "", ""
            continue
        if cur:
            digit, was_digit = c in _DIGITS, prev in _DIGITS
            hump = c.isupper() and (prev.islower() or (
                prev.isupper() and i + 1 < len(text) and text[i + 1].islower()))
            if digit != was_digit or hump:
                out.append(cur)
                cur = ""
        cur += c
        prev = c
    if cur:
        out.append(cur)
    return [w.lower() for w in out]


def _joined(text: str) -> str:
    """The words of `text` between spaces: a phrase's words follow each other in it when
    f" {phrase} " is a substring (what _contains answers, at C speed)."""
    return " " + " ".join(words(text)) + " "


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def tier_words(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """(tier, word) in the order they are tried: protected tiers first, so `prod-dev-copy` is prod."""
    tiers = cfg["tiers"]
    ordered = sorted(tiers, key=lambda t: not tiers[t].get("protected"))
    return [(t, w) for t in ordered for w in tiers[t].get("words", DEFAULT_WORDS.get(t, []))]


def server_host(server: str) -> str:
    """The host of a server URL ('' when there is none)."""
    rest = server.partition("://")[2] or server
    host = rest.partition("/")[0].rpartition("@")[2]
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0].lower()


def infer_tier(cfg: dict[str, Any], context: str, cluster: str = "", server: str = "",
               entry: str = "") -> tuple[str, dict[str, str]]:
    """(tier, where it came from) from the words of the context, cluster and server host names,
    and of the entry's own name (which --prefix or a kubeadm file's name may have given it)."""
    fields = [("context", _joined(context)), ("cluster", _joined(cluster)),
              ("server", _joined(server_host(server))), ("entry", _joined(entry))]
    for tier, word, phrase in _phrases(cfg):
        for where, found in fields:
            if phrase in found:
                return tier, {"by": "word", "word": word, "in": where}
    return "none", {"by": "default"}


_PHRASES: list[Any] = [None, []]  # (cfg, its tier words as phrases): one import asks thousands of times


def _phrases(cfg: dict[str, Any]) -> list[tuple[str, str, str]]:
    if _PHRASES[0] is not cfg:
        _PHRASES[:] = [cfg, [(t, w, _joined(w)) for t, w in tier_words(cfg) if words(w)]]
    return _PHRASES[1]  # type: ignore[no-any-return]


def describe_source(source: dict[str, Any] | None) -> str:
    """A tier source as a phrase: 'the word "prod" in the context name', 'kctx tier', ..."""
    source = source or {}
    by = source.get("by")
    if by == "word":
        where = {"context": "the context name", "cluster": "the cluster name",
                 "server": "the server's host", "entry": "the entry name"}.get(source.get("in", ""), source.get("in", ""))
        return f'inferred from the word "{source.get("word")}" in {where}'
    if by == "policy":
        text = f"policy {source.get('file')} rule {source.get('rule')}"
        personal = source.get("personal")
        if isinstance(personal, dict) and personal.get("tier"):
            text += f" (your tier: {personal['tier']}, {describe_source(personal)})"
        return text
    if by == "--tier":
        return "kctx import --tier"
    if by == "kctx tier":
        return "kctx tier"
    return "no word of its names names a tier"


# -- recognising generated context names --------------------------------------------------------
class Named:
    """What a context's names tell: the kind of tool that wrote it, a short entry name, the parts
    that tell it apart from a same-named cluster (in order), and the facts in it."""

    __slots__ = ("facts", "kind", "parts", "short", "unique")

    def __init__(self, kind: str, short: str, parts: list[str] | None = None,
                 facts: dict[str, str] | None = None, unique: bool = True) -> None:
        self.kind = kind  # eks, eksctl, gke, gke-fleet, openshift, kubeadm, aks, digitalocean, ''
        self.short = short
        self.parts = [p for p in (parts or []) if p]
        self.facts = facts or {}
        self.unique = unique  # the context name alone identifies the cluster (EKS ARN, gke_...)

    def __repr__(self) -> str:
        return f"Named({self.kind!r}, {self.short!r}, {self.parts!r}, {self.facts!r})"


def _eks_arn(name: str) -> tuple[str, str, str] | None:
    """(region, account, cluster) of arn:aws[-cn|-us-gov|...]:eks:REGION:ACCOUNT:cluster/NAME."""
    fields = name.split(":", 5)
    if len(fields) != 6 or fields[0] != "arn" or not fields[1].startswith("aws") or fields[2] != "eks":
        return None
    region, account, resource = fields[3], fields[4], fields[5]
    kind, _, cluster = resource.partition("/")
    if kind != "cluster" or not cluster or "/" in cluster or not region:
        return None
    if not (len(account) == 12 and set(account) <= _DIGITS):
        return None
    return region, account, cluster


def _aws_region(text: str) -> bool:
    """eu-west-1, us-gov-west-1, ap-southeast-2 ..."""
    bits = text.split("-")
    return len(bits) >= 3 and len(bits[0]) == 2 and bits[0].isalpha() and bits[-1].isdigit()


def _eksctl(name: str) -> tuple[str, str, str] | None:
    """(user, cluster, region) of USER@CLUSTER.REGION.eksctl.io (or the cluster name alone)."""
    user, _, rest = name.rpartition("@")
    if not rest.endswith(".eksctl.io"):
        return None
    cluster, _, region = rest[: -len(".eksctl.io")].rpartition(".")
    if not cluster or "." in cluster or not _aws_region(region):
        return None
    return user, cluster, region


def _gke(name: str) -> tuple[str, str, str, str] | None:
    """(prefix, project, location, cluster) of gke_PROJECT_LOCATION_CLUSTER (and the fleet form)."""
    for prefix in ("gke_", "connectgateway_"):
        if name.startswith(prefix):
            fields = name[len(prefix):].split("_")
            if len(fields) == 3 and all(fields):
                return prefix, fields[0], fields[1], fields[2]
    return None


def _eks_region_of_host(host: str) -> str:
    # <id>.gr7.<region>.eks.amazonaws.com(.cn)
    labels = host.split(".")
    if "eks" in labels and "amazonaws" in labels:
        i = labels.index("eks")
        if i >= 1 and _aws_region(labels[i - 1]):
            return labels[i - 1]
    return ""


def _is_ip(host: str) -> bool:
    return ":" in host or (bool(host) and set(host) <= _DIGITS | {"."})


def _stem(source: str) -> str:
    base = os.path.basename(source)
    for ext in (".conf", ".yaml", ".yml", ".kubeconfig", ".config", ".cfg", ".json"):
        if base.lower().endswith(ext) and len(base) > len(ext):
            return base[: -len(ext)]
    return base


def _from_file_name(source: str) -> str:
    """A name from the file a generic context came from: prod-admin.conf → prod-admin,
    clusters/prod/admin.conf → prod; '' when neither says anything."""
    if not source:
        return ""
    stem = _stem(source)
    if stem.lower() not in _GENERIC_STEMS and sanitise(stem):
        return stem
    folder = os.path.basename(os.path.dirname(os.path.abspath(source)))
    if folder and folder.lower() not in _GENERIC_STEMS | {".kube", "kubernetes", "etc", "tmp", "downloads"} \
            and not folder.startswith("."):
        return folder
    return ""


def recognise(context: str, cluster: str = "", server: str = "", user: str = "",
              source: str = "") -> Named:
    """The short name and facts of a context, from its name, its cluster's name, its server URL,
    its user's name and the file it comes from."""
    host = server_host(server)
    eks = _eks_arn(context) or _eks_arn(cluster)
    if eks:
        region, account, name = eks
        facts = {"eks_region": region, "eks_account": account}
        short = name if _eks_arn(context) else context  # `aws eks update-kubeconfig --alias` chose one
        return Named("eks", short, [region, account], facts)
    ek = _eksctl(context) or _eksctl(cluster)
    if ek:
        user_part, name, region = ek
        short = name if _eksctl(context) else context
        return Named("eksctl", short, [region, user_part], {"eks_region": region})
    g = _gke(context) or _gke(cluster)
    if g:
        prefix, project, location, name = g
        short = name if _gke(context) else context
        facts = {"gke_project": project, "gke_location": location}
        return Named("gke" if prefix == "gke_" else "gke-fleet", short, [location, project], facts)
    oc = _openshift(context, cluster, host)
    if oc:
        return oc
    if (cluster == "kubernetes" and context.endswith("@kubernetes")) or context == cluster == "default":
        # kubeadm's kubernetes-admin@kubernetes, k3s/rke2's default: named after their file.
        named = _from_file_name(source)
        label = host.split(".")[0] if host and not _is_ip(host) and host != "localhost" else ""
        short = named or label
        if short:
            return Named("kubeadm", short, [label if named else "", context.partition("@")[0]],
                         unique=False)
    facts = {}
    region = _eks_region_of_host(host)
    if region:
        facts["eks_region"] = region
    if host.endswith(".azmk8s.io"):
        labels = host.split(".")
        aks_region = labels[-3] if len(labels) >= 4 and labels[-4] in ("hcp", "privatelink") else ""
        group = ""
        for prefix in ("clusterUser_", "clusterAdmin_"):
            if user.startswith(prefix):
                group = user[len(prefix):].rpartition("_")[0]
        facts.update({k: v for k, v in (("aks_region", aks_region), ("aks_resource_group", group)) if v})
        return Named("aks", context, [aks_region, group], facts, unique=False)
    if context.startswith("do-"):
        region, _, name = context[3:].partition("-")
        if region in _DO_REGIONS and name:
            return Named("digitalocean", name, [region], {})
    return Named("", context, [], facts, unique=False)


def _openshift(context: str, cluster: str, host: str) -> Named | None:
    """oc login: NAMESPACE/API-HOST-WITH-DASHES:PORT/USER, named after the cluster in the API
    host (api.<cluster>.<base domain>)."""
    namespace, sep, rest = context.partition("/")
    middle, sep2, user = rest.partition("/")
    if not (sep and sep2 and namespace and user and ":" in middle):
        return None
    hostpart, _, port = middle.rpartition(":")
    if not port.isdigit() or (cluster and cluster != middle):
        return None
    labels = host.split(".") if host and not _is_ip(host) else hostpart.split("-")
    if labels and labels[0] == "api" and len(labels) > 1:
        labels = labels[1:]
    if not labels or not labels[0]:
        return None
    facts = {"openshift_user": user, "openshift_namespace": namespace}
    return Named("openshift", labels[0], [*labels[1:2], user, namespace], facts)


def facts_of(context: str, cluster: str = "", server: str = "", user: str = "") -> dict[str, str]:
    """The facts a policy matches on (eks_account, eks_region, gke_project, ...)."""
    return recognise(context, cluster, server, user).facts


# -- choosing names -----------------------------------------------------------------------------
def candidates(named: Named, prefix: str = "") -> list[str]:
    """Entry names to try in order: the short name, then with each distinguishing part added."""
    out: list[str] = []
    name = named.short
    for part in ["", *named.parts]:
        if part:
            if _contains(words(name), words(part)):
                continue  # prod-eu-west-1 in eu-west-1 needs no second eu-west-1
            name = f"{name}-{part}"
        clean = sanitise(prefix + name)
        if clean and clean not in out:
            out.append(clean)
    return out


def choose(items: list[list[str]], taken: Iterable[str]) -> list[str]:
    """One name per item (its candidate names, see `candidates`): names that collide with each
    other or with `taken` are all lengthened, until they differ or their candidates run out."""
    taken = set(taken)
    level = [0] * len(items)
    while True:
        by_name: dict[str, list[int]] = {}
        for i, cands in enumerate(items):
            by_name.setdefault(cands[level[i]], []).append(i)
        moved = False
        for name, members in by_name.items():
            if len(members) > 1 or name in taken:
                for i in members:
                    if level[i] + 1 < len(items[i]):
                        level[i] += 1
                        moved = True
        if not moved:
            return [cands[level[i]] for i, cands in enumerate(items)]
