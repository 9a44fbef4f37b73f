"""Kubernetes version strings, the kubectl release that matches a server, and the skew policy.

Servers report `gitVersion` in many forms (`v1.30.1-gke.1329003`, `v1.29.6-eks-1de2ab1`,
`v1.28.5+k3s1`, `v1.31.0-rc.1`); only the numbers and a pre-release tag matter for kubectl.
The `minor` field is never trusted (EKS says "29+"). `packaging` is imported only by `parse`,
so the hot paths (`k`, `kctx use`) can use the cheap helpers on cached strings.
"""

from __future__ import annotations

SKEW = 1  # kubectl is supported within one minor version (older or newer) of kube-apiserver

_PRE_TAGS = ("alpha", "beta", "rc")
_PEP440_TAGS = {"a": "alpha", "b": "beta", "rc": "rc"}


class KubeVersion:
    """A parsed server version: numbers, optional pre-release, and the minor it behaves as."""

    __slots__ = ("emulated", "major", "minor", "patch", "pre", "raw")

    def __init__(self, major: int, minor: int, patch: int, pre: str | None, raw: str,
                 emulated: tuple[int, int] | None = None) -> None:
        self.major, self.minor, self.patch, self.pre, self.raw = major, minor, patch, pre, raw
        self.emulated = emulated  # (major, minor) from emulationMajor/emulationMinor

    @property
    def effective(self) -> tuple[int, int]:
        """The major.minor the API behaves as: the emulated one when the server reports it."""
        return self.emulated or (self.major, self.minor)

    @property
    def release(self) -> str:
        """This server's own Kubernetes release, as kubectl releases are named ('1.31.0-rc.1')."""
        base = f"{self.major}.{self.minor}.{self.patch}"
        return f"{base}-{self.pre}" if self.pre else base

    def kubectl(self) -> str:
        """The kubectl to run against it: same release, or 'X.Y' (newest patch) when emulating another minor."""
        if self.emulated and self.emulated != (self.major, self.minor):
            return f"{self.emulated[0]}.{self.emulated[1]}"
        return self.release

    def __repr__(self) -> str:
        return f"KubeVersion({self.raw!r})"


def parse(git_version: str) -> KubeVersion:
    """Parse a server gitVersion; ValueError when it holds no major.minor.patch."""
    from packaging.version import InvalidVersion, Version

    raw = git_version
    text = git_version.strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    core = text.split("+", 1)[0]  # build metadata: k3s1, rke2r1, a commit
    pre: str | None = None
    try:
        v = Version(core)  # 1.31.0-rc.1, 1.31.0-beta.0
        if v.pre:
            pre = f"{_PEP440_TAGS[v.pre[0]]}.{v.pre[1]}"
    except InvalidVersion:
        # A distro suffix after '-' (gke.1329003, eks-1de2ab1) or a dev build (alpha.3.12):
        # the numbers before the first '-' are the release.
        base, _, suffix = core.partition("-")
        try:
            v = Version(base)
        except InvalidVersion:
            raise ValueError(f"not a Kubernetes version: {raw!r}") from None
        tag = suffix.split(".", 1)
        if tag[0] in _PRE_TAGS and len(tag) == 2 and tag[1].split(".")[0].isdigit():
            pre = f"{tag[0]}.{tag[1].split('.')[0]}"
    if v.epoch or v.post is not None or v.dev is not None or len(v.release) < 2:
        raise ValueError(f"not a Kubernetes version: {raw!r}")
    rel = (*v.release, 0)[:3]
    return KubeVersion(rel[0], rel[1], rel[2], pre, raw)


def from_version_info(info: dict) -> KubeVersion:
    """The version from a `/version` response (or kubectl's `serverVersion`)."""
    git = info.get("gitVersion") if isinstance(info, dict) else None
    if not isinstance(git, str) or not git:
        raise ValueError("the server's /version answer has no gitVersion")
    kv = parse(git)
    em_major, em_minor = info.get("emulationMajor"), info.get("emulationMinor")
    try:
        if em_major not in (None, "") and em_minor not in (None, ""):
            # Like `minor`, these are strings; a trailing '+' is tolerated and ignored.
            emulated = (int(str(em_major).rstrip("+")), int(str(em_minor).rstrip("+")))
            if emulated != (kv.major, kv.minor):
                kv.emulated = emulated
    except ValueError:
        pass
    return kv


# -- cheap helpers for cached strings (no packaging, no re) -------------------------------------


def normalise(text: str) -> str:
    """A version the user typed ('1.31', 'v1.31.2', '1.31.0-rc.1') in kctx's form; ValueError if not one."""
    t = text.strip()
    if t[:1] in ("v", "V"):
        t = t[1:]
    base, dash, pre = t.partition("-")
    parts = base.split(".")
    if not (2 <= len(parts) <= 3) or not all(p.isdigit() and p.isascii() for p in parts):
        raise ValueError(f"not a kubectl version: {text!r} (use e.g. 1.31 or 1.31.2)")
    nums = [str(int(p)) for p in parts]
    if dash:
        tag = pre.split(".")
        if len(nums) != 3 or len(tag) != 2 or tag[0] not in _PRE_TAGS or not tag[1].isdigit():
            raise ValueError(f"not a kubectl version: {text!r} (use e.g. 1.31.0-rc.1)")
        return ".".join(nums) + f"-{tag[0]}.{int(tag[1])}"
    return ".".join(nums)


def is_minor_only(version: str) -> bool:
    """'1.31' (newest patch wanted) rather than an exact release."""
    return version.count(".") == 1


def major_minor(version: str) -> tuple[int, int] | None:
    """(1, 30) for '1.30.4', 'v1.30', '1.31.0-rc.1'; None when it does not look like one."""
    t = version[1:] if version[:1] in ("v", "V") else version
    parts = t.split("-", 1)[0].split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def sort_key(version: str) -> tuple[int, int, int, int, int]:
    """Order releases: 1.30.2 < 1.31.0-alpha.1 < 1.31.0-rc.1 < 1.31.0 < 1.31.1."""
    base, _, pre = version.partition("-")
    nums = [int(p) if p.isdigit() else 0 for p in base.split(".")] + [0, 0, 0]
    if pre:
        tag, _, n = pre.partition(".")
        rank = _PRE_TAGS.index(tag) if tag in _PRE_TAGS else 0
        return nums[0], nums[1], nums[2], rank, int(n) if n.isdigit() else 0
    return nums[0], nums[1], nums[2], len(_PRE_TAGS), 0


def within_skew(kubectl: tuple[int, int], server: tuple[int, int]) -> bool:
    """The skew policy: same major, minor at most one away (older or newer)."""
    return kubectl[0] == server[0] and abs(kubectl[1] - server[1]) <= SKEW


def supported_range(server: tuple[int, int]) -> str:
    """'1.29 to 1.31' for a 1.30 server."""
    return f"{server[0]}.{max(server[1] - SKEW, 0)} to {server[0]}.{server[1] + SKEW}"


def skew_warning(kubectl_version: str, server_mm: tuple[int, int], server_text: str) -> str | None:
    """The one line saying a kubectl is outside the policy for a server, or None when it is within."""
    mm = major_minor(kubectl_version)
    if mm is None or within_skew(mm, server_mm):
        return None
    return (f"kubectl v{kubectl_version} is outside the version skew policy for server {server_text} "
            f"(supported: kubectl {supported_range(server_mm)})")
