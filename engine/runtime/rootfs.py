"""The container's root filesystem, set up from inside its new mount namespace:
the overlay, the spec's mounts, /dev, pivot_root, masked and read-only paths.

Every mount target is resolved inside the rootfs component by component, with
the rootfs as the boundary (`secure_join`, as filepath-securejoin does), then
opened O_PATH|O_NOFOLLOW and mounted on through /proc/self/fd/N: a malicious
image cannot send a mount outside its root, nor onto a symlink.

Standard library only; runs in a forked child of the monitor."""
import os
import stat

from . import syscalls as sc

# Legacy mount(2) copies at most one page of option data.
MOUNT_DATA_MAX = 4000
_MAX_SYMLINKS = 255

_FLAGS = {  # option → (set, clear), as runc's parseMountOptions
    "async": (0, sc.MS_SYNCHRONOUS), "atime": (0, sc.MS_NOATIME), "bind": (sc.MS_BIND, 0),
    "defaults": (0, 0), "dev": (0, sc.MS_NODEV), "diratime": (0, sc.MS_NODIRATIME),
    "dirsync": (sc.MS_DIRSYNC, 0), "exec": (0, sc.MS_NOEXEC), "mand": (sc.MS_MANDLOCK, 0),
    "noatime": (sc.MS_NOATIME, 0), "nodev": (sc.MS_NODEV, 0), "nodiratime": (sc.MS_NODIRATIME, 0),
    "noexec": (sc.MS_NOEXEC, 0), "nomand": (0, sc.MS_MANDLOCK), "norelatime": (0, sc.MS_RELATIME),
    "nostrictatime": (0, sc.MS_STRICTATIME), "nosuid": (sc.MS_NOSUID, 0), "rbind": (sc.MS_BIND | sc.MS_REC, 0),
    "relatime": (sc.MS_RELATIME, 0), "remount": (sc.MS_REMOUNT, 0), "ro": (sc.MS_RDONLY, 0),
    "rw": (0, sc.MS_RDONLY), "strictatime": (sc.MS_STRICTATIME, 0), "suid": (0, sc.MS_NOSUID),
    "sync": (sc.MS_SYNCHRONOUS, 0), "nosymfollow": (sc.MS_NOSYMFOLLOW, 0),
    "rro": (sc.MS_RDONLY, 0),  # recursive ro: applied to the top mount only (see remount_bind)
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC, "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC, "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
_IGNORED = {"tmpcopyup", "notmpcopyup", "nocopy", "z", "Z", "idmap", "ridmap"}
# statvfs f_flag bits → mount flags a bind remount must keep
_ST_KEEP = ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV), (os.ST_NOEXEC, sc.MS_NOEXEC),
            (os.ST_NOATIME, sc.MS_NOATIME), (os.ST_NODIRATIME, sc.MS_NODIRATIME),
            (os.ST_RELATIME, sc.MS_RELATIME), (os.ST_RDONLY, sc.MS_RDONLY))


class SetupError(Exception):
    """A set-up step failed; the message is for the user."""


def parse_options(options) -> tuple[int, int, str]:
    """OCI mount options → (mount flags, propagation flags, data string)."""
    flags, prop, data = 0, 0, []
    for o in options or ():
        if o in _FLAGS:
            s, c = _FLAGS[o]
            flags = (flags | s) & ~c
        elif o in _PROPAGATION:
            prop |= _PROPAGATION[o]
        elif o in _IGNORED:
            continue
        else:
            data.append(o)
    return flags, prop, ",".join(data)


# ------------------------------------------------------------------ paths

