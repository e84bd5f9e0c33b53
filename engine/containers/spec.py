"""A container's OCI runtime spec (config.json), built the way Docker builds
it: Docker's default capabilities, mounts, masked and read-only paths, device
rules and seccomp profile, the image's config combined with the run options.
The same bundle can be run by runc to compare behaviour (mount the overlay
named in the annotations at rootfs/ first)."""
import os
import shlex

from ..errors import InvalidArgument
from .options import RunOptions

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                "CAP_KILL", "CAP_AUDIT_WRITE"]
ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
            "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE"]

MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
    # runc's always-appended rules
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
]

# Device nodes made in the container's /dev (path, type, major, minor).
DEVICES = [("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
           ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0)]

ANN_LOWER = "org.dockyard.overlay.lowerdir"
ANN_UPPER = "org.dockyard.overlay.upperdir"
ANN_WORK = "org.dockyard.overlay.workdir"
ANN_INIT = "org.dockyard.init"


def default_mounts(privileged: bool, read_only_sys: bool = True) -> list[dict]:
    sys_opts = ["nosuid", "noexec", "nodev"] + (["ro"] if read_only_sys and not privileged else ["rw"])
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"] if not privileged else ["rw", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    ]


def command_line(image_cfg: dict, opts: RunOptions) -> list[str]:
    """ENTRYPOINT and CMD combined as docker does: --entrypoint replaces the
    image's and drops its CMD; arguments replace CMD."""
    if opts.entrypoint is not None:
        entry = [a for a in opts.entrypoint if a != ""] if opts.entrypoint != [""] else []
        cmd = opts.command or []
    else:
        entry = image_cfg.get("Entrypoint") or []
        cmd = opts.command if opts.command else (image_cfg.get("Cmd") or [])
    args = list(entry) + list(cmd)
    if not args:
        raise InvalidArgument("no command specified: the image has no CMD or ENTRYPOINT; give one after the image name")
    return args


def environment(image_cfg: dict, opts: RunOptions, hostname: str) -> list[str]:
    env: dict[str, str] = {}

    def put(item: str, where: str) -> None:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable {item!r} in {where}")
        if not eq:
            if key in os.environ:  # `-e VAR` passes the caller's value, as docker does
                env[key] = os.environ[key]
            return
        env[key] = value

    env["PATH"] = DEFAULT_PATH
    env["HOSTNAME"] = hostname
    for item in image_cfg.get("Env") or []:
        put(item, "the image config")
    for path in opts.env_files:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise InvalidArgument(f"cannot read env file {path}: {e.strerror}") from None
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                put(line, f"{path}:{n}")
    for item in opts.env:
        put(item, "-e")
    if opts.tty and "TERM" not in env:
        env["TERM"] = "xterm"
    return [f"{k}={v}" for k, v in env.items()]


def host_capabilities() -> list[str]:
    """The capabilities this process may hand on (its bounding set): --privileged
    gets all of these, as docker gives all the daemon has."""
    from ..runtime.caps import CAPS
    try:
        with open("/proc/self/status") as f:
            bnd = next(int(l.split()[1], 16) for l in f if l.startswith("CapBnd:"))
    except (OSError, StopIteration, ValueError):
        return list(ALL_CAPS)
    return [c for c in ALL_CAPS if bnd & (1 << CAPS[c])]


def capabilities(opts: RunOptions) -> list[str]:
    if opts.privileged:
        return host_capabilities()

    def norm(c: str) -> str:
        c = c.upper()
        return c if c.startswith("CAP_") or c == "ALL" else "CAP_" + c

    caps = list(DEFAULT_CAPS)
    drops = [norm(c) for c in opts.cap_drop]
    adds = [norm(c) for c in opts.cap_add]
    for c in drops + adds:
        if c != "ALL" and c not in ALL_CAPS:
            raise InvalidArgument(f"unknown capability: {c!r}")
    if "ALL" in drops:
        caps = []
    caps = [c for c in caps if c not in drops]
    if "ALL" in adds:
        caps = host_capabilities()
    for c in adds:
        if c != "ALL" and c not in caps:
            caps.append(c)
    return caps


