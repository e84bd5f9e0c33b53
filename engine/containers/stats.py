"""docker stats and docker top: numbers from the cgroup files and psutil."""
import os
import time
from dataclasses import dataclass

from ..errors import Conflict
from ..store import Store
from .lifecycle import is_running
from .records import ContainerRecord


@dataclass
class Stats:
    id: str
    name: str
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    pids: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    cpu_usage_ns: int
    time: float


def _net(pid: int | None) -> tuple[int, int]:
    """Bytes received and sent on every interface but lo, as the container sees them."""
    if not pid:
        return 0, 0
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, data = line.partition(":")
                if name.strip() == "lo":
                    continue
                cols = data.split()
                rx += int(cols[0])
                tx += int(cols[8])
    except OSError:
        pass
    return rx, tx


def sample(rec: ContainerRecord, pid: int | None, previous: "Stats | None" = None) -> Stats:
    from ..runtime.cgroups import Cgroup
    cg = Cgroup.open(f"/dockyard/{rec.id}")
    s = cg.stats()
    now = time.monotonic()
    cpu_ns = s.get("cpu_usage_ns") or 0
    percent = 0.0
    if previous is not None and now > previous.time:
        # docker's figure: share of one CPU, so 200% is two CPUs busy.
        percent = max(0.0, (cpu_ns - previous.cpu_usage_ns) / ((now - previous.time) * 1e9) * 100.0)
    limit = s.get("memory_limit")
    if not limit:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    usage = max(0, (s.get("memory_usage") or 0) - (s.get("memory_cache") or 0))  # docker subtracts the page cache
    rx, tx = _net(pid)
    return Stats(rec.id, rec.name, percent, usage, limit, s.get("pids_current") or 0, rx, tx,
                 s.get("blkio_read_bytes") or 0, s.get("blkio_write_bytes") or 0, cpu_ns, now)


def top(store: Store, rec: ContainerRecord) -> tuple[list[str], list[list[str]]]:
    """ps -ef style rows for the container's processes."""
    import psutil

    from ..runtime.cgroups import Cgroup
    if not is_running(rec):
        raise Conflict(f"container {rec.id[:12]} is not running")
    headers = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    rows = []
    for pid in sorted(Cgroup.open(f"/dockyard/{rec.id}").pids()):
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                t = p.cpu_times()
                cpu = int(t.user + t.system)
                rows.append([p.username(), str(pid), str(p.ppid()), str(int(p.cpu_percent())),
                             time.strftime("%H:%M", time.localtime(p.create_time())), p.terminal() or "?",
                             f"{cpu // 3600:02d}:{cpu // 60 % 60:02d}:{cpu % 60:02d}",
                             " ".join(p.cmdline()) or f"[{p.name()}]"])
        except psutil.Error:
            continue
    return headers, rows
