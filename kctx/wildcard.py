"""Shell-style wildcards (* ? [...]) as fnmatch.fnmatchcase matches them, case-sensitive.

The one matcher of entry, context, server and namespace patterns (team policy rules,
guard.namespace_tiers, k's and the API guard's decisions). `*` and `?` are matched here, without
importing re, which costs `kctx use` and `k` about 10 ms; only a `[...]` class goes to fnmatch.
"""


def match(pattern: str, text: str) -> bool:
    """fnmatch.fnmatchcase(text, pattern)."""
    if pattern == "*":
        return True
    if "[" in pattern:
        from fnmatch import fnmatchcase

        return fnmatchcase(text, pattern)
    if "*" not in pattern and "?" not in pattern:
        return pattern == text
    p = t = 0
    star_p, star_t = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star_p, star_t = p, t
            p += 1
        elif p < len(pattern) and pattern[p] in ("?", text[t]):
            p, t = p + 1, t + 1
        elif star_p >= 0:
            p, star_t = star_p + 1, star_t + 1
            t = star_t
        else:
            return False
    return all(c == "*" for c in pattern[p:])