def parse_volume(spec: str) -> tuple[str, str, list[str]]:
    """-v SRC:DST[:OPTS] → (source, destination, options). A source that is not a
    path is a named volume (resolved by the caller)."""
    parts = spec.split(":")
    if len(parts) == 2:
        src, dst, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        src, dst, mode = parts
    else:
        raise InvalidArgument(f"invalid volume specification: {spec!r} (use SRC:DST[:ro])")
    if not dst.startswith("/"):
        raise InvalidArgument(f"invalid volume specification: {spec!r}: the destination must be an absolute path")
    opts = [o for o in mode.split(",") if o]
    for o in opts:
        if o not in ("ro", "rw", "z", "Z", "nocopy", "rshared", "rslave", "rprivate", "shared", "slave", "private"):
            raise InvalidArgument(f"invalid volume specification: {spec!r}: unknown option {o!r}")
    return src, os.path.normpath(dst), opts


def parse_tmpfs(spec: str) -> dict:
    dst, _, extra = spec.partition(":")
    if not dst.startswith("/"):
        raise InvalidArgument(f"invalid --tmpfs {spec!r}: the destination must be an absolute path")
    options = ["nosuid", "nodev", "noexec"] + [o for o in extra.split(",") if o]
    return {"destination": os.path.normpath(dst), "type": "tmpfs", "source": "tmpfs", "options": options}


def build_spec(*, container_id: str, image_cfg: dict, opts: RunOptions, user: dict, hostname: str,
               lowerdirs: list[str], upperdir: str, workdir: str, binds: list[dict], seccomp: dict | None,
               cgroups_path: str, netns_path: str | None = None) -> dict:
    args = command_line(image_cfg, opts)
    caps = capabilities(opts)
    nnp = False
    for so in opts.security_opt:
        if so in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            nnp = True
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if opts.network == "none":
        namespaces.append({"type": "network"})
    elif opts.network != "host":
        # the default bridge or a user network: made and bound there by engine/network before each start
        namespaces.append({"type": "network", "path": netns_path})
    mounts = default_mounts(opts.privileged)
    mounts += binds
    mounts += [parse_tmpfs(t) for t in opts.tmpfs]
    resources: dict = {"devices": DEVICE_RULES if not opts.privileged else [{"allow": True, "access": "rwm"}]}
    if opts.memory is not None:
        resources["memory"] = {"limit": opts.memory}
    if opts.cpus is not None:
        if opts.cpus <= 0:
            raise InvalidArgument(f"invalid --cpus {opts.cpus}: must be more than 0")
        resources["cpu"] = {"quota": int(opts.cpus * 100000), "period": 100000}
    if opts.pids_limit is not None and opts.pids_limit > 0:
        resources["pids"] = {"limit": opts.pids_limit}
    linux = {
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": cgroups_path,
        "maskedPaths": [] if opts.privileged else list(MASKED_PATHS),
        "readonlyPaths": [] if opts.privileged else list(READONLY_PATHS),
        "devices": [] if opts.privileged else [
            {"path": p, "type": t, "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
            for p, t, ma, mi in DEVICES],
    }
    if opts.network != "host":
        linux["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
    if seccomp is not None and not opts.privileged:
        linux["seccomp"] = seccomp
    cwd = opts.workdir or image_cfg.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"the working directory {cwd!r} is invalid: it needs to be an absolute path")
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": opts.tty,
            "user": user,
            "args": args,
            "env": environment(image_cfg, opts, hostname),
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps if user.get("uid", 0) == 0 else [],
                             "permitted": caps if user.get("uid", 0) == 0 else [], "inheritable": [], "ambient": []},
            "noNewPrivileges": nnp,
        },
        "root": {"path": "rootfs", "readonly": opts.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": {
            ANN_LOWER: ":".join(lowerdirs),
            ANN_UPPER: upperdir,
            ANN_WORK: workdir,
            ANN_INIT: "true" if opts.init else "false",
            "org.dockyard.command": shlex.join(args),
        },
    }
