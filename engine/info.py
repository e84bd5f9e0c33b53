"""What `docker info` says, for dockyard: the store, the counts, the host's
kernel, cgroups and security setup, the zygote. Keys as docker's API names
them (Containers, ContainersRunning, Driver, CgroupVersion, ...), plus a few
of dockyard's own (CgroupMode, Zygote)."""
import os
import platform

from .store import Store


def version() -> str:
    try:
        from importlib.metadata import version as _v
        return _v("dockyard")
    except Exception:
        return "0.1.0"


def system_info(store: Store, containers, images: int) -> dict:
    """`containers`: the engine's summaries; `images`: how many images."""
    from .runtime import cgroups, zygote
    by = {"running": 0, "paused": 0}
    for c in containers:
        if c.status in by:
            by[c.status] += 1
    try:
        layout = cgroups.detect()
        mode = layout.mode
    except OSError:
        mode = "none"
    warnings = []
    if mode == "hybrid":
        warnings.append("WARNING: cgroups are hybrid here (v1 controllers, a v2 hierarchy beside them): "
                        "limits are set through v1")
    zyg = [pid for pid, r in zygote.zygote_roots().items() if os.path.realpath(r) == os.path.realpath(store.root)]
    return {
        "Containers": len(containers),
        "ContainersRunning": by["running"],
        "ContainersPaused": by["paused"],
        "ContainersStopped": len(containers) - by["running"] - by["paused"],
        "Images": images,
        "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", _fs_type(store.root)], ["Supports d_type", "true"],
                         ["Using metacopy", "false"], ["Using redirect_dir", "false"]],
        "DockerRootDir": store.root,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if mode == "v2" else "1",
        "CgroupMode": mode,
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "ServerVersion": version(),
        "DefaultRuntime": "dockyard",
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "LoggingDriver": "json-file",
        "Zygote": {"Pid": zyg[0]} if zyg else None,
        "Warnings": warnings,
    }


def _fs_type(path: str) -> str:
    """The file system holding `path`, by docker's names (ext4 → extfs)."""
    best, fstype = "", "unknown"
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mp = parts[1].replace("\\040", " ")
                if (real == mp or real.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                    best, fstype = mp, parts[2]
    except OSError:
        pass
    return {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs"}.get(fstype, fstype)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
