"""What ps and inspect show about containers, shaped like docker's."""
import json
import os
from dataclasses import dataclass, field

from ..images.config import parse_time
from ..store import Store
from .lifecycle import runtime_state
from .records import ContainerRecord


@dataclass
class ContainerSummary:
    id: str
    name: str
    image: str                 # the reference it was created from
    image_id: str
    command: str
    created: float
    status: str                # created | running | paused | exited
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    pid: int | None
    oom_killed: bool = False
    error: str | None = None
    ports: list[str] = field(default_factory=list)
    size_rw: int | None = None
    size_root_fs: int | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]


def dir_size(path: str) -> int:
    total = 0
    seen = set()
    for dirpath, _dirs, files in os.walk(path):
        for n in files:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def summary(store: Store, rec: ContainerRecord, sizes: bool = False) -> ContainerSummary:
    st = runtime_state(rec)
    status = st.get("status", "created")
    spec_cmd = rec.config.get("command")
    if spec_cmd is None:  # a record from before the command was kept in it
        try:
            with open(os.path.join(rec.dir, "config.json")) as f:
                spec_cmd = json.load(f)["annotations"].get("org.dockyard.command", "")
        except (OSError, ValueError, KeyError):
            spec_cmd = ""
    s = ContainerSummary(rec.id, rec.name, rec.config.get("image", ""), rec.image_id, spec_cmd, rec.created, status,
                         st.get("exit_code"), parse_time(st.get("started_at")), parse_time(st.get("finished_at")),
                         st.get("pid") if status in ("running", "paused") else None, bool(st.get("oom_killed")),
                         st.get("error"))
    if sizes:
        s.size_rw = dir_size(os.path.join(rec.dir, "upper"))
        row = store.db.query("SELECT size FROM images WHERE id = ?", (rec.image_id,))
        s.size_root_fs = s.size_rw + (row[0]["size"] if row else 0)
    return s


def inspect(store: Store, rec: ContainerRecord) -> dict:
    s = summary(store, rec, sizes=False)
    with open(os.path.join(rec.dir, "config.json")) as f:
        spec = json.load(f)
    st = runtime_state(rec)
    opts = rec.config["options"]
    proc = spec["process"]
    env = proc.get("env", [])
    mounts = [{"Type": "volume" if not m["source"].startswith(rec.dir) and "/volumes/" in m["source"] else "bind",
               "Source": m["source"], "Destination": m["destination"], "RW": "ro" not in m.get("options", [])}
              for m in spec["mounts"] if m.get("type") == "bind" and not m["source"].startswith(rec.dir)]
    from ..images.config import timestamp
    return {
        "Id": rec.id,
        "Created": timestamp(rec.created),
        "Path": proc["args"][0] if proc["args"] else "",
        "Args": proc["args"][1:],
        "State": {
            "Status": s.status, "Running": s.status in ("running", "paused"), "Paused": s.status == "paused",
            "Restarting": False, "OOMKilled": s.oom_killed, "Dead": False, "Pid": s.pid or 0,
            "ExitCode": s.exit_code or 0, "Error": s.error or "",
            "StartedAt": st.get("started_at") or "0001-01-01T00:00:00Z",
            "FinishedAt": st.get("finished_at") or "0001-01-01T00:00:00Z",
        },
        "Image": rec.image_id,
        "Name": "/" + rec.name,
        "RestartCount": rec.config.get("restart_count", 0),
        "Driver": "overlay",
        "Platform": "linux",
        "LogPath": os.path.join(rec.dir, "container.log"),
        "HostConfig": {
            "NetworkMode": opts.get("network"), "AutoRemove": opts.get("autoremove"), "Privileged": opts.get("privileged"),
            "ReadonlyRootfs": opts.get("read_only"), "Init": opts.get("init"), "Memory": opts.get("memory") or 0,
            "NanoCpus": int((opts.get("cpus") or 0) * 1e9), "PidsLimit": opts.get("pids_limit"),
            "CapAdd": opts.get("cap_add") or None, "CapDrop": opts.get("cap_drop") or None,
            "SecurityOpt": opts.get("security_opt") or None, "Tmpfs": opts.get("tmpfs") or None,
            "Binds": opts.get("volumes") or None,
        },
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": spec["annotations"].get("org.dockyard.overlay.lowerdir"),
            "UpperDir": spec["annotations"].get("org.dockyard.overlay.upperdir"),
            "WorkDir": spec["annotations"].get("org.dockyard.overlay.workdir")}},
        "Mounts": mounts,
        "Config": {
            "Hostname": spec.get("hostname"), "User": opts.get("user") or "", "Tty": proc.get("terminal", False),
            "OpenStdin": opts.get("interactive"), "Env": env, "Cmd": opts.get("command"),
            "Entrypoint": opts.get("entrypoint"), "Image": rec.config.get("image"), "WorkingDir": proc.get("cwd"),
            "Labels": opts.get("labels") or {}, "StopSignal": opts.get("stop_signal"),
        },
        "NetworkSettings": network_settings(rec, opts, s.status in ("running", "paused")),
    }


def network_settings(rec: ContainerRecord, opts: dict, running: bool) -> dict:
    """docker's NetworkSettings: per network the address, gateway, MAC and
    aliases, and the published ports of a running container (network.json of
    its start); the first network's at the top level, as docker's."""
    mode = opts.get("network")
    names = [n["name"] for n in opts.get("networks") or ()] or [mode]
    doc: dict = {"Networks": {n: {} for n in names}, "Ports": {}, "IPAddress": "", "Gateway": "", "MacAddress": "",
                 "IPPrefixLen": 0}
    if mode in ("none", "host") or not running:
        return doc
    from ..network.endpoint import info
    from ..network.ports import docker_view
    net = info(rec.dir)
    if not net:
        return doc
    eps = net.get("endpoints") or ([net] if net.get("ip") else [])
    doc["Networks"] = {e["network"]: {"NetworkID": e["network_id"], "IPAddress": e["ip"],
                                      "IPPrefixLen": e["prefixlen"], "Gateway": e["gateway"],
                                      "MacAddress": e["mac"], "Aliases": e.get("aliases") or None}
                       for e in eps}
    doc["Ports"] = docker_view(net.get("ports") or [])
    if eps:
        first = eps[0]
        doc.update(IPAddress=first["ip"], Gateway=first["gateway"], MacAddress=first["mac"],
                   IPPrefixLen=first["prefixlen"])
    return doc
