"""Which entries the API guard fronts, and what it protects on them (kctx use, the guard).

An entry is guarded when `guard.api` is on (the default) and either it is protected as a
whole (its tier is protected, or its server is the server of a protected entry, as `k` judges
it) or a guard.namespace_tiers rule gives some of its namespaces a protected tier.
Unprotected entries get no guard and cost nothing. Fast: the tiers come from the lookup
`kctx use` reads anyway; only records of protected entries are decoded.
"""

from __future__ import annotations

from kctx.apiguard.rules import Policy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _same_server(cfg: dict[str, Any], name: str, server: str) -> str | None:
    """A protected entry other than `name` whose server is `server`, if any."""
    from kctx import session
    from kctx.config import is_protected
    from kctx.identity import normalise_server

    if not server:
        return None
    key = normalise_server(server)
    names, tiers, _ = session.completion_columns()
    for other, tier in zip(names, tiers):
        if other == name or not is_protected(cfg, tier or "none"):
            continue
        rec = session.entry_record(other)
        if rec and normalise_server(str(rec.get("server") or "")) == key:
            return other
    return None


def _team(cfg: dict[str, Any], name: str, rec: dict[str, Any]) -> dict[str, Any]:
    """`rec` with the tier a team policy (kctx.policy) gives it: such rules only protect more,
    and the guard must see them whether `kctx use` or the guard's own reload asks."""
    from kctx import policy as team

    if not team.files(cfg):
        return rec
    return team.effective(cfg, name, rec, team.load(cfg))


def for_entry(cfg: dict[str, Any], name: str, rec: dict[str, Any]) -> Policy | None:
    """The guard's policy for entry `name` (its index record `rec`), or None: no guard."""
    if not cfg["guard"].get("api", True):
        return None
    from fnmatch import fnmatchcase

    from kctx.config import is_protected

    rec = _team(cfg, name, rec)
    tier = str(rec.get("tier") or "none")
    server = str(rec.get("server") or "")
    everything = None
    protected = rec.get("tier_protected")  # what a team policy decided, when one applies
    if protected if isinstance(protected, bool) else is_protected(cfg, tier):
        everything = f"entry {name} has the protected tier {tier}"
    else:
        other = _same_server(cfg, name, server)
        if other:
            everything = f"its server is the server of the protected entry {other}"
    rules = [{"namespace": r["namespace"], "tier": r["tier"]}
             for r in cfg["guard"].get("namespace_tiers", [])
             if fnmatchcase(name, r.get("entry", "*")) and is_protected(cfg, r["tier"])]
    if everything is None and not rules:
        return None
    return Policy(name, tier, server, everything, rules)
