"""Control groups: one interface over cgroup v1, cgroup v2 and hybrid hosts.

The host's layout is read from /proc/self/mountinfo (never assumed): each controller
lives either in its own v1 hierarchy (/sys/fs/cgroup/memory, ...) or in the single v2
hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host).  A container's
cgroup has one path, e.g. "/dockyard/<id>" (the OCI linux.cgroupsPath), made in every
hierarchy we use.  Limits come in the OCI runtime-spec linux.resources form.

    cg = Cgroup.create(cgroup_path_for(cid), {"memory": {"limit": 64 << 20}, "pids": {"limit": 100}})
    cg.add(pid); cg.stats(); cg.freeze(); cg.thaw(); cg.destroy()

What is enforced where:
  memory limit (+ memory+swap), cpu quota/period/shares, pids limit: v1 and v2.
  device rules: v1 devices.allow/deny only. On v2 device control needs an eBPF program,
  which this module does not load: rules are skipped and `devices_enforced` is False.

Imported by the per-container monitor process: standard library only, nothing heavy.
"""
import errno
import os
import signal
import time

from engine.errors import DockyardError, InvalidArgument

PREFIX = "/dockyard"
MIN_MEMORY = 6 * 1024 * 1024          # docker: "Minimum memory limit allowed is 6MB"
DEFAULT_CPU_PERIOD = 100_000          # µs, as docker --cpus uses

# v1 controllers we make a directory in; on v2 the controllers we enable for our subtree.
V1_USED = ("memory", "cpu", "cpuacct", "pids", "freezer", "devices", "blkio")
V2_USED = ("memory", "cpu", "pids", "io")
# Every v1 controller name the kernel knows (to tell them from mount options in mountinfo).
V1_KNOWN = frozenset({"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
                      "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug"})
_UNLIMITED = 1 << 62                  # v1 reports "no limit" as 9223372036854771712 (or so)

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


# ---------------------------------------------------------------------------------------
# Resources: checks and what to write


def human_size(n: int) -> str:
    """4194304 -> "4MB" (binary units, as docker's messages use them)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.4g}{unit}"
    return f"{n}B"


def cpus_to_quota(cpus: float, period: int = DEFAULT_CPU_PERIOD) -> tuple[int, int]:
    """docker --cpus: 1.5 -> (150000, 100000)."""
    if not cpus > 0:
        raise InvalidArgument(f"invalid --cpus {cpus}: must be more than 0")
    return round(cpus * period), period


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144, default 1024) to v2 cpu.weight (1..10000, default
    100), the mapping runc and crun use now (1024 -> 100, 2 -> 1, 262144 -> 10000)."""
    if shares <= 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    import math
    l2 = math.log2(shares)
    return min(10000, math.ceil(10 ** ((l2 * l2 + 125 * l2) / 612.0 - 7.0 / 34.0)))


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"invalid {what} {value!r}: must be an integer")
    return value


_SUPPORTED = {
    "memory": {"limit", "swap", "reservation"},
    "cpu": {"shares", "quota", "period"},
    "pids": {"limit"},
}


