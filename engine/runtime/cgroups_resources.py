"""Limits (part of engine.runtime.cgroups, which see): OCI linux.resources
checked, turned into the files and values to write for v1 or v2, and the
kernel's stat files parsed. Pure functions: no file is touched here."""
from engine.errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024          # docker: "Minimum memory limit allowed is 6MB"
DEFAULT_CPU_PERIOD = 100_000          # µs, as docker --cpus uses
_UNLIMITED = 1 << 62                  # v1 reports "no limit" as 9223372036854771712 (or so)


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
