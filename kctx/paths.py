"""Every path kctx uses comes from here.

With KCTX_HOME set, everything lives below it (tests always set it). Otherwise the platformdirs
user folders. On Linux the XDG rules are applied inline because importing platformdirs costs
more than the whole of `kctx use` may take; tests check both give the same folders.
Paths are plain strings so the hot paths need not import pathlib.
"""

import os
import sys

APP = "kctx"


def _home() -> str:
    return os.path.expanduser("~")


def shown(path: str) -> str:
    """`path`, absolute, with the home folder written as ~ (for messages)."""
    home, path = _home(), os.path.abspath(path)
    if home and home != "/" and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def _xdg(var: str, default: str) -> str:
    value = os.environ.get(var, "")
    # XDG says relative values are invalid and must be ignored.
    return value if os.path.isabs(value) else os.path.join(_home(), default)


def _base(kind: str) -> str:
    root = os.environ.get("KCTX_HOME")
    if root:
        return os.path.join(os.path.abspath(root), kind)
    if sys.platform.startswith("linux"):
        if kind == "config":
            return os.path.join(_xdg("XDG_CONFIG_HOME", ".config"), APP)
        if kind == "data":
            return os.path.join(_xdg("XDG_DATA_HOME", ".local/share"), APP)
        if kind == "cache":
            return os.path.join(_xdg("XDG_CACHE_HOME", ".cache"), APP)
    import platformdirs

    if kind == "config":
        return platformdirs.user_config_dir(APP)
    if kind == "data":
        return platformdirs.user_data_dir(APP)
    return platformdirs.user_cache_dir(APP)


def config_dir() -> str:
    return _base("config")


def data_dir() -> str:
    return _base("data")


def cache_dir() -> str:
    return _base("cache")


def runtime_dir() -> str:
    """Per-user folder for session files: XDG_RUNTIME_DIR when usable, else below the cache."""
    if os.environ.get("KCTX_HOME"):
        return _base("run")
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(xdg) and os.path.isdir(xdg):
        return os.path.join(xdg, APP)
    return os.path.join(cache_dir(), "run")


def config_file() -> str:
    return os.environ.get("KCTX_CONFIG") or os.path.join(config_dir(), "config.yaml")


def compiled_config_file() -> str:
    return os.path.join(cache_dir(), "config.bin")


def entries_dir() -> str:
    return os.path.join(data_dir(), "entries")


def entry_file(name: str) -> str:
    return os.path.join(entries_dir(), name + ".yaml")


def index_file() -> str:
    return os.path.join(data_dir(), "index.json")


def hot_index_file() -> str:
    return os.path.join(data_dir(), "index.bin")


def lock_file() -> str:
    return os.path.join(data_dir(), ".lock")


def sessions_dir() -> str:
    return os.path.join(runtime_dir(), "sessions")


# The files kept beside a session file <s>, by suffix: its stamp (kctx.session.write_session), the
# unlock, k's note, the policy stamp, and the API guard's secret, state and direct layer
# (kctx.apiguard.state). A shell's exit removes them with the session (kctx init fills them in).
WRITTEN, UNLOCK, NOTE, TIERS_STAMP = ".written", ".unlock", ".k", ".tiers"
GUARD_TOKEN, GUARD_STATE, DIRECT = ".token", ".guard", ".direct"
SESSION_SIBLINGS = (WRITTEN, UNLOCK, NOTE, TIERS_STAMP, GUARD_TOKEN, GUARD_STATE, DIRECT)


def session_unlock_file(session: str) -> str:
    """Beside a session file: the unlock that lifts the guard's question for that shell."""
    return session + UNLOCK


def session_written_file(session: str) -> str:
    """Beside a session file: its stamp, dated just after kctx wrote it (kctx.session.write_session)."""
    return session + WRITTEN


def session_note_file(session: str) -> str:
    """Beside a session file: k's note for its shell fast path (kctx.guard.fast, kctx/shell/k.*)."""
    return session + NOTE


def sweep_stamp_file() -> str:
    """Touched at each sweep of the sessions folder (kctx.session.sweep)."""
    return os.path.join(sessions_dir(), ".swept")


def shell_rc_files(shell: str) -> list[str]:
    """The startup files where `kctx init SHELL` may be loaded, first the one to suggest."""
    home = _home()
    if shell == "fish":
        found = [os.path.join(home, ".config", "fish", "config.fish"),
                 os.path.join(_xdg("XDG_CONFIG_HOME", ".config"), "fish", "config.fish")]
    else:
        names = {"bash": (".bashrc", ".bash_profile", ".profile"), "zsh": (".zshrc", ".zshenv", ".zprofile")}
        zdot = os.environ.get("ZDOTDIR", "") if shell == "zsh" else ""
        folders = [home] + ([zdot] if os.path.isabs(zdot) else [])
        found = [os.path.join(folder, n) for folder in folders for n in names.get(shell, ())]
    return list(dict.fromkeys(found))


def kube_config() -> str:
    """kubectl's default kubeconfig, ~/.kube/config."""
    return os.path.join(_home(), ".kube", "config")


def kuberc() -> str:
    """kubectl's default preferences file, ~/.kube/kuberc."""
    return os.path.join(_home(), ".kube", "kuberc")


def kuberc_cache_file() -> str:
    return os.path.join(cache_dir(), "kuberc.bin")


