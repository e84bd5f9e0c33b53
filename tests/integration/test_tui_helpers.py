"""Helpers for the TUI tests (no tests here): waiting on the app and the engine, deterministic
images (fixed configs, so fixed ids), and cleaning up containers."""
import asyncio
import hashlib
import io
import json
import tarfile
import time

from tests.integration.test_images import rootfs_tar

# A command that stops at once on SIGTERM (a shell as pid 1 ignores it otherwise).
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
CHATTY = ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done"]


async def until(pilot, cond, timeout: float = 15.0, what: str = "condition"):
    """Lets the app run until cond() is true."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:   # not there yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def status(engine, ref) -> str | None:
    try:
        return engine.container(ref).status
    except Exception:
        return None


def remove_all_containers(engine) -> None:
    for c in engine.containers(all=True):
        try:
            engine.remove_container(c.id, force=True)
        except Exception:
            pass


def layer_tar(files: dict[str, bytes | None], mtime: int = 1_700_000_000) -> bytes:
    """A layer: files (None: a whiteout removing that path)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for name in files:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(ti)
        for name, data in files.items():
            if data is None:
                head, _, base = name.rpartition("/")
                ti = tarfile.TarInfo((head + "/" if head else "") + ".wh." + base)
                ti.size, ti.mtime = 0, mtime
                tar.addfile(ti, io.BytesIO(b""))
                continue
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), mtime, 0o644
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(images: list[tuple[str, list[tuple[str, bytes]], str]]) -> bytes:
    """A docker-archive (docker save) of images [(repo:tag, [(created_by, layer tar)], created)]
    with fixed configs: the same input gives the same image ids, every time."""
    buf = io.BytesIO()
    manifest = []
    written = set()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name, data):
            if name in written:
                return
            written.add(name)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(ti, io.BytesIO(data))
        for repo_tag, layers, created in images:
            diff_ids, names = [], []
            for _, data in layers:
                h = hashlib.sha256(data).hexdigest()
                diff_ids.append("sha256:" + h)
                names.append(f"{h}/layer.tar")
                add(f"{h}/layer.tar", data)
            config = {"architecture": "amd64", "os": "linux", "created": created,
                      "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids},
                      "history": [{"created": created, "created_by": by} for by, _ in layers]}
            cfg = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
            cname = hashlib.sha256(cfg).hexdigest() + ".json"
            add(cname, cfg)
            manifest.append({"Config": cname, "RepoTags": [repo_tag] if repo_tag else None, "Layers": names})
        add("manifest.json", json.dumps(manifest).encode())
    return buf.getvalue()


def sample_images() -> bytes:
    """Three small images sharing a base layer; the second rewrites and removes
    files (so its layer tree has M and R marks and wasted space)."""
    base = layer_tar({"bin/tool": b"#!/bin/sh\necho tool\n" * 40, "etc/config": b"a=1\n" * 100,
                      "etc/motd": b"welcome\n", "usr/share/doc/readme": b"read me\n" * 300})
    app = layer_tar({"app/main.py": b"print('hello')\n" * 50, "etc/config": b"a=2\n" * 120, "etc/motd": None})
    extra = layer_tar({"app/data.bin": bytes(range(256)) * 64})
    return docker_archive([
        ("example.com/base:1.0", [("/bin/sh -c #(nop) ADD file:base in /", base)], "2024-01-02T03:04:05Z"),
        ("example.com/app:2.1", [("/bin/sh -c #(nop) ADD file:base in /", base),
                                 ("/bin/sh -c #(nop) COPY app /app && rm /etc/motd", app)], "2024-03-04T05:06:07Z"),
        ("example.com/app:latest", [("/bin/sh -c #(nop) ADD file:base in /", base),
                                    ("/bin/sh -c #(nop) COPY app /app && rm /etc/motd", app),
                                    ("/bin/sh -c #(nop) COPY data.bin /app/", extra)], "2024-05-06T07:08:09Z"),
    ])


def run(coro):
    return asyncio.run(coro)


__all__ = ["SLEEPER", "CHATTY", "until", "status", "remove_all_containers", "layer_tar", "docker_archive",
           "sample_images", "rootfs_tar", "run"]
