"""The Engine facade: the one door to the store, images and containers.
Blocking, thread-safe methods that return plain dataclasses."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import DockyardError

TYPE_CHECKING = False  # typing itself costs every command start 2 ms
if TYPE_CHECKING:
    from typing import BinaryIO

Progress = Callable[[str], None] | None


@dataclass
class ImageSummary:
    id: str
    tags: list[str]            # docker's familiar forms: "busybox:latest", "localhost/x:latest"
    names: list[str]           # full normalised names
    digest: str                # manifest digest
    created: str | None
    created_ts: float | None
    size: int                  # bytes of the unpacked layers
    shared_size: int           # bytes of layers other images use too
    containers: int
    layers: int
    repo_digests: list[str] = field(default_factory=list)   # "docker.io/library/busybox@sha256:…" it was pulled by

    @property
    def short_id(self) -> str:
        return self.id[7:19]

    @property
    def dangling(self) -> bool:
        return not self.tags


@dataclass
class DiskUsage:
    images: int
    images_active: int
    images_size: int
    images_reclaimable: int
    containers: int
    containers_size: int = 0
    volumes: int = 0
    build_cache: int = 0
    details: list[ImageSummary] = field(default_factory=list)


class Engine:
    def __init__(self, root: str | None = None):
        from .store import Store
        self.store = Store(root)
        self.root = self.store.root
        self._startup_collect()

    def _startup_collect(self) -> None:
        # With nobody else at work in this root, drop what interrupted work left.
        fd = self.store.lock.try_exclusive()
        if fd is None:
            from .containers.lifecycle import reconcile
            reconcile(self.store)
            return
        try:
            from .images.catalog import collect_garbage
            collect_garbage(self.store)
            from .containers.lifecycle import reconcile
            reconcile(self.store, sweep=True)
        finally:
            import os
            os.close(fd)

    def close(self) -> None:
        self.store.db.close()

    # -- images --------------------------------------------------------------
    def images(self, all: bool = False) -> list[ImageSummary]:
        """The images; without `all`, the build cache's untagged intermediate
        images are left out, as `docker images` does."""
        from .images.catalog import familiar, list_images
        records = list_images(self.store)
        if not all:
            cached = {r["image_id"] for r in self.store.db.query("SELECT image_id FROM build_cache")}
            records = [r for r in records if r.tags or r.id not in cached]
        layer_rows = {r["chain_id"]: (r["parent"], r["size"]) for r in self.store.db.query(
            "SELECT chain_id, parent, size FROM layers")}
        users: dict[str, int] = {}
        for r in self.store.db.query("SELECT image_id, COUNT(*) AS n FROM containers WHERE builder IS NULL "
                                      "GROUP BY image_id"):
            users[r["image_id"]] = r["n"]
        chains = {}
        use_count: dict[str, int] = {}
        for img in records:
            chain, layer = [], img.top_layer
            while layer:
                chain.append(layer)
                layer = layer_rows[layer][0] if layer in layer_rows else None
            chains[img.id] = chain
            for l in chain:
                use_count[l] = use_count.get(l, 0) + 1
        from .images.config import parse_time
        pulled: dict[str, list[str]] = {}
        for r in self.store.db.query("SELECT name, digest, image_id FROM repo_digests ORDER BY name"):
            pulled.setdefault(r["image_id"], []).append(f"{r['name']}@{r['digest']}")
        out = []
        for img in records:
            chain = chains[img.id]
            shared = sum(layer_rows[l][1] for l in chain if use_count[l] > 1)
            out.append(ImageSummary(img.id, [familiar(t) for t in img.tags], img.tags, img.manifest_digest,
                                    img.created, parse_time(img.created), img.size, shared,
                                    users.get(img.id, 0), len(chain), pulled.get(img.id, [])))
        return out

    def image(self, ref: str) -> ImageSummary:
        from .images.catalog import resolve
        iid = resolve(self.store, ref).id
        return next(i for i in self.images(all=True) if i.id == iid)

    def import_image(self, src: BinaryIO, ref: str | None = None, *, source_name: str = "-",
                     message: str | None = None) -> str:
        from .images.importer import import_tar
        return import_tar(self.store, src, ref, source_name=source_name, message=message)

    def ensure_starter_image(self) -> str | None:
        """Makes localhost/busybox:latest when the store has no image at all."""
        if self.store.db.query("SELECT 1 FROM images LIMIT 1"):
            return None
        from .images.starter import make_starter
        return make_starter(self.store)

    def make_starter_image(self) -> str:
        from .images.starter import make_starter
        return make_starter(self.store)

    def load(self, src: str | BinaryIO, progress: Progress = None) -> list[tuple[str, list[str]]]:
        from .images.transfer import load
        return load(self.store, src, progress)

    def pull(self, ref: str, platform: str | None = None, progress=None, *, credentials=None,
             cancel=None) -> str:
        """docker pull: `ref` (name[:tag] or name@digest) from its registry; returns
        the image id. platform: "os/arch[/variant]" for an index (default: this
        host's). progress gets engine.images.pull.PullEvent (docker's lines).
        credentials: host -> (user, password) or None; by default docker's
        config.json and its credential helpers (engine/registry/credentials.py).
        cancel: a threading.Event another thread may set (the TUI's Esc): the
        pull stops at its next read and raises (KeyboardInterrupt; a RegistryError
        "interrupted" if it was still at the manifest), leaving nothing."""
        from .images.pull import pull
        return pull(self.store, ref, platform=platform, progress=progress, credentials=credentials, cancel=cancel)

    def push(self, ref: str, progress=None, *, credentials=None, cancel=None) -> str:
        """docker push: the image tagged `ref` (name[:tag]) to its registry, its
        stored manifest and blobs as they are; returns the manifest digest (also
        recorded as a RepoDigest). progress gets engine.images.push.PushEvent.
        credentials, cancel: as pull's."""
        from .images.push import push
        return push(self.store, ref, progress, credentials=credentials, cancel=cancel)

    def local_tags(self, ref: str) -> list[str]:
        """The tags the store has for `ref`'s repository (push -a)."""
        from .images.push import local_tags
        return local_tags(self.store, ref)

    def remote_tags(self, ref: str, *, credentials=None) -> list[str]:
        """The tags a registry has for `ref`'s repository (pull -a)."""
        from .images.pull import remote_tags
        return remote_tags(ref, credentials=credentials)

    def save(self, refs: list[str], out: BinaryIO, fmt: str = "docker-archive") -> None:
        from .images.transfer import save
        save(self.store, refs, out, fmt)

    def tag(self, source: str, target: str) -> None:
        from .images.catalog import tag
        tag(self.store, source, target)

    def remove_image(self, ref: str, force: bool = False) -> list[tuple[str, str]]:
        from .images.catalog import remove
        return remove(self.store, ref, force)

    def prune_images(self, all_unused: bool = False) -> tuple[list[tuple[str, str]], int]:
        from .images.catalog import prune
        return prune(self.store, all_unused)

    def prune_build_cache(self) -> tuple[list[str], int]:
        """Forget the build cache; returns the removed intermediate images and the bytes reclaimed."""
        from .images.catalog import prune_build_cache
        return prune_build_cache(self.store)

    def inspect_image(self, ref: str) -> dict:
        from .images.catalog import resolve
        from .images.inspect import inspect_image
        return inspect_image(self.store, resolve(self.store, ref))

    def history(self, ref: str):
        from .images.catalog import resolve
        from .images.inspect import history
        return history(self.store, resolve(self.store, ref))

    def events(self, *, since: float | None = None, until: float | None = None, follow: bool = False,
               poll: float = 0.2, stop=None):
        """What happened to containers and images, as docker events tells it
        (engine/store/events.py)."""
        from .store.events import read_events
        return read_events(self.store.db, since=since, until=until, follow=follow, poll=poll, stop=stop)

    def info(self) -> dict:
        """docker info's facts (engine/info.py)."""
        from .info import system_info
        n_images = self.store.db.query("SELECT COUNT(*) AS n FROM images")[0]["n"]
        return system_info(self.store, self.containers(all=True), n_images)

    def disk_usage(self) -> DiskUsage:
        imgs = self.images(all=True)
        active = [i for i in imgs if i.containers]
        # Unique bytes: shared layers counted once.
        layers = {r["chain_id"]: r["size"] for r in self.store.db.query("SELECT chain_id, size FROM layers")}
        total = sum(layers.values())
        from .images.catalog import list_images
        used_layers = set()
        parents = {r["chain_id"]: r["parent"] for r in self.store.db.query("SELECT chain_id, parent FROM layers")}
        active_ids = {i.id for i in active}
        for rec in list_images(self.store):
            if rec.id in active_ids:
                l = rec.top_layer
                while l:
                    used_layers.add(l)
                    l = parents.get(l)
        reclaim = total - sum(layers[l] for l in used_layers if l in layers)
        n_containers = self.store.db.query("SELECT COUNT(*) AS n FROM containers WHERE builder IS NULL")[0]["n"]
        return DiskUsage(len(imgs), len(active), total, reclaim, n_containers, details=imgs)

    # -- containers ----------------------------------------------------------
    def create_container(self, opts) -> str:
        from .containers.create import create
        return create(self.store, opts)

    def start_container(self, ref: str, *, wait_attach: bool = False, tty_size=None) -> dict:
        from .containers.lifecycle import start
        return start(self.store, ref, wait_attach=wait_attach, tty_size=tty_size)

    def stop_container(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        from .containers.lifecycle import stop
        stop(self.store, ref, timeout, signal)

    def restart_container(self, ref: str, timeout: int | None = None) -> None:
        from .containers.lifecycle import restart
        restart(self.store, ref, timeout)

    def kill_container(self, ref: str, signal: str | int | None = None) -> None:
        from .containers.lifecycle import kill
        kill(self.store, ref, signal)

    def pause_container(self, ref: str) -> None:
        from .containers.lifecycle import pause
        pause(self.store, ref)

    def unpause_container(self, ref: str) -> None:
        from .containers.lifecycle import unpause
        unpause(self.store, ref)

    def wait_container(self, ref: str, timeout: float | None = None) -> int | None:
        from .containers.lifecycle import wait
        return wait(self.store, ref, timeout)

    def rename_container(self, ref: str, new_name: str) -> None:
        from .containers.lifecycle import rename
        rename(self.store, ref, new_name)

    def remove_container(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        from .containers.lifecycle import remove
        return remove(self.store, ref, force, volumes)

    def prune_containers(self) -> list[str]:
        from .containers.lifecycle import prune
        return prune(self.store)

    def containers(self, all: bool = True, sizes: bool = False):
        """The user's containers (a build's RUN containers are never listed, as in docker)."""
        from .containers.inspect import summary
        from .containers.records import all_records
        out = [summary(self.store, r, sizes) for r in all_records(self.store)]
        return out if all else [c for c in out if c.status in ("running", "paused")]

    def container(self, ref: str, sizes: bool = False):
        from .containers.inspect import summary
        from .containers.records import find
        return summary(self.store, find(self.store, ref), sizes)

    def container_dir(self, ref: str) -> str:
        from .containers.records import find
        return find(self.store, ref).dir

    def inspect_container(self, ref: str) -> dict:
        from .containers.inspect import inspect
        from .containers.records import find
        return inspect(self.store, find(self.store, ref))

    def container_ports(self, ref: str) -> list[dict]:
        """A running container's published ports: [{"host_ip", "host_port",
        "container_port", "proto"}] (none when it is not running)."""
        from .containers.lifecycle import is_running
        from .containers.records import find
        rec = find(self.store, ref)
        if not is_running(rec):
            return []
        from .network.endpoint import info
        return list((info(rec.dir) or {}).get("ports") or [])

    def logs(self, ref: str, **kw):
        from .runtime.logs import read_logs
        return read_logs(self.container_dir(ref), **kw)

    def attach(self, ref: str, *, just_started: bool = False):
        """A session on the container (engine.Session, runtime/session.py):
        connected to its monitor, not yet attached (`.attach()` asks for its
        output; `.exec()` starts a process on a session of its own).
        just_started: the container was started waiting for this client, which
        must get its result even if it already failed."""
        from .containers.lifecycle import is_running
        from .containers.records import find
        from .errors import Conflict
        rec = find(self.store, ref)
        if not just_started and not is_running(rec):
            raise Conflict(f"you cannot attach to a stopped container, start it first ({rec.name})")
        if not just_started:
            from .containers.lifecycle import refuse_if_paused
            refuse_if_paused(rec, "You cannot attach to a paused container, unpause it first")
        from .runtime.session import Session
        return Session.connect(rec.dir)

    def exec_spec(self, ref: str, args: list[str], *, env: list[str] = (), workdir: str | None = None,
                  user: str | None = None, tty: bool = False, privileged: bool = False) -> dict:
        """The OCI process for `exec`, derived from the container's own."""
        from .containers.exec import exec_process
        from .containers.lifecycle import refuse_if_paused
        from .containers.records import find
        rec = find(self.store, ref)
        refuse_if_paused(rec, f"container {ref} is paused, unpause the container before exec")
        return exec_process(self.store, rec, args, env=list(env), workdir=workdir, user=user,
                            tty=tty, privileged=privileged)

    def exec(self, ref: str, args: list[str], *, env: list[str] = (), workdir: str | None = None,
             user: str | None = None, tty: bool = False, privileged: bool = False,
             size: tuple[int, int] | None = None, stdin: bool = True, detach: bool = False):
        """`args` run in the running container: an exec session (engine.Session,
        kind "exec"); ExecError (126/127) when it cannot start."""
        process = self.exec_spec(ref, args, env=env, workdir=workdir, user=user, tty=tty, privileged=privileged)
        with self.attach(ref) as client:   # the exec has a connection of its own
            return client.exec(process, tty=tty, size=size, stdin=stdin, detach=detach)

    def stats(self, ref: str, previous=None):
        """One sample of a running container's numbers; pass the previous sample to get CPU %."""
        from .containers.lifecycle import runtime_state
        from .containers.records import find
        from .containers.stats import sample
        rec = find(self.store, ref)
        return sample(rec, runtime_state(rec).get("pid"), previous)

    def top(self, ref: str):
        from .containers.records import find
        from .containers.stats import top
        return top(self.store, find(self.store, ref))

    def copy_from_container(self, ref: str, src_path: str, dest, *, follow: bool = False,
                            archive: bool = False) -> None:
        """docker cp CONTAINER:SRC_PATH DEST: `dest` is a host path, or a writable
        binary stream that gets a tar of SRC_PATH (DEST "-"). Running or stopped."""
        from .containers.copy import copy_out
        copy_out(self.store, ref, src_path, dest, follow=follow, archive=archive)

    def copy_to_container(self, ref: str, src, dest_path: str, *, follow: bool = False,
                          archive: bool = False) -> None:
        """docker cp SRC_PATH CONTAINER:DEST_PATH: `src` is a host path, or a readable
        binary stream of a tar to extract into the directory DEST_PATH (SRC "-")."""
        from .containers.copy import copy_in
        copy_in(self.store, ref, src, dest_path, follow=follow, archive=archive)

    def volume_create(self, name: str | None = None) -> str:
        from .containers.volumes import create
        return create(self.store, name)

    def volumes(self) -> list[dict]:
        from .containers.volumes import list_volumes
        return list_volumes(self.store)

    def volume_remove(self, name: str, force: bool = False) -> None:
        from .containers.volumes import remove
        remove(self.store, name, force)

    # -- commit, diff, export, layer trees -------------------------------------
    def commit(self, ref: str, repo_tag: str | None = None, *, message: str | None = None,
               author: str | None = None, changes: list[str] | tuple = (), pause: bool = True) -> str:
        """docker commit: the container's writable layer as one new layer of a
        new image (tagged repo_tag if given). Returns the image id."""
        from .containers.commit import commit
        return commit(self.store, ref, repo_tag, message=message, author=author, changes=changes, pause=pause)

    def export_container(self, ref: str, out: BinaryIO) -> int:
        """docker export: the container's merged root as one flat tar; returns the entry count."""
        from .containers.export import export
        from .containers.records import find
        return export(self.store, find(self.store, ref), out)

    def container_diff(self, ref: str) -> list[tuple[str, str]]:
        """docker diff: [("A"|"C"|"D", "/path")], live from the writable layer."""
        from .containers.diff import docker_changes
        from .containers.records import find
        return docker_changes(self.store, find(self.store, ref))

    def container_changes(self, ref: str):
        """The writable layer in the layer model: [Change(kind A|M|R, path, type,
        size, mode, uid, gid, linkname)], live."""
        tree = self.container_tree(ref)
        return tree.layers[-1].changes

    def container_tree(self, ref: str):
        """The layer model of the container's image with its writable layer on top (live)."""
        from .containers.diff import container_tree
        from .containers.records import find
        return container_tree(self.store, find(self.store, ref))

    def layer_tree(self, image_ref: str):
        """The layer model of an image (engine.images.layertree.LayerTree): layers
        bottom-up with created_by, size and digest, each layer's A/M/R changes,
        the merged tree, dive's wasted bytes and efficiency. From the per-layer
        file indexes, so it comes back at once even for large images."""
        from .images.catalog import resolve
        from .images.layertree import image_tree
        img = resolve(self.store, image_ref)
        cache = self.__dict__.setdefault("_layer_trees", {})
        tree = cache.get(img.id)
        if tree is None:
            tree = image_tree(self.store, img)
            if len(cache) >= 4:  # images are immutable: a small cache for the TUI's pane
                cache.pop(next(iter(cache)))
            cache[img.id] = tree
        return tree

    def check(self, repair: bool = False):
        from .images.check import check
        return check(self.store, repair)

    # -- networks (engine/network/networks.py; connect: containers/networking.py)
    def network_create(self, name: str, **kw):
        """kw: subnet, gateway, internal, driver, labels. Returns its row (id, name, subnet, gateway…)."""
        from .network.networks import create
        return create(self.store, name, **kw)

    def networks(self) -> list[dict]:
        from .network.networks import listing
        return listing(self.store)

    def network_inspect(self, ref: str) -> dict:
        from .network.networks import inspect
        return inspect(self.store, ref)

    def network_remove(self, ref: str) -> str:
        from .network.networks import remove
        return remove(self.store, ref)

    def network_prune(self) -> list[str]:
        from .network.networks import prune
        return prune(self.store)

    def network_connect(self, network: str, ctr: str, ip: str | None = None, aliases: list[str] = ()) -> None:
        from .containers.networking import connect
        connect(self.store, network, ctr, ip=ip, aliases=list(aliases))

    def network_disconnect(self, network: str, ctr: str, force: bool = False) -> None:
        from .containers.networking import disconnect
        disconnect(self.store, network, ctr, force=force)

    # -- build -----------------------------------------------------------------
    def build(self, context_dir: str, dockerfile: str | None = None, tags: list[str] | tuple = (),
              build_args: dict | None = None, target: str | None = None, no_cache: bool = False,
              progress=None, network: str = "none", dockerfile_text: str | None = None, pull: bool = False) -> str:
        """docker build: the Dockerfile (`dockerfile`, a path, default CONTEXT/Dockerfile;
        or its text) built in `context_dir`; returns the image id. `progress`
        gets engine.build.builder.BuildEvent for every step (start, cached,
        output lines, done, error). A failing RUN raises BuildError with its exit code.
        pull: pull every FROM image again (docker's --pull); else only missing ones."""
        from .build.builder import build
        return build(self.store, context_dir, dockerfile=dockerfile, dockerfile_text=dockerfile_text,
                     tags=list(tags), build_args=dict(build_args or {}), target=target, no_cache=no_cache,
                     progress=progress, network=network, pull=pull)


__all__ = ["Engine", "DockyardError", "ImageSummary", "DiskUsage"]
