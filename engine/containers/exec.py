"""The OCI process of `docker exec`: the container's environment, user,
capabilities and working directory, with the exec's own overrides."""
import json
import os

from ..errors import InvalidArgument
from ..store import Store
from . import spec as specmod
from .records import ContainerRecord
from .users import resolve_user


def exec_process(store: Store, rec: ContainerRecord, args: list[str], *, env: list[str], workdir: str | None,
                 user: str | None, tty: bool, privileged: bool) -> dict:
    if not args:
        raise InvalidArgument("exec needs a command")
    with open(os.path.join(rec.dir, "config.json")) as f:
        spec = json.load(f)
    proc = spec["process"]
    merged = dict(e.partition("=")[::2] for e in proc.get("env", []))
    for item in env:
        k, eq, v = item.partition("=")
        if not k:
            raise InvalidArgument(f"invalid environment variable {item!r}")
        if eq:
            merged[k] = v
        elif k in os.environ:
            merged[k] = os.environ[k]
    if tty and "TERM" not in merged:
        merged["TERM"] = "xterm"
    caps = dict(proc["capabilities"])
    u = proc["user"]
    if user:
        lowers = spec["annotations"][specmod.ANN_LOWER].split(":")
        u = resolve_user([os.path.join(rec.dir, "upper")] + lowers, user)
    if privileged:
        caps = {k: specmod.host_capabilities() for k in ("bounding", "effective", "permitted")}
        caps.update(inheritable=[], ambient=[])
    if u.get("uid", 0) != 0:
        caps = dict(caps, effective=[], permitted=[])
    return {"terminal": tty, "user": u, "args": list(args), "env": [f"{k}={v}" for k, v in merged.items()],
            "cwd": workdir or proc.get("cwd", "/"), "capabilities": caps,
            "noNewPrivileges": proc.get("noNewPrivileges", False)}