def secure_join(root: str, unsafe: str) -> str:
    """`unsafe` resolved under `root` as if root were "/": "..", absolute and
    relative symlinks never leave it. Components that do not exist yet are
    joined lexically (after "." and ".." are cleaned)."""
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        cand = os.path.join(root, *done, part)
        try:
            st = os.lstat(cand)
        except FileNotFoundError:
            done.append(part)
            continue
        except NotADirectoryError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_SYMLINKS:
                raise SetupError(f"{unsafe}: too many levels of symbolic links")
            target = os.readlink(cand)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return os.path.join(root, *done) if done else root


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _mkdirs_inside(root: str, path: str, mode: int = 0o755) -> None:
    """mkdir -p of a path secure_join returned (its existing part has no symlinks)."""
    rel = os.path.relpath(path, root)
    cur = root
    if rel == ".":
        return
    for part in rel.split("/"):
        cur = os.path.join(cur, part)
        try:
            os.mkdir(cur, mode)
        except FileExistsError:
            st = os.lstat(cur)
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
                raise SetupError(f"{cur[len(root):] or '/'} is not a directory") from None


class Target:
    """A mount point inside the rootfs, opened O_PATH|O_NOFOLLOW: mount onto
    `.proc` (/proc/self/fd/N), which is exactly what was checked."""

    def __init__(self, root: str, dest: str, *, file: bool = False, create: bool = True):
        self.root, self.dest = os.path.abspath(root), dest
        self.path = secure_join(self.root, dest)
        if create and not os.path.lexists(self.path):
            if file:
                _mkdirs_inside(self.root, os.path.dirname(self.path))
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                os.close(fd)
            else:
                _mkdirs_inside(self.root, self.path)
        try:
            self.fd = os.open(self.path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise SetupError(f"mount point {dest}: {e.strerror}") from None
        st = os.fstat(self.fd)
        real = os.readlink(f"/proc/self/fd/{self.fd}")
        if stat.S_ISLNK(st.st_mode):
            self.close()
            raise SetupError(f"mount point {dest} is a symlink: refusing to mount onto it")
        if not _inside(self.root, real):
            self.close()
            raise SetupError(f"mount point {dest} resolves to {real}, outside the container's root")
        self.is_dir = stat.S_ISDIR(st.st_mode)
        self.proc = f"/proc/self/fd/{self.fd}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def mount(self, source, fstype, flags: int = 0, data: str | None = None) -> None:
        try:
            sc.mount(source, self.proc, fstype, flags, data or None)
        except OSError as e:
            what = f"mount {fstype or 'bind'} {source or ''} on {self.dest}".replace("  ", " ")
            raise SetupError(f"{what}: {os.strerror(e.errno)}") from None
        # what was opened is now covered: later calls must see the new mount
        self.close()
        self.fd = os.open(self.path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        self.proc = f"/proc/self/fd/{self.fd}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def kept_flags(path: str) -> int:
    """Mount flags of the mount at `path` a bind remount has to repeat."""
    f = os.statvfs(path).f_flag
    return sum(m for st, m in _ST_KEEP if f & st)


def remount_bind(path: str, flags: int, what: str) -> None:
    flags &= ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    try:
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | flags | kept_flags(path), None)
    except OSError as e:
        raise SetupError(f"remount {what} (flags 0x{flags:x}): {os.strerror(e.errno)}") from None


# ------------------------------------------------------------------ overlay

def _ovl_escape(p: str) -> str:
    return p.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def mount_overlay(target: str, lower: str, upper: str | None, work: str | None) -> None:
    """The image's layers and the container's upper dir on `target`.

    redirect_dir=off, metacopy=off, index=off keep the upper dir a plain diff
    that a commit can tar as it is. An older kernel that does not know one of
    them refuses it with EINVAL: then the mount is retried without the options
    from the last one back (those features did not exist there either, so the
    upper dir stays a plain diff)."""
    lowers = [p for p in lower.split(":") if p]
    if not lowers:
        raise SetupError("the container has no image layers (empty lowerdir)")
    if not upper:
        if len(lowers) == 1:  # a single read-only layer: a bind is enough
            sc.mount(lowers[0], target, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
            return

    def data_for(lw, up, wk):
        d = "lowerdir=" + ":".join(_ovl_escape(p) for p in lw)
        if up:
            d += f",upperdir={_ovl_escape(up)},workdir={_ovl_escape(wk)}"
        return d

    base = data_for(lowers, upper, work)
    extras = ["redirect_dir=off", "metacopy=off", "index=off"]
    if len(base) + 40 > MOUNT_DATA_MAX:
        # Too long for one page: the layers relative to their common parent
        # (our cwd; the child chdirs to the rootfs for pivot_root later).
        common = os.path.commonpath([os.path.abspath(p) for p in lowers])
        os.chdir(common)
        up, wk = (os.path.abspath(upper), os.path.abspath(work)) if upper else (None, None)
        base = data_for([os.path.relpath(p, common) for p in lowers], up, wk)
        if len(base) + 40 > MOUNT_DATA_MAX:
            # Still too long: the new mount API takes one layer per call
            # ("lowerdir+", Linux 6.8+), with no page limit.
            try:
                sc.mount_overlay_fsconfig(target, lowers, upper, work, [e.split("=") for e in extras])
                return
            except OSError as e:
                raise SetupError(f"the image has too many layers for one overlay mount ({len(lowers)} layers, "
                                 f"{len(base)} bytes of options even with relative paths; the new mount "
                                 f"API: {e.strerror})") from None
    last = None
    for n in range(len(extras), -1, -1):
        data = ",".join([base] + extras[:n])
        try:
            sc.mount("overlay", target, "overlay", 0, data)
            return
        except OSError as e:
            last = e
            if e.errno != 22:  # EINVAL: maybe an option this kernel does not know
                break
    raise SetupError(f"mount overlay on {target}: {os.strerror(last.errno)} "
                     f"(lowerdir {len(lowers)} layers, upperdir {upper})")


# ------------------------------------------------------------------ mounts

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


def mount_one(root: str, m: dict, bundle: str, cgroup_view) -> None:
    dest = m.get("destination") or ""
    if not dest.startswith("/"):
        raise SetupError(f"mount destination {dest!r} must be an absolute path")
    mtype = m.get("type") or ""
    flags, prop, data = parse_options(m.get("options"))
    source = m.get("source") or mtype or "none"
    if mtype == "bind" or flags & sc.MS_BIND:
        if not source.startswith("/"):
            source = os.path.join(bundle, source)
        try:
            st = os.stat(source)
        except OSError as e:
            raise SetupError(f"bind mount source {source}: {e.strerror}") from None
        with Target(root, dest, file=not stat.S_ISDIR(st.st_mode)) as t:
            t.mount(source, None, sc.MS_BIND | (flags & sc.MS_REC))
            if flags & ~(sc.MS_BIND | sc.MS_REC):
                remount_bind(t.proc, flags, dest)
            if prop:
                sc.mount(None, t.proc, None, prop)
        return
    if mtype == "cgroup":
        mount_cgroup(root, dest, flags, data, cgroup_view)
        return
    with Target(root, dest) as t:
        t.mount(source, mtype, flags, data)
        if prop:
            sc.mount(None, t.proc, None, prop)


def make_devices(root: str, devices) -> None:
    """mknod the spec's linux.devices (a bind of the host's node where mknod is refused)."""
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    for d in devices or ():
        dest = d["path"]
        kind = kinds.get(d.get("type", "c"))
        if kind is None:
            raise SetupError(f"device {dest}: unknown type {d.get('type')!r}")
        path = secure_join(root, dest)
        _mkdirs_inside(root, os.path.dirname(path))
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                raise SetupError(f"device {dest}: a directory is in the way")
            os.unlink(path)
        mode = d.get("fileMode", 0o666) & 0o7777
        dev = os.makedev(d.get("major", 0), d.get("minor", 0))
        try:
            os.mknod(path, kind | mode, dev)
        except PermissionError:
            host = f"/dev/{os.path.relpath(dest, '/dev')}"
            with Target(root, dest, file=True) as t:
                t.mount(host, None, sc.MS_BIND)
            continue
        os.chmod(path, mode, follow_symlinks=False)
        os.chown(path, d.get("uid", 0), d.get("gid", 0), follow_symlinks=False)


DEV_SYMLINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))


