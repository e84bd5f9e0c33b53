"""-u USER[:GROUP] resolved as docker does, from the image's /etc/passwd and
/etc/group (read from the layers, top first, honouring whiteouts)."""
import os
import stat

from ..errors import InvalidArgument


def read_from_layers(lowerdirs_top_first: list[str], path: str) -> str | None:
    """The text of a file as the merged view shows it, or None."""
    rel = path.lstrip("/")
    for layer in lowerdirs_top_first:
        full = os.path.join(layer, rel)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            # An opaque parent hides everything below; rare for /etc: ignore.
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return None  # whiteout: deleted in this layer
        if not stat.S_ISREG(st.st_mode):
            return None
        with open(full, encoding="utf-8", errors="replace") as f:
            return f.read()
    return None


def _table(text: str | None) -> list[list[str]]:
    return [line.split(":") for line in (text or "").splitlines() if line and not line.startswith("#")]


def resolve_user(lowerdirs_top_first: list[str], spec: str | None) -> dict:
    passwd = _table(read_from_layers(lowerdirs_top_first, "/etc/passwd"))
    groups = _table(read_from_layers(lowerdirs_top_first, "/etc/group"))
    user, _, group = (spec or "").partition(":")
    uid, gid, name = 0, 0, "root"
    if user:
        if user.isdigit():
            uid = int(user)
            match = next((p for p in passwd if len(p) > 3 and p[2] == user), None)
            gid, name = (int(match[3]), match[0]) if match else (0, None)
        else:
            match = next((p for p in passwd if p[0] == user and len(p) > 3), None)
            if not match:
                raise InvalidArgument(f"unable to find user {user}: no matching entries in passwd file")
            uid, gid, name = int(match[2]), int(match[3]), user
    else:
        match = next((p for p in passwd if len(p) > 3 and p[2] == "0"), None)
        if match:
            gid = int(match[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((g for g in groups if g[0] == group and len(g) > 2), None)
            if not g:
                raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
            gid = int(g[2])
    extra = []
    if name and not group:
        for g in groups:
            if len(g) > 3 and name in g[3].split(",") and g[2].isdigit() and int(g[2]) != gid:
                extra.append(int(g[2]))
    return {"uid": uid, "gid": gid, "additionalGids": extra}
