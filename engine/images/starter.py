"""The starter image, localhost/busybox:latest, made from the host's static
busybox (Debian's busybox-static), so there is something to run without any
registry. The tar is built in memory and is the same bytes for the same busybox,
so the image id is stable across machines."""
import io
import os
import shutil
import subprocess
import tarfile

from ..errors import NotFound
from ..store import Store
from .config import DEFAULT_PATH, timestamp
from .importer import import_tar

STARTER_REF = "localhost/busybox:latest"
_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

PASSWD = (b"root:x:0:0:root:/root:/bin/sh\n"
          b"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = b"root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n"


def find_busybox() -> str:
    for path in _CANDIDATES:
        if os.path.isfile(path) and _is_static(path):
            return path
    found = shutil.which("busybox")
    if found and _is_static(found):
        return found
    raise NotFound("no static busybox on this host: install Debian's busybox-static "
                   "(apt-get install busybox-static) to make the starter image")


def _is_static(path: str) -> bool:
    # A static ELF has no PT_INTERP program header, so it runs in an empty rootfs.
    with open(path, "rb") as f:
        head = f.read(4096)
    return head[:4] == b"\x7fELF" and b"ld-linux" not in head


def starter_tar(busybox: str) -> bytes:
    names = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    mtime = int(os.stat(busybox).st_mtime)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, kind=tarfile.DIRTYPE, mode=0o755, data=b"", link=""):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime, ti.linkname = kind, mode, mtime, link
            ti.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        dirs = {"bin", "dev", "etc", "home", "proc", "root", "sbin", "sys", "tmp", "usr", "usr/bin", "usr/sbin",
                "var", "var/tmp"}
        for d in sorted(dirs):
            add(d, mode=0o1777 if d in ("tmp", "var/tmp") else (0o700 if d == "root" else 0o755))
        with open(busybox, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
        for name in sorted(set(names)):
            if name == "bin/busybox" or "/" not in name:
                continue
            link = "busybox" if name.startswith("bin/") else "../" * name.count("/") + "bin/busybox"
            add(name, tarfile.SYMTYPE, 0o777, link=link)
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD)
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP)
    return buf.getvalue()


def make_starter(store: Store) -> str:
    busybox = find_busybox()
    data = starter_tar(busybox)
    created = timestamp(os.stat(busybox).st_mtime)
    return import_tar(store, io.BytesIO(data), STARTER_REF, source_name=f"busybox-static ({busybox})",
                      message="dockyard starter image from the host's static busybox", created=created,
                      container_config={"Env": [DEFAULT_PATH], "Cmd": ["sh"]})
