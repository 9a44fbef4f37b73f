"""Which entries the API guard fronts, and what it protects on them (kctx use, the guard).

An entry is guarded when `guard.api` is on (the default) and either it is protected as a
whole (its tier is protected, or its server is a protected entry's under any spelling or at
the same address, as `k` judges it) or a guard.namespace_tiers rule gives some of its namespaces a protected tier.
Unprotected entries get no guard and cost nothing. Fast: the tiers come from the lookup
`kctx use` reads anyway; only records of protected entries are decoded.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kctx.apiguard.rules import Policy


def _same_server(cfg: dict[str, Any], name: str, server: str) -> str | None:
    """Why entry `name`, at `server`, is the cluster of a protected entry, if it is: the same
    URL under any spelling, or the same address, port and path (compared as `k` compares them:
    kctx.guard.target.Identity over kctx.identity), or kctx cannot tell (a host name whose
    lookup fails: guarded, as `k` asks). A shared CA alone never counts for an entry of the
    store: it trusts that CA itself, and a CA several clusters share tells them apart by nothing."""
    from kctx import session
    from kctx.config import is_protected

    if not server:
        return None
    protected = {}
    for other in session.entries_with_tier(lambda tier: is_protected(cfg, tier or "none")):
        if other != name:
            rec = session.entry_record(other)
            if rec and not rec.get("error"):
                protected[other] = rec
    if not protected:
        return None
    from kctx.guard.target import Identity  # only with protected entries to compare with

    ident = Identity(server, protected)
    if ident.same:
        return f"its server is the server of the protected entry {ident.same[0]}"
    at, doubts = ident.at_address(list(protected))
    if at:
        return f"its server is at the address of the protected entry {at[0]} ({ident.shown(at[0])})"
    if doubts:
        return f"kctx cannot tell whether its server is a protected entry's ({doubts[0]})"
    return None


def _team(cfg: dict[str, Any], name: str, rec: dict[str, Any]) -> dict[str, Any]:
    """`rec` with the tier a team policy (kctx.policy) gives it: such rules only protect more,
    and the guard must see them whether `kctx use` or the guard's own reload asks."""
    from kctx.config import policy_files

    if not policy_files(cfg):
        return rec
    from kctx import policy as team

    return team.effective(cfg, name, rec, team.load(cfg))


def for_entry(cfg: dict[str, Any], name: str, rec: dict[str, Any]) -> Policy | None:
    """The guard's policy for entry `name` (its index record `rec`), or None: no guard."""
    if not cfg["guard"].get("api", True):
        return None
    from kctx.config import is_protected
    from kctx.wildcard import match

    rec = _team(cfg, name, rec)
    tier = str(rec.get("tier") or "none")
    server = str(rec.get("server") or "")
    everything = None
    protected = rec.get("tier_protected")  # what a team policy decided, when one applies
    if protected if isinstance(protected, bool) else is_protected(cfg, tier):
        everything = f"entry {name} has the protected tier {tier}"
    else:
        everything = _same_server(cfg, name, server)
    rules = [{"namespace": r["namespace"], "tier": r["tier"]}
             for r in cfg["guard"].get("namespace_tiers", [])
             if match(r.get("entry", "*"), name) and is_protected(cfg, r["tier"])]
    if everything is None and not rules:
        return None
    from kctx.apiguard.rules import Policy

    return Policy(name, tier, server, everything, rules)
