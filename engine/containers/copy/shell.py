"""The helper process of `dockyard cp`, so that the CLI or TUI never forks nor
changes its own namespaces:

    python -m engine.containers.copy.shell out|in SPEC_JSON      (cwd: the package root)

SPEC_JSON (written by engine.containers.copy.host) says which container path to
copy and how to reach the container's root:

  * {"kind": "proc", "pid", "monitor_pid"}: a running container. Its root is
    /proc/<pid>/root; we open it, check that <pid> is still the child of the
    container's monitor, and chroot there (the container's mount namespace is
    not entered: the path walk through that root sees its mounts).
  * {"kind": "overlay", "rootfs", "lower", "upper", "work", "binds"}: a
    stopped container. We unshare a mount namespace, make / rprivate, mount
    the container's overlay on its rootfs/ (read-only with the upper dir as
    the top lower layer for copy-out, read-write with upper and work for
    copy-in, so what we write lands in the container's diff), bind its bind
    mounts (volumes, /etc/hosts…) whose mount points exist, and chroot there.
    The mounts die with our namespace when we exit: nothing to unmount.

Then engine.containers.copy.inside does the copy: `out` writes one JSON line and a
tar on stdout; `in` answers one JSON line (ready or error), reads a tar on
stdin and answers again. An error before the tar is a JSON line on stdout,
after it one on stderr; the exit status is 1.

Everything is imported before the chroot: nothing can be imported after it.
"""
import bz2  # noqa: F401  (tarfile's "r|*" wants these after the chroot)
import grp  # noqa: F401
import gzip  # noqa: F401
import json
import lzma  # noqa: F401
import os
import pwd  # noqa: F401
import signal
import sys
import tarfile  # noqa: F401
import zlib  # noqa: F401

from engine.containers.copy import errors as cperr
from engine.containers.copy import inside as cp
from engine.runtime import rootfs
from engine.runtime import syscalls as sc


def _ppid_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def enter_proc(root: dict) -> set[int]:
    """chroot into a running container's root; returns the st_dev of its
    proc/sys/cgroup mounts (not worth descending into)."""
    pid = int(root["pid"])
    try:
        fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        with open(f"/proc/{pid}/mountinfo") as f:
            mountinfo = f.read()
    except OSError:
        raise cperr.ContainerGone("the container is not running any more") from None
    # The pid could have been recycled between the state file and now: the
    # container's pid 1 is a direct child of its monitor.
    if root.get("monitor_pid") and _ppid_of(pid) != root["monitor_pid"]:
        os.close(fd)
        raise cperr.ContainerGone("the container is not running any more")
    os.fchdir(fd)
    os.close(fd)
    os.chroot(".")
    os.chdir("/")
    return cp.pseudo_devs(mountinfo)


def enter_overlay(root: dict, writable: bool) -> None:
    target = root["rootfs"]
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    try:
        if writable:
            rootfs.mount_overlay(target, root["lower"], root["upper"], root["work"])
        else:
            lower = ":".join(p for p in (root.get("upper"), root["lower"]) if p)
            rootfs.mount_overlay(target, lower, None, None)
    except rootfs.SetupError as e:
        raise cperr.CopyError(f"cannot mount the container's filesystem: {e}") from None
    for m in root.get("binds") or ():
        _bind(target, m)
    os.chdir(target)
    os.chroot(".")
    os.chdir("/")


def _bind(target: str, m: dict) -> None:
    """A bind mount of the container's spec, if its mount point exists (a
    stopped container's copy must not create mount points)."""
    flags, prop, _ = rootfs.parse_options(m.get("options"))
    try:
        st = os.stat(m["source"])
        with rootfs.Target(target, m["destination"], file=not os.path.isdir(m["source"]), create=False) as t:
            if t.is_dir != (st.st_mode & 0o170000 == 0o040000):
                return
            t.mount(m["source"], None, sc.MS_BIND | (flags & sc.MS_REC))
            if flags & ~(sc.MS_BIND | sc.MS_REC):
                rootfs.remount_bind(t.proc, flags, m["destination"])
    except (OSError, rootfs.SetupError):
        return  # best effort: the container's own files are still there


def main(argv: list[str]) -> int:
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    mode, spec = argv[0], json.loads(argv[1])
    out = sys.stdout.buffer
    said = False  # has the first JSON line gone out?
    if spec.get("parent") and os.getppid() != spec["parent"]:
        return 1  # our caller is gone already
    try:
        root = spec["root"]
        skip = set()
        if root["kind"] == "proc":
            skip = enter_proc(root)
        else:
            enter_overlay(root, writable=(mode == "in"))
        if mode == "out":
            header, host = cp.prepare_out(spec)
            said = True
            cp.send_out(header, host, out, skip_devs=skip)
        elif mode == "in":
            cp.serve_in(spec, sys.stdin.buffer, out)
        else:
            raise cperr.CopyError(f"unknown copy mode {mode!r}")
    except BrokenPipeError:
        return 1
    except BaseException as e:
        line = (json.dumps(cperr.describe(e)) + "\n").encode()
        try:
            if said and mode == "out":
                sys.stderr.buffer.write(line)
                sys.stderr.buffer.flush()
            else:
                out.write(line)
                out.flush()
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
