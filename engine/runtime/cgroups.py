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

The parts: cgroups_layout (the host's hierarchies, our paths), cgroups_resources
(limits checked and rendered, stat files parsed), and here the driver: Cgroup, which
makes, fills, freezes, measures and removes one cgroup. Their public names are all
importable from here.

Imported by the per-container monitor process: standard library only, nothing heavy.
"""
import errno
import os
import signal
import time

from engine.errors import DockyardError

from .cgroups_layout import (
    PREFIX,
    V1_KNOWN,
    V1_USED,
    V2_USED,
    Layout,
    _check_path,
    cgroup_path_for,
    detect,
    leftover_cgroups,
    parse_mountinfo,
)
from .cgroups_resources import (
    DEFAULT_CPU_PERIOD,
    MIN_MEMORY,
    _cpu_writes,
    _device_rule,
    _kv,
    _memory_writes,
    _pids_writes,
    _shown,
    check_resources,
    cpus_to_quota,
    human_size,
    parse_blkio,
    parse_io_stat,
    shares_to_weight,
)

__all__ = ["PREFIX", "V1_KNOWN", "V1_USED", "V2_USED", "Layout", "cgroup_path_for", "detect", "leftover_cgroups",
           "parse_mountinfo", "DEFAULT_CPU_PERIOD", "MIN_MEMORY", "check_resources", "cpus_to_quota", "human_size",
           "parse_blkio", "parse_io_stat", "shares_to_weight", "Cgroup"]


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)      # cgroup files exist; never create one
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


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
            for top, _subdirs, _ in os.walk(d):
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
        A value the host cannot give is None (cgroups_stats.py)."""
        from .cgroups_stats import read_stats  # only the engine reads numbers, never a monitor
        return read_stats(self)

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
