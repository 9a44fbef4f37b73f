"""Starting, restarting and stopping a session's API guard, without making anyone wait.

`kctx use` binds the guard's loopback port itself (instant), writes the session kubeconfig
naming it, and hands the listening socket to a detached guard process (kctx.apiguard.server);
clients that come before the guard is ready wait in the socket's backlog. The guard exits on
its own once its session is gone (see server.Guard.watch). A guard found dead is restarted on
the same port when it is free, always with a new secret.
"""

import os
import sys

from kctx import paths, session
from kctx.apiguard import state as st
from kctx.errors import FatalError

TYPE_CHECKING = False  # no typing (nor __future__) at run time: `k` imports this
if TYPE_CHECKING:
    from typing import Any
else:
    Any = object

SIGTERM = 15  # `import signal` costs an enum import on `kctx use`


def _bind(port: int = 0) -> tuple[Any, int]:
    import _socket

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        # Lets a restarted guard take its port back while old connections sit in TIME_WAIT; on
        # Linux it never lets two sockets listen on one port.
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock, sock.getsockname()[1]


def _new_token(s: str) -> None:
    session.write(st.token_path(s), os.urandom(32).hex())


def log_path(s: str) -> str:
    return os.path.join(st.guard_dir(), os.path.basename(s)[:-5] + ".log")


_DROP = ("KCTX_SHELL", "KCTX_SHELL_PID", "KCTX_SESSION", "KCTX_PREVIOUS", "KCTX_PREVIOUS_NS", "KUBECONFIG")


def _spawn(sock: Any, s: str) -> int:
    """Start the guard for session `s` on the listening `sock`; its pid."""
    st.ensure_guard_dir()
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    py = sys.executable
    import kctx

    # kctx's own folder first (an editable install finds it through an import hook otherwise).
    top = os.path.dirname(os.path.dirname(os.path.abspath(kctx.__file__)))
    folders = [top] + [p for p in sys.path if p and p != top]
    boot = ("import sys\n"
            f"sys.path[:0] = {folders!r}\n"
            "from kctx.apiguard.server import main\n"
            "sys.exit(main())\n")
    argv = [py, "-I", "-S", "-c", boot, str(fd), s]
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    log = log_path(s)
    try:
        return os.posix_spawn(py, argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        ])
    except (AttributeError, NotImplementedError, TypeError):
        import subprocess

        with open(log, "wb") as err:
            return subprocess.Popen(argv, executable=py, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, pass_fds=(fd,),
                                    start_new_session=True).pid


def _launch(s: str, sock: Any, port: int, entry: str) -> None:
    try:
        pid = _spawn(sock, s)
    finally:
        sock.close()
    session.write(st.state_path(s), f"{pid} {st.start_time(pid)} {port} {entry}\n")


def start(s: str, entry: str, rec: dict[str, Any], namespace: str | None) -> str:
    """Write session `s` for the guarded `entry` and make sure its guard runs; the content.

    A live guard of this session for the same entry is kept (same port and secret)."""
    cluster, user = str(rec.get("cluster") or ""), str(rec.get("user") or "")
    old = st.read_state(s)
    sock = None
    if old and old["entry"] == entry and st.alive(old):
        port = old["port"]
    else:
        if old:
            stop(s, old)
        sock, port = _bind()
        _new_token(s)
    from kctx.apiguard import tls

    content = session.render_guarded(entry, cluster, user, namespace, f"https://127.0.0.1:{port}",
                                     tls.ensure(), st.token_path(s))
    try:
        session.write_session(s, content)
        session.write(st.direct_path(s), session.render(entry, cluster, user, namespace))
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    if sock is not None:
        _launch(s, sock, port, entry)
    return content


def restart(s: str) -> None:
    """Start the guard of session `s` again (it died): same port when free, a new secret."""
    owner = session.pid_of(s)
    if owner is None or not session._alive(owner):
        raise FatalError("the shell of this session is gone")
    text = session.read_text(s)
    parsed = st.parse(text) if text is not None else None
    entry = parsed["current-context"] if parsed else ""
    rec = session.entry_record(entry) if entry and session.valid_name(entry) else None
    if rec is None or rec.get("error"):
        raise FatalError(f"the session names no entry kctx knows ({entry or 'none'})", hint="kctx use NAME")
    old = st.read_state(s)
    port = old["port"] if old else 0
    try:
        sock, port = _bind(port)
        moved = False
    except OSError:
        sock, port = _bind()  # taken meanwhile: another port, so the session file changes
        moved = True
    try:
        _new_token(s)
        from kctx.apiguard import tls

        ca = tls.ensure()
        if moved:
            session.write_session(s, session.render_guarded(
                entry, str(rec.get("cluster") or ""), str(rec.get("user") or ""), parsed["namespace"] if parsed else None,
                f"https://127.0.0.1:{port}", ca, st.token_path(s)))
    except BaseException:
        sock.close()
        raise
    _launch(s, sock, port, entry)


def stop(s: str, old: dict[str, Any] | None = None) -> None:
    """Stop the guard of session `s` (if any) and remove its files beside the session."""
    old = old or st.read_state(s)
    for path in (st.state_path(s), st.token_path(s), st.direct_path(s)):
        try:
            os.unlink(path)
        except OSError:
            pass
    if old and st.alive(old):
        try:
            os.kill(old["pid"], SIGTERM)
        except OSError:
            pass


def status(s: str, revive: bool = True) -> str:
    """"active", "restarted" or "down: <why>" for the guard of session `s` (restarting it when
    down and `revive`)."""
    if st.alive(st.read_state(s)):
        return "active"
    if not revive:
        return "down: the guard process is not running"
    try:
        restart(s)
    except Exception as e:  # noqa: BLE001 - reported to the caller, never a traceback
        return f"down: {e}"
    return "restarted"


def go_direct(s: str) -> bool:
    """Point this process's KUBECONFIG at the entry of guarded session `s`, around its guard, for a
    command `k` or `kctx confirm` has confirmed (and what it starts); False when the session no
    longer names an entry kctx knows (KUBECONFIG stays: the guard still refuses)."""
    direct = direct_kubeconfig(s)
    if direct:
        os.environ["KUBECONFIG"] = direct
    return bool(direct)


def direct_kubeconfig(s: str) -> str | None:
    """For `k` in a guarded shell: KUBECONFIG that reaches the entry without the guard
    ("<s>.direct:<entry file>", the layering of an unguarded shell), or None when the session
    no longer names an entry kctx knows. Restarts the guard when it is down."""
    text = session.read_text(s)
    if text is None:
        return None
    state = st.parse(text)
    entry = state["current-context"] if state else ""
    if not state or not entry or not session.valid_name(entry):
        return None
    rec = session.entry_record(entry)
    if rec is None or rec.get("error"):
        return None
    direct = st.direct_path(s)
    want = session.render(entry, str(rec.get("cluster") or ""), str(rec.get("user") or ""), state["namespace"])
    if session.read_text(direct) != want:
        session.write(direct, want)
    status(s)
    return direct + os.pathsep + paths.entry_file(entry)
