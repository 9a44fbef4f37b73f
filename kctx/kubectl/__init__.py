"""kubectl matched to each server: the one owner of kubectl versions.

The modules, each importing only those listed after it:

- `choice`: which kubectl a target runs, and why (pin, server's version, fallback);
  `choice.resolve()` is what `k` calls, `choice.choose()` what the commands report.
- `probe`: the server-version cache (per server URL) and `GET /version`.
- `download`: the mirror (dl.k8s.io layout), verified downloads, atomic installs.
- `installed`: the kubectl binaries kctx installed, the one on PATH, and `is_kctx_own()`.
- `versions`: version strings and the skew policy (no I/O).

`background` is the detached process that refreshes a server's version.
This file imports nothing: `k` pays only for the modules it uses.
"""