def check_resources(resources: dict | None) -> None:
    """Reject what docker rejects, and what this module cannot enforce, before anything is
    made. Raises InvalidArgument."""
    if not resources:
        return
    if not isinstance(resources, dict):
        raise InvalidArgument("linux.resources must be an object")
    for key, value in resources.items():
        if key == "devices":
            continue
        if key not in _SUPPORTED:
            if value:
                raise InvalidArgument(f"linux.resources.{key} is not supported by dockyard")
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InvalidArgument(f"linux.resources.{key} must be an object")
        for k, v in value.items():
            if k not in _SUPPORTED[key] and v not in (None, 0, "", False, [], {}):
                raise InvalidArgument(f"linux.resources.{key}.{k} is not supported by dockyard")
    mem = resources.get("memory") or {}
    limit = mem.get("limit")
    if limit is not None:
        _int(limit, "memory limit")
        if 0 < limit < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        if limit < -1:
            raise InvalidArgument(f"invalid memory limit {limit}")
    swap = mem.get("swap")
    if swap is not None and swap != 0:
        _int(swap, "memory+swap limit")
        if swap != -1:
            if not limit or limit <= 0:
                raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit")
            if swap < limit:
                raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit")
    res = mem.get("reservation")
    if res is not None:
        _int(res, "memory reservation")
        if limit and limit > 0 and res > limit:
            raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit")
    cpu = resources.get("cpu") or {}
    if cpu.get("shares") is not None:
        _int(cpu["shares"], "cpu shares")
        if cpu["shares"] < 0:
            raise InvalidArgument(f"invalid cpu shares {cpu['shares']}")
    if cpu.get("period") is not None:
        p = _int(cpu["period"], "cpu period")
        if p != 0 and not 1000 <= p <= 1_000_000:
            raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) "
                                  "or larger than 1 second (i.e. 1000000)")
    if cpu.get("quota") is not None:
        q = _int(cpu["quota"], "cpu quota")
        if 0 < q < 1000 or q < -1:
            raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    pids = resources.get("pids") or {}
    if pids.get("limit") is not None:
        if _int(pids["limit"], "pids limit") < -1:
            raise InvalidArgument(f"invalid pids limit {pids['limit']}")
    devices = resources.get("devices") or []
    if not isinstance(devices, list):
        raise InvalidArgument("linux.resources.devices must be a list")
    for d in devices:
        _device_rule(d)


def _device_rule(d: dict) -> tuple[str, str]:
    """("devices.allow" | "devices.deny", "c 1:3 rwm") for one OCI device rule."""
    if not isinstance(d, dict) or not isinstance(d.get("allow"), bool):
        raise InvalidArgument(f"invalid device rule {d!r}: needs allow true or false")
    typ = d.get("type") or "a"
    if typ not in ("a", "b", "c"):
        raise InvalidArgument(f"invalid device rule {d!r}: type must be a, b or c")
    access = d.get("access") or "rwm"
    if not isinstance(access, str) or not set(access) <= set("rwm"):
        raise InvalidArgument(f"invalid device rule {d!r}: access must be made of r, w, m")
    nums = []
    for k in ("major", "minor"):
        v = d.get(k)
        if v is None or v == -1:
            nums.append("*")
        else:
            nums.append(str(_int(v, f"device {k}")))
    return ("devices.allow" if d["allow"] else "devices.deny"), f"{typ} {nums[0]}:{nums[1]} {access}"


def _memory_writes(mem: dict, v2: bool, swap_file: bool, cur_memsw: int | None) -> list[tuple[str, str, str]]:
    """[(file, value, what)] for OCI linux.resources.memory, in the order to write them.
    Without a swap value, docker's default applies: memory+swap = 2 x limit."""
    out: list[tuple[str, str, str]] = []
    limit = mem.get("limit") or 0
    swap = mem.get("swap") or 0
    if swap == 0 and limit > 0:
        swap = 2 * limit
    if v2:
        if limit:
            out.append(("memory.max", "max" if limit < 0 else str(limit), "memory limit"))
        if swap and swap_file:
            # v2 limits swap alone; OCI gives memory+swap
            sw = "max" if swap < 0 or limit < 0 else str(swap - limit)
            out.append(("memory.swap.max", sw, "memory+swap limit"))
        if mem.get("reservation"):
            r = mem["reservation"]
            out.append(("memory.low", "max" if r < 0 else str(r), "memory reservation"))
        return out
    lim = ("memory.limit_in_bytes", str(limit), "memory limit") if limit else None
    sw = ("memory.memsw.limit_in_bytes", str(swap), "memory+swap limit") if swap and swap_file else None
    if lim and sw:
        # memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every moment: raise
        # memsw first when it goes up, lower the limit first when memsw comes down
        raising = swap == -1 or cur_memsw is None or swap > cur_memsw
        out += [sw, lim] if raising else [lim, sw]
    else:
        out += [x for x in (lim, sw) if x]
    if mem.get("reservation"):
        out.append(("memory.soft_limit_in_bytes", str(mem["reservation"]), "memory reservation"))
    return out