def dev_symlinks(root: str) -> None:
    dev = secure_join(root, "/dev")
    if not os.path.isdir(dev) or os.path.islink(dev):
        return
    for name, target in DEV_SYMLINKS:
        p = os.path.join(dev, name)
        if name == "ptmx" and os.path.lexists(p) and not os.path.isdir(p):
            os.unlink(p)  # runc too replaces a ptmx node with the link to the new devpts instance
        try:
            os.symlink(target, p)
        except FileExistsError:
            pass


def bind_console(root: str, fd: int = 0) -> None:
    """The pty slave (our fd 0) bound onto /dev/console."""
    try:
        src = os.ttyname(fd)
    except OSError:
        src = f"/proc/self/fd/{fd}"
    with Target(root, "/dev/console", file=True) as t:
        t.mount(src, None, sc.MS_BIND)


def pivot(root: str) -> None:
    """pivot_root(".", "."), then detach the old root stacked on top of the new one."""
    os.chdir(root)
    try:
        sc.pivot_root(".", ".")
        # the old root, now on top: slave so that unmounting it never propagates to the host
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    except OSError as e:
        raise SetupError(f"pivot_root into the container's root: {e.strerror}") from None
    os.chdir("/")


# ------------------------------------------------------------------ after pivot_root

NAMESPACED_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                      "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def write_sysctls(sysctl: dict, *, netns: bool, ipcns: bool, utsns: bool) -> None:
    """linux.sysctl under /proc/sys; only sysctls of a namespace the container
    has its own of (as runc: net.* needs a network namespace…)."""
    for key, value in (sysctl or {}).items():
        ok = (key.startswith("net.") and netns) or ((key in NAMESPACED_SYSCTLS or key.startswith("fs.mqueue."))
                                                   and ipcns) or (key in ("kernel.hostname", "kernel.domainname")
                                                                  and utsns)
        parts = key.replace("/", ".").split(".")
        if not ok or any(p in ("", "..", ".") for p in parts):
            raise SetupError(f"sysctl {key!r} is not allowed: it is not namespaced or the container shares that "
                             f"namespace with the host")
        path = "/proc/sys/" + "/".join(parts)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise SetupError(f"sysctl {key}={value}: {e.strerror}") from None


