"""/sys/fs/cgroup inside the container: what the caller's cgroups are
(`cgroup_view`, or `cgroup_view_for` a cgroup it is about to be moved into)
and the mount made from it (`mount_cgroup`).

Standard library only; runs in a forked child of the monitor (cgroup_view_for
in the monitor, before the fork)."""
import os

from . import syscalls as sc
from .rootfs_target import SetupError, Target, _inside, remount_bind


def _mountinfo() -> list[tuple[str, str, str, str, str]]:
    """(root, mountpoint, fstype, source, superoptions) of each mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            try:
                sep = fields.index("-")
            except ValueError:
                continue
            unesc = [x.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
                     for x in (fields[3], fields[4])]
            out.append((unesc[0], unesc[1], fields[sep + 1], fields[sep + 2], fields[sep + 3]))
    return out


def cgroup_view() -> tuple[dict[str, str], list[tuple[str, str, str, str, str]]]:
    """The caller's cgroups ({controllers ("cpu,cpuacct", "name=systemd", "" for
    v2): path}, from /proc/self/cgroup) and the cgroup mounts of the mount
    namespace. Read both before unsharing the cgroup namespace: after it, both
    files show paths relative to the new namespace's root."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                out[parts[1]] = parts[2]
    mounts = [m for m in _mountinfo() if m[2] in ("cgroup", "cgroup2")]
    return out, mounts


def cgroup_view_for(dirs: list[str]) -> tuple[dict[str, str], list[tuple[str, str, str, str, str]]]:
    """What cgroup_view() will say once the caller's child has been moved into
    the cgroup whose directories are `dirs`: computed by the monitor before
    the fork, so that the container's init can mount /sys/fs/cgroup while the
    move (a cgroup.procs write, waiting for an RCU grace period) is under way."""
    paths, info = cgroup_view()
    known = _v1_controllers()
    for mroot, mp, fs, _, superopts in info:
        base = mp.rstrip("/") + "/"
        d = next((d for d in dirs if d.startswith(base)), None)
        if d is None:
            continue
        rel = "/" + d[len(base):].strip("/")
        full = (mroot.rstrip("/") + rel) if mroot != "/" else rel
        if fs == "cgroup2":
            paths[""] = full
            continue
        ctrls = {o for o in superopts.split(",") if o in known or o.startswith("name=")}
        for k in list(paths):
            if k and set(k.split(",")) == ctrls:
                paths[k] = full
    return paths, info


def cgroup_v2_only(view) -> bool:
    """A cgroup2-only host: /sys/fs/cgroup inside is a cgroup2 mount, which
    must wait for the container's cgroup namespace."""
    return any(mp == "/sys/fs/cgroup" and fs == "cgroup2" for _, mp, fs, _, _ in view[1])


def _v1_controllers() -> set[str]:
    names = set()
    try:
        with open("/proc/cgroups") as f:
            for line in f:
                if not line.startswith("#"):
                    names.add(line.split()[0])
    except OSError:
        pass
    return names


def mount_cgroup(root: str, dest: str, flags: int, data: str, view) -> None:
    """/sys/fs/cgroup for the container.

    cgroup v2 only (a cgroup2 fs at the host's /sys/fs/cgroup): a cgroup2
    mount; inside the container's cgroup namespace its root is the container's
    own cgroup. v1 or hybrid: a tmpfs, and in it, per hierarchy the host has
    mounted under /sys/fs/cgroup (cpu, memory, …, systemd, unified), a bind of
    the container's own cgroup directory of that hierarchy (`view`, from
    cgroup_view() before the cgroup namespace was made), with the
    mount's flags (read-only by default); the host's symlinks there
    (cpuacct → cpu,cpuacct) are copied; the tmpfs is then remounted read-only
    too. A hierarchy the container was not put into shows the monitor's cgroup."""
    cgroups, info = view
    v2_only = cgroup_v2_only(view)
    with Target(root, dest) as t:
        if v2_only:
            t.mount("cgroup2", "cgroup2", flags, data)
            return
        t.mount("tmpfs", "tmpfs", flags & ~sc.MS_RDONLY, ",".join(x for x in ("mode=755", data) if x))
        base = t.path
    known = _v1_controllers()
    for mroot, mp, fs, _, superopts in info:
        if os.path.dirname(mp) != "/sys/fs/cgroup" or fs not in ("cgroup", "cgroup2"):
            continue
        if fs == "cgroup2":
            path = cgroups.get("")
        else:
            ctrls = {o for o in superopts.split(",") if o in known or o.startswith("name=")}
            path = next((p for k, p in cgroups.items() if k and set(k.split(",")) == ctrls), None)
        if path is None:
            continue
        if mroot != "/":
            if not _inside(mroot, path):
                continue
            path = path[len(mroot):] or "/"
        src = os.path.join(mp, path.lstrip("/"))
        if not os.path.isdir(src):
            continue
        name = os.path.basename(mp)
        with Target(root, os.path.join(dest, name)) as sub:
            sub.mount(src, None, sc.MS_BIND | sc.MS_REC)
            if flags & ~sc.MS_REC:
                remount_bind(sub.path, flags, os.path.join(dest, name))
    try:
        for name in os.listdir("/sys/fs/cgroup"):
            host = os.path.join("/sys/fs/cgroup", name)
            if os.path.islink(host) and not os.path.lexists(os.path.join(base, name)):
                os.symlink(os.readlink(host), os.path.join(base, name))
    except OSError:
        pass
    if flags & sc.MS_RDONLY:
        try:
            sc.mount(None, base, None, sc.MS_REMOUNT | flags, "mode=755")
        except OSError as e:
            raise SetupError(f"remount {dest} read-only: {os.strerror(e.errno)}") from None
