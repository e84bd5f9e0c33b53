"""docker create: a container directory with its OCI bundle, and its record.
The directory is made first and the record last, so a crash leaves at most a
directory without a record, which the engine sweeps at start."""
import dataclasses
import json
import os
import sqlite3
import time

from ..errors import Conflict, InvalidArgument
from ..images.catalog import resolve
from ..images.inspect import config_of, layer_chain
from ..network import files as netfiles
from ..store import Store
from ..store.events import record_event
from ..store.fsutil import fsync_dir, rmtree
from . import names, volumes
from . import spec as specmod
from .options import RunOptions
from .records import container_dir
from .users import resolve_user


def _init_layer(path: str) -> None:
    """Docker's per-container init layer: the mount points of the files and
    filesystems the runtime binds, kept out of the container's diff."""
    for d in ("dev/pts", "dev/shm", "proc", "sys", "etc"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    for f in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console"):
        open(os.path.join(path, f), "a").close()
    os.symlink("/proc/mounts", os.path.join(path, "etc/mtab"))


def _seccomp(opts: RunOptions, caps: list[str]) -> dict | None:
    from ..runtime import seccomp
    profile = None
    for so in opts.security_opt:
        key, _, value = so.partition("=") if "=" in so else so.partition(":")
        if key == "seccomp":
            if value == "unconfined":
                return None
            try:
                with open(value) as f:
                    profile = json.load(f)
            except (OSError, ValueError) as e:
                raise InvalidArgument(f"opening seccomp profile ({value}) failed: {e}") from None
        elif key not in ("no-new-privileges", "label", "apparmor"):
            raise InvalidArgument(f"invalid --security-opt: {so!r}")
    if profile is None:
        return seccomp.render_for_spec(set(caps))
    return seccomp.render(profile, set(caps))


def _binds(store: Store, opts: RunOptions, cdir: str) -> tuple[list[dict], list[str]]:
    mounts = [{"destination": f"/etc/{n}", "type": "bind", "source": os.path.join(cdir, n),
               "options": ["rbind", "rprivate"]} for n in ("hosts", "hostname", "resolv.conf")]
    used = []
    for v in opts.volumes:
        src, dst, vopts = specmod.parse_volume(v)
        if src.startswith("/"):
            if not os.path.exists(src):
                os.makedirs(src)  # docker creates a missing host directory
        elif src.startswith("."):
            raise InvalidArgument(f"invalid volume specification {v!r}: a host path must be absolute")
        else:
            volumes.check_name(src)
            used.append(src)
            src = volumes.ensure(store, src)
        mounts.append({"destination": dst, "type": "bind", "source": src,
                       "options": ["rbind", "ro" if "ro" in vopts else "rw", "rprivate"]})
    return mounts, used


def check_name(name: str) -> None:
    """docker's rule for container names."""
    if not name or not all(c.isascii() and (c.isalnum() or c in "_.-") for c in name) or not name[0].isalnum():
        raise InvalidArgument(f'invalid container name "{name}", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')


def _write_new(path: str, data: bytes) -> None:
    """A file of a directory nobody knows of until the database row is
    committed (a crash before leaves an orphan the start-up sweep removes):
    no rename needed, only the data on disk before that commit."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def create(store: Store, opts: RunOptions, *, builder: str | None = None) -> str:
    """`builder`: the lease of the build this is a RUN step of (containers/builders.py)."""
    with store.lock.shared():  # the start-up sweep must not take our directory for a leftover
        return _create(store, opts, builder)


def _create(store: Store, opts: RunOptions, builder: str | None = None) -> str:
    netns = None
    bridged = opts.network not in ("none", "host")
    if bridged or opts.publish or opts.publish_all or opts.ip or opts.mac_address or opts.network_alias:
        from ..network import endpoint  # (only then: it loads iptables' and the IPAM's modules)
        endpoint.check_mode(store, opts)
    extra_hosts = [netfiles.parse_add_host(h) for h in opts.add_host]
    img = resolve(store, opts.image)
    image_cfg = config_of(store, img).get("config") or {}
    if bridged:
        publish = list(opts.publish)
        if opts.publish_all:  # -P: each EXPOSEd port to a host port the kernel chooses at start
            publish += [p if "/" in p else p + "/tcp" for p in (image_cfg.get("ExposedPorts") or {})]
        opts = dataclasses.replace(opts, publish=publish, networks=[
            {"name": opts.network, "ip": opts.ip, "aliases": list(opts.network_alias), "mac": opts.mac_address}])
    cid = os.urandom(32).hex()  # what secrets.token_hex does, without loading OpenSSL
    taken = {r["name"] for r in store.db.query("SELECT name FROM containers")}
    # a build's container takes no name from the pool users see
    name = (opts.name or "").lstrip("/") or (f"build-{cid[:12]}" if builder else names.generate(taken))
    check_name(name)
    if name in taken:
        other = store.db.query("SELECT id FROM containers WHERE name = ?", (name,))[0]["id"]
        raise Conflict(f'the container name "/{name}" is already in use by container "{other}". '
                       "You have to remove (or rename) that container to be able to reuse that name.")
    cdir = container_dir(store, cid)
    if bridged:
        netns = endpoint.netns_path(store.root, cid)
    os.makedirs(cdir, mode=0o700)
    try:
        for d in ("rootfs", "upper", "work", "init"):
            os.mkdir(os.path.join(cdir, d), 0o755)
        _init_layer(os.path.join(cdir, "init"))
        layers = [l["path"] for l in layer_chain(store, img)][::-1]  # top first
        lowerdirs = [os.path.join(cdir, "init")] + layers
        hostname = opts.hostname or cid[:12]
        _write_new(os.path.join(cdir, "hostname"), (hostname + "\n").encode())
        # (a bridge container's are written again at each start, with its address and DNS)
        extra = [(n, a) for n, a in extra_hosts if a != "host-gateway"]
        _write_new(os.path.join(cdir, "hosts"), netfiles.hosts(extra=extra).encode())
        _write_new(os.path.join(cdir, "resolv.conf"), netfiles.resolv_conf(
            dns=opts.dns or None, search=opts.dns_search or None, options=opts.dns_option or None).encode())
        user = resolve_user(layers, opts.user or image_cfg.get("User"))
        binds, used_volumes = _binds(store, opts, cdir)
        caps = specmod.capabilities(opts)
        if opts.stop_signal is None and image_cfg.get("StopSignal"):
            opts = dataclasses.replace(opts, stop_signal=image_cfg["StopSignal"])
        spec = specmod.build_spec(container_id=cid, image_cfg=image_cfg, opts=opts, user=user, hostname=hostname,
                                  lowerdirs=lowerdirs, upperdir=os.path.join(cdir, "upper"),
                                  workdir=os.path.join(cdir, "work"), binds=binds,
                                  seccomp=None if opts.privileged else _seccomp(opts, caps),
                                  cgroups_path=f"/dockyard/{cid}",
                                  netns_path=netns)
        _write_new(os.path.join(cdir, "config.json"), json.dumps(spec).encode())
        fsync_dir(cdir)
        config = {"options": dataclasses.asdict(opts), "image": opts.image, "volumes": used_volumes,
                  "restart_count": 0, "command": spec["annotations"]["org.dockyard.command"]}
        now = time.time()
        try:
            with store.db.tx() as c:
                c.execute("INSERT INTO containers(id, name, image_id, created, state, config, builder) "
                          "VALUES (?,?,?,?,?,?,?)", (cid, name, img.id, now, "created", json.dumps(config), builder))
                record_event(c, "container", "create", cid, {"name": name, "image": opts.image})
        except sqlite3.IntegrityError:
            raise Conflict(f'the container name "/{name}" is already in use') from None
    except BaseException:
        rmtree(cdir)
        raise
    return cid