def open_devnull() -> int:
    """/dev/null of the container, checked to be the null device (1:3), not a
    file or a symlink an image or a racing process put there (CVE-2025-31133)."""
    fd = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise SetupError("/dev/null in the container is not the null device (1:3): refusing to use it to mask paths")
    return fd


def mask_paths(paths) -> None:
    """A file gets the (checked) /dev/null bound over it, a directory an empty
    read-only tmpfs; missing paths are skipped."""
    devnull = -1
    try:
        for p in paths or ():
            try:
                st = os.stat(p)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                if stat.S_ISDIR(st.st_mode):
                    sc.mount("tmpfs", p, "tmpfs", sc.MS_RDONLY, None)
                else:
                    if devnull < 0:
                        devnull = open_devnull()
                    src = f"/proc/self/fd/{devnull}" if os.path.isdir("/proc/self/fd") else "/dev/null"
                    sc.mount(src, p, None, sc.MS_BIND)
            except OSError as e:
                raise SetupError(f"mask {p}: {os.strerror(e.errno)}") from None
    finally:
        if devnull >= 0:
            os.close(devnull)


def readonly_paths(paths) -> None:
    for p in paths or ():
        if not os.path.lexists(p):
            continue
        try:
            sc.mount(p, p, None, sc.MS_BIND | sc.MS_REC)
        except OSError as e:
            raise SetupError(f"make {p} read-only: {os.strerror(e.errno)}") from None
        remount_bind(p, sc.MS_RDONLY, p)


def readonly_root() -> None:
    remount_bind("/", sc.MS_RDONLY, "/")
