"""How `k` starts fast: its first run through /bin/sh makes the next ones skip /bin/sh.

pip writes an exact interpreter into a script's shebang only for a `#!python` first line, and
drops any flags there; `k` needs `-I -S` (no site: its .pth files can cost 20 ms). So `k` ships
as a shell/Python polyglot (scripts/k) whose shell line finds the interpreter and runs it with
`-I -S`. That shell costs a process start on every command, so on its first run `k` rewrites
its own first line to `#!<that interpreter> -IS` when it can: its file is ours, writable, and the
line fits the kernel's shebang limit. Otherwise it simply stays on the shell line.
"""

import os
import sys

from kctx.kubectl import MARKER

SHELL_LINE = b"#!/bin/sh\n"
MAX_SHEBANG = 127  # the oldest kernels' limit, counting "#!" and the newline


def direct_shebang(script: str) -> bool:
    """Rewrite `script` (this k) to start Python directly; True when it did."""
    exe = sys.executable
    line = f"#!{exe} -IS\n".encode()
    if len(line) > MAX_SHEBANG or not os.path.isabs(exe) or any(c.isspace() for c in exe):
        return False
    path = os.path.realpath(script)
    try:
        st = os.stat(path)
        if st.st_uid != os.getuid() or not os.access(os.path.dirname(path), os.W_OK):
            return False
        with open(path, "rb") as f:
            data = f.read()
        if not data.startswith(SHELL_LINE) or MARKER not in data[:4096]:
            return False
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, st.st_mode & 0o7777)
        try:
            os.write(fd, line + data[len(SHELL_LINE):])
            os.fchmod(fd, st.st_mode & 0o7777)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(f"{path}.{os.getpid()}.tmp")
        except OSError:
            pass
        return False