def _cpu_writes(cpu: dict, v2: bool) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    shares, quota, period = cpu.get("shares"), cpu.get("quota"), cpu.get("period")
    if v2:
        if shares:
            out.append(("cpu.weight", str(shares_to_weight(shares)), "cpu shares"))
        if quota or period:
            q = "max" if not quota or quota < 0 else str(quota)
            out.append(("cpu.max", f"{q} {period or DEFAULT_CPU_PERIOD}", "cpu quota"))
        return out
    if shares:
        out.append(("cpu.shares", str(shares), "cpu shares"))
    if period:
        out.append(("cpu.cfs_period_us", str(period), "cpu period"))
    if quota:
        out.append(("cpu.cfs_quota_us", str(quota if quota > 0 else -1), "cpu quota"))
    return out


def _pids_writes(pids: dict) -> list[tuple[str, str, str]]:
    limit = pids.get("limit") or 0
    if not limit:
        return []
    return [("pids.max", "max" if limit < 0 else str(limit), "pids limit")]


def _shown(what: str, value: str) -> str:
    if what.startswith("memory") and value.lstrip("-").isdigit() and int(value) > 0:
        return human_size(int(value))
    return value


# ---------------------------------------------------------------------------------------
# Parsing the kernel's files


def _kv(text: str) -> dict[str, int]:
    """"key value" lines (memory.stat, memory.events, cpu.stat, cgroup.events)."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            pass
    return out


def parse_blkio(text: str) -> tuple[int, int, bool]:
    """(read bytes, write bytes, any device lines) from v1 blkio.*io_service_bytes*."""
    r = w = 0
    seen = False
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        seen = True
        if parts[1] == "Read":
            r += int(parts[2])
        elif parts[1] == "Write":
            w += int(parts[2])
    return r, w, seen


def parse_io_stat(text: str) -> tuple[int, int]:
    """(read bytes, write bytes) summed over devices from v2 io.stat."""
    r = w = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            k, _, v = item.partition("=")
            if k == "rbytes":
                r += int(v)
            elif k == "wbytes":
                w += int(v)
    return r, w


def _limit(text: str) -> int | None:
    t = text.strip()
    if t == "max" or t == "-1":
        return None
    n = int(t)
    return None if n >= _UNLIMITED else n


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)      # cgroup files exist; never create one
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


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


# ---------------------------------------------------------------------------------------
# Cgroup


class Cgroup:
    """One cgroup path across every hierarchy of the host. Make one with create() or
    open(); the constructor only computes paths."""

    def __init__(self, path: str, layout: Layout | None = None):
        self.path = _check_path(path)
        self.layout = layout or detect()
        rel = path[1:]
        self._v1 = {c: os.path.join(m, rel) for c, m in self.layout.v1.items() if c in V1_USED}
        self._v2 = os.path.join(self.layout.v2, rel) if self.layout.v2 else None

    def __repr__(self) -> str:
        return f"Cgroup({self.path!r}, mode={self.layout.mode})"

    # -- where things are

    def dirs(self) -> list[str]:
        """Every directory this cgroup has (or would have), v1 hierarchies first."""
        out = [os.path.join(m, self.path[1:]) for m in self.layout.v1_mounts()]
        if self._v2:
            out.append(self._v2)
        return out

    def _dir(self, controller: str) -> tuple[str, str] | None:
        """("v1"|"v2", directory) holding a controller's files, None if the host lacks it."""
        w = self.layout.where(controller)
        if w is None:
            return None
        return (w[0], self._v1[controller]) if w[0] == "v1" else ("v2", self._v2)

    def _freezer(self) -> tuple[str, str] | None:
        d = self._dir("freezer")
        if d:
            return "v1", os.path.join(d[1], "freezer.state")
        if self._v2 and os.path.exists(os.path.join(self._v2, "cgroup.freeze")):
            return "v2", self._v2      # the v2 freezer is part of the core, no controller
        return None

    @property
    def devices_enforced(self) -> bool:
        """Whether device rules are enforced: v1 devices controller. On v2 that needs an
        eBPF program, which dockyard does not load."""
        return self.layout.where("devices") is not None and self.layout.where("devices")[0] == "v1"

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs())

    def _missing(self, what: str, err: OSError) -> DockyardError:
        if isinstance(err, FileNotFoundError) and not self.exists():
            return DockyardError(f"cgroup {self.path} does not exist")
        return DockyardError(f"cgroup {self.path}: cannot {what}: {err.filename or ''}: {err.strerror}")

    # -- making and opening

    @classmethod
    def open(cls, path: str, layout: Layout | None = None) -> "Cgroup":
        """An existing cgroup; limits are left as they are."""
        cg = cls(path, layout)
        if not cg.exists():
            raise DockyardError(f"cgroup {path} does not exist")
        return cg

    @classmethod
    def create(cls, path: str, resources: dict | None = None, layout: Layout | None = None) -> "Cgroup":
        """Make the cgroup in every hierarchy we use and apply `resources` (OCI
        linux.resources). On any error whatever this call made is removed again. An
        existing cgroup of that path is reused (a container started again)."""
        check_resources(resources)
        cg = cls(path, layout)
        lay = cg.layout
        if lay.mode == "none":
            raise DockyardError("this host has no cgroup hierarchies mounted (see /proc/self/mountinfo)")
        made: list[str] = []
        try:
            for m in lay.v1_mounts():
                cg._mkdir(m, made)
            if cg._v2:
                try:
                    cg._mkdir(lay.v2, made)
                except DockyardError:
                    if lay.v2_required():
                        raise
                    cg._v2 = None        # hybrid host, v2 holds nothing we need: go without
                if cg._v2 and lay.v2_required():
                    cg._enable_v2_controllers()
            cg._apply(resources or {}, creating=True)
        except BaseException:
            for d in reversed(made):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise
        return cg

    def _mkdir(self, mount: str, made: list[str]) -> None:
        """mkdir -p of our path under one hierarchy; records the leaf if this call made it
        (parents such as /dockyard are shared by every container and stay)."""
        d = mount
        parts = self.path[1:].split("/")
        for i, part in enumerate(parts):
            d = os.path.join(d, part)
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                continue
            except OSError as e:
                raise DockyardError(f"cannot make cgroup {d}: {e.strerror}") from e
            if i == len(parts) - 1:
                made.append(d)

    def _enable_v2_controllers(self) -> None:
        """Enable +memory +cpu +pids +io (those the host has) from the v2 root down to our
        parent, so our cgroup gets their files."""
        d = self.layout.v2
        for part in self.path[1:].split("/"):
            try:
                avail = set(_read(os.path.join(d, "cgroup.controllers")).split())
                on = set(_read(os.path.join(d, "cgroup.subtree_control")).split())
            except OSError as e:
                raise DockyardError(f"cannot read cgroup controllers of {d}: {e.strerror}") from e
            want = [c for c in V2_USED if c in avail and c not in on]
            if want:
                f = os.path.join(d, "cgroup.subtree_control")
                value = " ".join("+" + c for c in want)
                try:
                    _write(f, value)
                except OSError as e:
                    hint = " (the cgroup has processes of its own: v2 allows controllers only " \
                           "for cgroups without)" if e.errno == errno.EBUSY else ""
                    raise DockyardError(f"cannot enable cgroup controllers {value} in {f}: "
                                        f"{e.strerror}{hint}") from e
            d = os.path.join(d, part)

    def update(self, resources: dict) -> None:
        """Change limits of an existing cgroup (docker update)."""
        check_resources(resources)
        self._apply(resources or {}, creating=False)

    def _apply(self, res: dict, creating: bool) -> None:
        writes: list[tuple[str, str, str]] = []     # (full path, value, what)

        def need(controller: str, what: str) -> tuple[str, str]:
            d = self._dir(controller)
            if d is None:
                raise DockyardError(f"cannot set {what}: this host has no {controller} cgroup controller")
            return d

        mem = res.get("memory") or {}
        mem = {k: v for k, v in mem.items() if v}
        if mem.get("limit") or mem.get("swap") or mem.get("reservation"):
            ver, d = need("memory", "a memory limit")
            if ver == "v2":
                swap_file = os.path.exists(os.path.join(d, "memory.swap.max"))
                cur = None
            else:
                f = os.path.join(d, "memory.memsw.limit_in_bytes")
                swap_file = os.path.exists(f)
                try:
                    cur = int(_read(f)) if swap_file else None
                except OSError as e:
                    raise self._missing("read the memory+swap limit", e) from e
            writes += [(os.path.join(d, f), v, w) for f, v, w in _memory_writes(mem, ver == "v2", swap_file, cur)]
        cpu = {k: v for k, v in (res.get("cpu") or {}).items() if v}
        if cpu.get("shares") or cpu.get("quota") or cpu.get("period"):
            ver, d = need("cpu", "a cpu limit")
            writes += [(os.path.join(d, f), v, w) for f, v, w in _cpu_writes(cpu, ver == "v2")]
        pw = _pids_writes(res.get("pids") or {})
        if pw:
            ver, d = need("pids", "a pids limit")
            writes += [(os.path.join(d, f), v, w) for f, v, w in pw]
        if res.get("devices") and self.devices_enforced:
            d = self._v1["devices"]
            writes += [(os.path.join(d, f), v, "device rule") for f, v in map(_device_rule, res["devices"])]
        for f, v, what in writes:
            try:
                _write(f, v)
            except OSError as e:
                raise DockyardError(f"cannot set {what} {_shown(what, v)}: {f}: {e.strerror}") from e

    # -- processes

    def add(self, pid: int) -> None:
        """Move a process into the cgroup in every hierarchy."""
        req_v2 = self.layout.v2_required()
        for d in self.dirs():
            if d == self._v2 and not req_v2 and not os.path.isdir(d):
                continue
            try:
                _write(os.path.join(d, "cgroup.procs"), str(int(pid)))
            except OSError as e:
                if e.errno == errno.ESRCH:
                    raise DockyardError(f"cannot move process {pid} into cgroup {self.path}: no such process") from e
                raise DockyardError(f"cannot move process {pid} into cgroup {d}: {e.strerror}") from e

    def _procs_files(self) -> list[str]:
        """cgroup.procs of this cgroup and every cgroup below it, in every hierarchy."""
        out = []
        for d in self.dirs():
            for top, subdirs, _ in os.walk(d):
                out.append(os.path.join(top, "cgroup.procs"))
        return out

    def pids(self) -> list[int]:
        """Processes in the cgroup (and cgroups below it), in any hierarchy."""
        found: set[int] = set()
        for f in self._procs_files():
            try:
                found.update(int(x) for x in _read(f).split())
            except OSError:
                pass
        return sorted(found)

    # -- freezer

    def state(self) -> str:
        """"frozen", "thawed", or (while processes are being stopped) "freezing"."""
        fz = self._freezer()
        if fz is None:
            return "thawed"
        ver, f = fz
        try:
            if ver == "v1":
                return _read(f).strip().lower()
            if _kv(_read(os.path.join(f, "cgroup.events"))).get("frozen") == 1:
                return "frozen"
            return "freezing" if _read(os.path.join(f, "cgroup.freeze")).strip() == "1" else "thawed"
        except OSError as e:
            raise self._missing("read the freezer state", e) from e

    def freeze(self, timeout: float = 5.0) -> None:
        """Stop every process; returns once all are stopped. On timeout the cgroup is
        thawed again and DockyardError raised."""
        fz = self._freezer()
        if fz is None:
            raise DockyardError(f"cannot freeze cgroup {self.path}: this host has no freezer")
        ver, f = fz
        deadline = time.monotonic() + timeout
        delay = 0.0005
        try:
            if ver == "v1":
                _write(f, "FROZEN")
                kicked = time.monotonic()
                while _read(f).strip() != "FROZEN":
                    now = time.monotonic()
                    if now >= deadline:
                        _write(f, "THAWED")
                        raise DockyardError(f"cannot freeze cgroup {self.path}: processes did not stop "
                                            f"within {timeout:g}s")
                    if now - kicked > 0.5:   # stuck: thaw and try again, as runc does
                        _write(f, "THAWED")
                        kicked = now
                    _write(f, "FROZEN")
                    time.sleep(delay)
                    delay = min(delay * 2, 0.02)
            else:
                _write(os.path.join(f, "cgroup.freeze"), "1")
                while _kv(_read(os.path.join(f, "cgroup.events"))).get("frozen") != 1:
                    if time.monotonic() >= deadline:
                        _write(os.path.join(f, "cgroup.freeze"), "0")
                        raise DockyardError(f"cannot freeze cgroup {self.path}: processes did not stop "
                                            f"within {timeout:g}s")
                    time.sleep(delay)
                    delay = min(delay * 2, 0.02)
        except OSError as e:
            raise self._missing("freeze", e) from e

    def thaw(self, timeout: float = 5.0) -> None:
        fz = self._freezer()
        if fz is None:
            return
        ver, f = fz
        deadline = time.monotonic() + timeout
        try:
            if ver == "v1":
                _write(f, "THAWED")
                while _read(f).strip() != "THAWED" and time.monotonic() < deadline:
                    time.sleep(0.002)
                    _write(f, "THAWED")
            else:
                _write(os.path.join(f, "cgroup.freeze"), "0")
                while _kv(_read(os.path.join(f, "cgroup.events"))).get("frozen") == 1 \
                        and time.monotonic() < deadline:
                    time.sleep(0.002)
        except OSError as e:
            raise self._missing("thaw", e) from e

    # -- numbers

    def stats(self) -> dict:
        """cpu_usage_ns, memory_usage, memory_limit (None: unlimited), memory_cache,
        pids_current, pids_limit (None: unlimited), blkio_read_bytes, blkio_write_bytes.
        A value the host cannot give is None."""
        if not self.exists():
            raise DockyardError(f"cgroup {self.path} does not exist")
        s: dict = dict.fromkeys(("cpu_usage_ns", "memory_usage", "memory_limit", "memory_cache",
                                 "pids_current", "pids_limit", "blkio_read_bytes", "blkio_write_bytes"))

        def rd(d: str, name: str) -> str | None:
            try:
                return _read(os.path.join(d, name))
            except OSError:
                return None

        d = self._dir("cpuacct")
        if d and d[0] == "v1":
            t = rd(d[1], "cpuacct.usage")
            s["cpu_usage_ns"] = int(t) if t else None
        elif self._v2:
            t = rd(self._v2, "cpu.stat")      # a core file on v2, with or without the cpu controller
            if t and "usage_usec" in t:
                s["cpu_usage_ns"] = _kv(t)["usage_usec"] * 1000
        d = self._dir("memory")
        if d:
            v1 = d[0] == "v1"
            t = rd(d[1], "memory.usage_in_bytes" if v1 else "memory.current")
            s["memory_usage"] = int(t) if t else None
            t = rd(d[1], "memory.limit_in_bytes" if v1 else "memory.max")
            s["memory_limit"] = _limit(t) if t else None
            t = rd(d[1], "memory.stat")
            if t:
                kv = _kv(t)
                s["memory_cache"] = kv.get("total_cache", kv.get("cache")) if v1 else kv.get("file")
        d = self._dir("pids")
        if d:
            t = rd(d[1], "pids.current")
            s["pids_current"] = int(t) if t else None
            t = rd(d[1], "pids.max")
            s["pids_limit"] = _limit(t) if t else None
        else:
            s["pids_current"] = len(self.pids())
        d = self._dir("blkio") or self._dir("io")
        if d and d[0] == "v1":
            got = None
            for name in ("blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive",
                         "blkio.throttle.io_service_bytes", "blkio.bfq.io_service_bytes_recursive"):
                t = rd(d[1], name)
                if t is None:
                    continue
                r, w, seen = parse_blkio(t)
                if got is None or seen:
                    got = (r, w)
                if seen:
                    break
            if got:
                s["blkio_read_bytes"], s["blkio_write_bytes"] = got
        elif d:
            t = rd(d[1], "io.stat")
            if t is not None:
                s["blkio_read_bytes"], s["blkio_write_bytes"] = parse_io_stat(t)
        return s

    def oom_kills(self) -> int:
        """How many processes the kernel killed for running out of this cgroup's memory."""
        d = self._dir("memory")
        if not d:
            return 0
        name = "memory.oom_control" if d[0] == "v1" else "memory.events"
        try:
            return _kv(_read(os.path.join(d[1], name))).get("oom_kill", 0)
        except OSError as e:
            raise self._missing("read the OOM count", e) from e

    # -- ending

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to every process in the cgroup (and below). The cgroup is frozen
        meanwhile so nothing forks past the signal; a frozen cgroup stays frozen, except
        that SIGKILL thaws it (a v1-frozen process dies only once thawed)."""
        if sig == signal.SIGKILL and self._v2:
            try:
                _write(os.path.join(self._v2, "cgroup.kill"), "1")   # kernel 5.14+, whole subtree
            except OSError:
                pass
        was = self.state() if self._freezer() and self.exists() else "thawed"
        froze = False
        if was == "thawed" and self.pids():
            try:
                self.freeze(timeout=1.0)
                froze = True
            except DockyardError:
                pass          # stuck in the kernel: signal anyway
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if froze or (sig == signal.SIGKILL and was != "thawed"):
                try:
                    self.thaw()
                except DockyardError:
                    pass

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill what is left, thaw, and remove the cgroup (and any below it) from every
        hierarchy. Idempotent: missing directories are fine. Raises DockyardError if it is
        still busy after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        if not self.exists():
            return
        delay = 0.005
        while True:
            pids = self.pids()
            if not pids:
                break
            self.kill_all(signal.SIGKILL)
            if time.monotonic() >= deadline:
                raise DockyardError(f"cannot remove cgroup {self.path}: processes {pids} did not die "
                                    f"within {timeout:g}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        if self._freezer() and self.exists():
            try:
                if self.state() != "thawed":
                    self.thaw()
            except DockyardError:
                pass
        while True:
            busy = []
            for d in self.dirs():
                subdirs = [top for top, _, _ in os.walk(d)]
                for sd in reversed(subdirs):           # deepest first
                    try:
                        os.rmdir(sd)
                    except FileNotFoundError:
                        pass
                    except OSError as e:
                        if e.errno not in (errno.EBUSY, errno.ENOTEMPTY, errno.EAGAIN):
                            raise DockyardError(f"cannot remove cgroup {sd}: {e.strerror}") from e
                        busy.append(sd)
            if not busy:
                return
            if time.monotonic() >= deadline:
                raise DockyardError(f"cannot remove cgroup {self.path}: still busy: {', '.join(busy)}")
            if self.pids():
                self.kill_all(signal.SIGKILL)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def leftover_cgroups(prefix: str = PREFIX, layout: Layout | None = None) -> list[str]:
    """Every cgroup directory under `prefix` (not the prefix itself) in any hierarchy of
    the host, as full paths (/sys/fs/cgroup/memory/dockyard/<id>): for leak checks."""
    _check_path(prefix)
    lay = layout or detect()
    mounts = sorted(set(lay.v1.values()))
    if lay.v2:
        mounts.append(lay.v2)
    out = []
    for m in mounts:
        top = os.path.join(m, prefix[1:])
        for d, _, _ in os.walk(top):
            if d != top:
                out.append(d)
    return sorted(out)
