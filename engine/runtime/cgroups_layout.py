"""Where the host's cgroups are (part of engine.runtime.cgroups, which see):
the layout of v1 and v2 hierarchies read from /proc/self/mountinfo, and our
cgroup paths (/dockyard/<id>) in it. Standard library only (the monitor)."""
import os

from engine.errors import InvalidArgument

PREFIX = "/dockyard"

# v1 controllers we make a directory in; on v2 the controllers we enable for our subtree.
V1_USED = ("memory", "cpu", "cpuacct", "pids", "freezer", "devices", "blkio")
V2_USED = ("memory", "cpu", "pids", "io")
# Every v1 controller name the kernel knows (to tell them from mount options in mountinfo).
V1_KNOWN = frozenset({"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
                      "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug"})

_MOUNTINFO = "/proc/self/mountinfo"


# ---------------------------------------------------------------------------------------
# Layout: what this host has


class Layout:
    """Where each controller lives. `v1` maps a controller name to the mount point of its
    v1 hierarchy (co-mounted controllers such as cpu,cpuacct share one); `v2` is the mount
    point of the cgroup2 hierarchy (None without one) and `v2_controllers` the controllers
    it can hand out (its root's cgroup.controllers: on a hybrid host, only those not bound
    to a v1 hierarchy). A plain class: the monitor imports this at every start."""

    def __init__(self, v1: dict[str, str] | None = None, v2: str | None = None,
                 v2_controllers: frozenset[str] = frozenset()):
        self.v1 = dict(v1 or {})
        self.v2 = v2
        self.v2_controllers = frozenset(v2_controllers)

    def __eq__(self, other) -> bool:
        return isinstance(other, Layout) and (self.v1, self.v2, self.v2_controllers) == \
            (other.v1, other.v2, other.v2_controllers)

    def __repr__(self) -> str:
        return f"Layout(v1={self.v1!r}, v2={self.v2!r}, v2_controllers={set(self.v2_controllers)!r})"

    @property
    def mode(self) -> str:
        """"v1", "v2", "hybrid" (v1 hierarchies plus a v2 one) or "none"."""
        if self.v1 and self.v2:
            return "hybrid"
        if self.v1:
            return "v1"
        return "v2" if self.v2 else "none"

    def where(self, controller: str) -> tuple[str, str] | None:
        """("v1", mount) or ("v2", mount) for a controller, None when the host lacks it."""
        if controller in self.v1:
            return "v1", self.v1[controller]
        if self.v2 and controller in self.v2_controllers:
            return "v2", self.v2
        return None

    def v1_mounts(self) -> list[str]:
        """The v1 hierarchies we use (one entry per hierarchy, in V1_USED order)."""
        seen: list[str] = []
        for c in V1_USED:
            m = self.v1.get(c)
            if m and m not in seen:
                seen.append(m)
        return seen

    def v2_required(self) -> bool:
        """Whether our cgroups must exist in the v2 hierarchy: it holds a controller we
        use. On a hybrid host whose v2 hierarchy holds none of them the v2 directory is
        still made (process tracking, cgroup.kill) but only on a best-effort basis."""
        if not self.v2:
            return False
        if not self.v1:
            return True
        return any(c in self.v2_controllers for c in V2_USED) or "freezer" not in self.v1 \
            or "cpuacct" not in self.v1


def _unescape(s: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str, v2_controllers: str | None = None) -> Layout:
    """A Layout from the text of /proc/self/mountinfo. `v2_controllers` is the text of the
    v2 root's cgroup.controllers; None reads it from the mount found (missing: empty)."""
    v1: dict[str, tuple[bool, str]] = {}     # controller -> (mount root is "/", mount point)
    v2: str | None = None
    v2_rank = 9
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        a, b = pre.split(), post.split()
        if len(a) < 6 or len(b) < 3:
            continue
        root, mnt, fstype, superopts = _unescape(a[3]), _unescape(a[4]), b[0], b[2]
        if fstype == "cgroup2":
            # prefer the usual places; otherwise the first one seen
            rank = 0 if mnt in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified") else \
                1 if mnt.startswith("/sys/fs/cgroup/") else 2
            if rank < v2_rank:
                v2, v2_rank = mnt, rank
        elif fstype == "cgroup":
            for opt in superopts.split(","):
                if opt in V1_KNOWN:
                    have = v1.get(opt)
                    # a later bind mount of the same hierarchy wins only if it shows the
                    # hierarchy's root where the first one did not
                    if have is None or (not have[0] and root == "/"):
                        v1[opt] = (root == "/", mnt)
    controllers: frozenset[str] = frozenset()
    if v2:
        if v2_controllers is None:
            try:
                with open(os.path.join(v2, "cgroup.controllers")) as f:
                    v2_controllers = f.read()
            except OSError:
                v2_controllers = ""
        controllers = frozenset(v2_controllers.split())
    return Layout(v1={c: m for c, (_, m) in v1.items()}, v2=v2,
                  v2_controllers=controllers - set(v1))


_layout: Layout | None = None


def detect(refresh: bool = False) -> Layout:
    """The host's Layout, read once from /proc/self/mountinfo and cached."""
    global _layout
    if _layout is None or refresh:
        with open(_MOUNTINFO) as f:
            _layout = parse_mountinfo(f.read())
    return _layout


def _check_path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or path == "/" or "\0" in path \
            or os.path.normpath(path) != path or path.startswith("//") \
            or any(p in ("", ".", "..") for p in path[1:].split("/")):
        raise InvalidArgument(f"invalid cgroup path {path!r}: must be absolute, like /dockyard/<id>")
    return path


def cgroup_path_for(container_id: str) -> str:
    """The cgroup path of a container: "/dockyard/<id>"."""
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    if not container_id or not set(container_id) <= ok or container_id[0] in ".-" or len(container_id) > 128:
        raise InvalidArgument(f"invalid container id {container_id!r} for a cgroup name")
    return f"{PREFIX}/{container_id}"


def leftover_cgroups(prefix: str = PREFIX, layout: Layout | None = None) -> list[str]:
    """Every cgroup directory under `prefix` (not the prefix itself) in any hierarchy of
    the host, as full paths (/sys/fs/cgroup/memory/dockyard/<id>): for leak checks."""
    out = []
    for top in prefix_dirs(prefix, layout):
        for d, _, _ in os.walk(top):
            if d != top:
                out.append(d)
    return sorted(out)


def prefix_dirs(prefix: str = PREFIX, layout: Layout | None = None) -> list[str]:
    """The shared parent `prefix` in every hierarchy of the host (made on demand
    by the first container, kept as docker keeps its own), present or not."""
    _check_path(prefix)
    lay = layout or detect()
    mounts = sorted(set(lay.v1.values()))
    if lay.v2:
        mounts.append(lay.v2)
    return [os.path.join(m, prefix[1:]) for m in mounts]
