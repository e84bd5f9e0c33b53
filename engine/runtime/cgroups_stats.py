"""A cgroup's numbers (docker stats' CPU, memory, pids and block I/O) read
from its files, on v1, v2 or hybrid hierarchies, for engine.runtime.cgroups.Cgroup."""
import os

from engine.errors import DockyardError

from .cgroups_resources import _kv, _limit, parse_blkio, parse_io_stat


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_stats(cg) -> dict:
    """cpu_usage_ns, memory_usage, memory_limit (None: unlimited), memory_cache,
    pids_current, pids_limit (None: unlimited), blkio_read_bytes, blkio_write_bytes.
    A value the host cannot give is None."""
    if not cg.exists():
        raise DockyardError(f"cgroup {cg.path} does not exist")
    s: dict = dict.fromkeys(("cpu_usage_ns", "memory_usage", "memory_limit", "memory_cache",
                             "pids_current", "pids_limit", "blkio_read_bytes", "blkio_write_bytes"))

    def rd(d: str, name: str) -> str | None:
        try:
            return _read(os.path.join(d, name))
        except OSError:
            return None

    d = cg._dir("cpuacct")
    if d and d[0] == "v1":
        t = rd(d[1], "cpuacct.usage")
        s["cpu_usage_ns"] = int(t) if t else None
    elif cg._v2:
        t = rd(cg._v2, "cpu.stat")      # a core file on v2, with or without the cpu controller
        if t and "usage_usec" in t:
            s["cpu_usage_ns"] = _kv(t)["usage_usec"] * 1000
    d = cg._dir("memory")
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
    d = cg._dir("pids")
    if d:
        t = rd(d[1], "pids.current")
        s["pids_current"] = int(t) if t else None
        t = rd(d[1], "pids.max")
        s["pids_limit"] = _limit(t) if t else None
    else:
        s["pids_current"] = len(cg.pids())
    d = cg._dir("blkio") or cg._dir("io")
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
