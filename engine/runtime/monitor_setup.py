"""The monitor's stage 1 (monitor.py): everything that needs the heavy modules
(ctypes through init.py, cgroups, seccomp). Returns the handoff for stage 2,
which never imports this module."""
import os

from .monitor_base import PID_FILE, _release, _set_winsize

PR_SET_CHILD_SUBREAPER = 36


def _setup(cdir: str) -> dict:
    """Stage 1: everything that needs the heavy modules. Returns what stage 2
    needs (fds to inherit, the pid, options)."""
    from .protocol import loads

    # Exec'd processes are spawned by short-lived helpers and re-parented to
    # us (kept across the execve into stage 2).
    from .syscalls import prctl
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    with open(PID_FILE + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(PID_FILE + ".tmp", PID_FILE)
    with open("config.json", "rb") as f:
        spec = loads(f.read())
    try:
        with open("monitor.json", "rb") as f:
            mon = loads(f.read())
    except FileNotFoundError:
        mon = {}
    tty = bool((spec.get("process") or {}).get("terminal"))
    open_stdin = bool(mon.get("open_stdin"))
    linux = spec.get("linux") or {}
    cg_path = linux.get("cgroupsPath")
    cgroup = None
    child_fds: list[int] = []
    keep: dict = {}
    try:
        if cg_path:
            from .cgroups import Cgroup
            cgroup = Cgroup.create(cg_path, linux.get("resources"))
        if tty:
            master, slave = os.openpty()
            keep["master"] = master
            child_fds.append(slave)
            size = mon.get("tty_size")
            if size:
                _set_winsize(master, size[0], size[1])
            stdio = (slave, slave, slave)
        else:
            if open_stdin:
                r, w = os.pipe()
                keep["stdin_w"] = w
                child_fds.append(r)
                fd0 = r
            else:
                fd0 = os.open("/dev/null", os.O_RDONLY)
                child_fds.append(fd0)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            keep["stdout_r"], keep["stderr_r"] = out_r, err_r
            child_fds += [out_w, err_w]
            stdio = (fd0, out_w, err_w)
        # init.spawn_container unshares CLONE_NEWPID for its fork only (and
        # switches our pid_for_children back): pid 1 is our direct child.
        from .init import spawn_container
        console = None
        if tty:
            import socket
            console, child_console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            child_fds.append(child_console.detach())
        sp = spawn_container(os.path.abspath("."), spec, stdio=stdio, tty=tty, cgroup=cgroup,
                             console=child_fds[-1] if console is not None else None)
        if console is not None:
            master = _receive_master(console, child_fds)
            if master is not None:  # the container's own terminal replaces ours
                os.close(keep["master"])
                keep["master"] = master
                size = mon.get("tty_size")
                if size:
                    _set_winsize(master, size[0], size[1])
    except BaseException:
        for fd in child_fds + list(keep.values()):
            try:
                os.close(fd)
            except OSError:
                pass
        if cgroup is not None:
            try:
                cgroup.destroy()
            except Exception:
                pass
        raise
    for fd in child_fds:
        os.close(fd)
    started_ns = None
    start_w = sp.start_w
    error_r = sp.error_r
    running = False
    if not mon.get("wait_attach"):
        import time
        started_ns = time.time_ns()
        _release(start_w)
        start_w = None
        # The execve follows the start byte at once: learn how it went here, so
        # the launcher hears "running" without waiting for stage 2 to start.
        error_r, running = _exec_outcome(error_r)
    for k in ("master", "stdin_w"):
        if k in keep:
            os.set_blocking(keep[k], False)
    return {"pid": sp.pid, "tty": tty, "open_stdin": open_stdin, "cgroup": cg_path, "error_r": error_r,
            "running": running,
            "start_w": start_w, "started_ns": started_ns, "id": mon.get("id") or os.path.basename(os.getcwd()),
            "name": mon.get("name"), "autoremove": bool(mon.get("autoremove")),
            "poststop": mon.get("poststop") or [], "bridge": bool(mon.get("bridge")),
            "log_max_size": int(mon.get("log_max_size") or 0), "log_max_files": int(mon.get("log_max_files") or 1),
            **keep}


def _receive_master(console, child_fds: list[int]) -> int | None:
    """The pty master the init made in the container's devpts, or None (it
    failed before, or could not: then our own pty stays)."""
    import socket
    os.close(child_fds.pop())  # our copy of the child's end: EOF comes when the init closes its own
    try:
        msg, fds, _flags, _addr = socket.recv_fds(console, 1, 1)
    except OSError:
        fds = []
    finally:
        console.close()
    return fds[0] if fds else None


def _exec_outcome(error_r: int) -> tuple[int | None, bool]:
    """Reads the init's error pipe to its end. (None, True): execve worked.
    Otherwise a pipe holding the error for stage 2 to report as before."""
    data = b""
    while True:
        chunk = os.read(error_r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(error_r)
    if not data:
        return None, True
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r, False