def entries_lookup_file() -> str:
    """The lookup table derived from index.bin (kctx.index), for `kctx use`, `k` and completion."""
    return os.path.join(cache_dir(), "entries.lookup")


def entries_records_file() -> str:
    """The index's records one after another, read by the offsets of the lookup table (kctx.index)."""
    return os.path.join(cache_dir(), "entries.records")


def entries_columns_file() -> str:
    """Entry names, tiers and namespaces, derived from index.bin with the lookup table (kctx.index)."""
    return os.path.join(cache_dir(), "entries.columns")


def entries_listing_file() -> str:
    """The columns of `kctx list`, derived from index.bin with the lookup table (kctx.index)."""
    return os.path.join(cache_dir(), "entries.listing")


def completion_cache_file(key: str) -> str:
    return os.path.join(cache_dir(), "completion", key)


def last_target_file() -> str:
    """The entry and namespace last chosen with `kctx use` / `kctx ns` (config shell.start: last)."""
    return os.path.join(data_dir(), "last-target")


def namespaces_file() -> str:
    """Namespaces `kctx ns` has set, offered by completion."""
    return os.path.join(data_dir(), "namespaces")


def audit_file() -> str:
    return os.path.join(data_dir(), "audit.jsonl")


def kubectl_cache_dir() -> str:
    """The kubectls kctx installed, one folder per version, and aliases.bin: nothing else, so
    that its modification time changes only when what is installed does (the note of the shell's
    `k` depends on it, kctx.guard.fast; downloads are staged, failures and locks kept, elsewhere)."""
    return os.path.join(cache_dir(), "kubectl")


def kubectl_staging_dir() -> str:
    """Downloads of kubectl in progress, moved into kubectl_cache_dir() once verified."""
    return os.path.join(cache_dir(), "downloads")


def server_versions_file() -> str:
    return os.path.join(cache_dir(), "server-versions.json")


def server_versions_hot_dir() -> str:
    return os.path.join(cache_dir(), "servers")


def server_version_hot_file(key: str) -> str:
    """One server's record of server_versions_file() in marshal, for `k` and `kctx use`.

    `key` is a file-name-safe form of the server URL (kctx.kubectl.probe.hot_key).
    """
    return os.path.join(server_versions_hot_dir(), key)


def addresses_cache_file() -> str:
    """marshal {host: (expiry, addresses)}: what the guard last learned of each server's name."""
    return os.path.join(cache_dir(), "addresses.bin")


def question_lock_file(terminal: int) -> str:
    """Held while `k` or `kctx confirm` asks on the terminal whose device number is `terminal`:
    questions on one terminal come one at a time (`kctx exec -P N -- kctx confirm ...`)."""
    return os.path.join(runtime_dir(), f"question-{terminal}.lock")


def versions_lock_file() -> str:
    return os.path.join(cache_dir(), ".versions.lock")


def entry_records_dir() -> str:
    return os.path.join(cache_dir(), "entries")


def entry_record_file(name: str) -> str:
    """Entry `name`'s index record on its own (kctx.index), valid while index.bin and its entry file are unchanged."""
    return os.path.join(entry_records_dir(), name)


def probe_marker(name: str) -> str:
    """Exists while a background version probe for entry `name` runs (one at a time)."""
    return os.path.join(cache_dir(), "probing", name)


def kubectl_binary(version: str) -> str:
    """Where kubectl `version` ('1.30.4') is installed: one folder per version."""
    return os.path.join(kubectl_cache_dir(), version, "kubectl")


def kubectl_aliases_file() -> str:
    """marshal {wanted release: installed release} for releases the mirror does not have."""
    return os.path.join(kubectl_cache_dir(), "aliases.bin")


def kubectl_install_lock(version: str) -> str:
    return os.path.join(cache_dir(), ".locks", f"kubectl-{version}")


def crash_log() -> str:
    return os.path.join(cache_dir(), "crash.log")


def shell_template(name: str) -> str:
    """The text of a shell template shipped in the package (kctx/shell in the wheel)."""
    import kctx.shell

    folder = os.path.dirname(kctx.shell.__file__)
    with open(os.path.join(folder, name), encoding="utf-8") as f:
        return f.read()


def policy_file() -> str:
    """The team policy's validated rules, per file, kept as last good while a file is broken."""
    return os.path.join(data_dir(), "policy.bin")


def policy_tiers_file() -> str:
    """What the policy decides for each entry, valid while the policy files and index.bin are unchanged."""
    return os.path.join(cache_dir(), "policy-tiers.bin")


def tiers_stamp_file(session_path: str) -> str:
    """When this shell last took its tier in (its prompt hook compares config.tier_files with it)."""
    return session_path + TIERS_STAMP


def kubectl_failures_file() -> str:
    """marshal {version: (failed at, failures in a row, error)}: downloads backing off."""
    return os.path.join(cache_dir(), "kubectl-failures.bin")


def path_versions_file() -> str:
    """marshal {real path: ((size, mtime_ns, inode), release)}: kubectls kctx did not install."""
    return os.path.join(cache_dir(), "kubectl-path-versions.bin")


def fetch_marker(version: str) -> str:
    """Exists while a background download of kubectl `version` runs ('@' is in no entry name)."""
    return os.path.join(cache_dir(), "probing", "@fetch-" + version)


def said_file(session: str) -> str:
    """Warnings `k` said in one shell session (a session file's name, or ppid-N)."""
    return os.path.join(runtime_dir(), "said", session)
