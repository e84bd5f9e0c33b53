"""Start, stop, kill, pause, wait and remove containers. The monitor process
owns a running container; the engine talks to it through its socket and reads
its state file. Pause and unpause ask the monitor, which owns the freezer and
keeps the user's pause apart from a commit's (see protocol.py, PAUSE); stop
and remove thaw the cgroup directly (a frozen process cannot take a signal)."""
import json
import os
import signal
import time

from ..errors import Conflict, DockyardError
from ..store import Store
from ..store.events import record_event
from ..store.fsutil import atomic_write, rmtree
from . import signals
from .records import ContainerRecord, find, set_state


def runtime_state(rec: ContainerRecord) -> dict:
    """What the container is doing now: the monitor's state file, checked
    against the monitor being alive, and the freezer."""
    from ..runtime.state import settled_state
    st, alive = settled_state(rec.dir)
    if st.get("status") == "running":
        if not alive:
            st = dict(st, status="exited", exit_code=st.get("exit_code") if st.get("exit_code") is not None else 255,
                      error=st.get("error") or "the container's monitor died")
        elif _frozen(rec.id):
            st = dict(st, status="paused")
    return st


def _cgroup(cid: str):
    from ..runtime.cgroups import Cgroup
    return Cgroup.open(f"/dockyard/{cid}")


def _frozen(cid: str) -> bool:
    try:
        return _cgroup(cid).state() == "frozen"
    except (OSError, DockyardError):
        return False


def is_running(rec: ContainerRecord) -> bool:
    return runtime_state(rec).get("status") in ("running", "paused")


def _monitor_json(rec: ContainerRecord, wait_attach: bool, tty_size, poststop: list | None = None) -> None:
    opts = rec.config["options"]
    doc = {"poststop": poststop or [], "bridge": opts.get("network") not in (None, "none", "host"), "id": rec.id, "name": rec.name, "open_stdin": bool(opts.get("interactive")), "wait_attach": wait_attach,
           "autoremove": bool(opts.get("autoremove")), "log_max_size": opts.get("log_max_size", 10 << 20),
           "log_max_files": opts.get("log_max_files", 3), "tty_size": list(tty_size) if tty_size else None}
    # rewritten at every start: atomic, not durable
    atomic_write(os.path.join(rec.dir, "monitor.json"), json.dumps(doc).encode(), os.path.join(rec.dir),
                 durable=False)


def start(store: Store, ref: str, *, wait_attach: bool = False, tty_size=None) -> dict:
    from ..runtime import launcher
    rec = find(store, ref)
    st = runtime_state(rec)
    if st.get("status") in ("running", "paused"):
        return st
    _cleanup_leftovers(store, rec)
    bridge = rec.config["options"].get("network") not in (None, "none", "host")
    poststop = None
    if bridge:
        from ..network import endpoint
        poststop = endpoint.prepare(store, rec.id, rec.dir, rec.config["options"])
    try:
        _monitor_json(rec, wait_attach, tty_size, poststop)
        info = launcher.start(rec.dir)
    except BaseException as e:
        if bridge:
            endpoint.teardown(store, rec.id, rec.dir)
        if isinstance(e, DockyardError):
            set_state(store, rec.id, "exited")
        raise
    finally:
        if bridge:
            endpoint.started(store, rec.id)
    with store.db.tx() as c:
        c.execute("UPDATE containers SET state = 'running' WHERE id = ?", (rec.id,))
        record_event(c, "container", "start", rec.id, {"name": rec.name})
    return info


def _network_leftovers(store: Store, rec: ContainerRecord) -> None:
    """A bridge container's rules, veth and address, if its last run left them."""
    if os.path.exists(os.path.join(rec.dir, "network.json")):
        from ..network import endpoint
        endpoint.teardown(store, rec.id, rec.dir)


def _cleanup_leftovers(store: Store, rec: ContainerRecord) -> None:
    """What a previous run may have left: a cgroup, a stale socket, its network."""
    _network_leftovers(store, rec)
    try:
        _cgroup(rec.id).destroy()
    except (OSError, DockyardError):
        pass
    for f in ("attach.sock", "state.json"):
        try:
            os.unlink(os.path.join(rec.dir, f))
        except FileNotFoundError:
            pass
    work = os.path.join(rec.dir, "work")
    try:
        os.rmdir(work)   # overlay's work dir must be empty; a new container's is
    except FileNotFoundError:
        pass
    except OSError:
        rmtree(work)     # what an earlier run left in it
    os.mkdir(work, 0o755)


def kill(store: Store, ref: str, sig: str | int | None = None) -> None:
    rec = find(store, ref)
    if not is_running(rec):
        raise Conflict(f"cannot kill container: {rec.name}: container {rec.id[:12]} is not running")
    n = signals.parse(sig, signal.SIGKILL)
    _client_call(rec, lambda c: c.signal(n))
    with store.db.tx() as c:
        record_event(c, "container", "kill", rec.id, {"signal": n})


def _client_call(rec: ContainerRecord, fn):
    from ..runtime.client import MonitorClient
    client = MonitorClient(rec.dir)
    try:
        return fn(client)
    finally:
        client.close()


def wait(store: Store, ref: str, timeout: float | None = None) -> int | None:
    """Blocks until the container exits; returns its exit code (None on timeout).
    The monitor tells us the moment it happens; the state file is the fallback."""
    rec = find(store, ref)
    deadline = None if timeout is None else time.monotonic() + timeout
    if runtime_state(rec).get("status") in ("running", "paused"):

        from ..runtime.client import MonitorClient
        try:
            client = MonitorClient(rec.dir)
        except DockyardError:
            client = None
        if client is not None:
            try:
                client.sock.settimeout(timeout)
                client.wait()
            except TimeoutError:
                return None
            except DockyardError:
                pass
            finally:
                client.close()
    while True:
        st = runtime_state(rec)
        if st.get("status") not in ("running", "paused"):
            code = st.get("exit_code")
            return 0 if code is None else code
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def stop(store: Store, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
    rec = find(store, ref)
    if not is_running(rec):
        return  # docker: stopping a stopped container is fine
    opts = rec.config["options"]
    n = signals.parse(sig or opts.get("stop_signal"), signal.SIGTERM)
    timeout = opts.get("stop_timeout") if timeout is None else timeout
    timeout = 10 if timeout is None else timeout
    if _frozen(rec.id):
        _cgroup(rec.id).thaw()  # a frozen process cannot take a signal
    try:
        _client_call(rec, lambda c: c.signal(n))
    except DockyardError:
        pass
    if timeout >= 0 and wait(store, rec.id, timeout) is not None:
        _stopped(store, rec)
        return
    try:
        _client_call(rec, lambda c: c.signal(signal.SIGKILL))
    except DockyardError:
        pass
    wait(store, rec.id, 30)
    _stopped(store, rec)


def _stopped(store: Store, rec: ContainerRecord) -> None:
    with store.db.tx() as c:
        c.execute("UPDATE containers SET state = 'exited' WHERE id = ?", (rec.id,))
        record_event(c, "container", "stop", rec.id, {"name": rec.name})


def restart(store: Store, ref: str, timeout: int | None = None) -> None:
    stop(store, ref, timeout)
    rec = find(store, ref)
    rec.config["restart_count"] = rec.config.get("restart_count", 0) + 1
    from .records import update_config
    update_config(store, rec.id, rec.config)
    start(store, rec.id)


def pause(store: Store, ref: str) -> None:
    """docker pause: frozen until unpause, whatever commits come and go (a
    container a commit holds frozen is paused for good by this too)."""
    rec = find(store, ref)
    if not is_running(rec):
        raise Conflict(f"container {rec.id[:12]} is not running")
    _client_call(rec, lambda c: c.pause())   # "already paused" comes from the monitor
    with store.db.tx() as c:
        record_event(c, "container", "pause", rec.id)


def unpause(store: Store, ref: str) -> None:
    rec = find(store, ref)
    if runtime_state(rec).get("status") != "paused":
        raise Conflict(f"container {rec.id[:12]} is not paused")
    _client_call(rec, lambda c: c.unpause())
    with store.db.tx() as c:
        record_event(c, "container", "unpause", rec.id)


def refuse_if_paused(rec: ContainerRecord, message: str) -> None:
    """exec and attach into a frozen container would hang: they fail at once, as docker's do."""
    if runtime_state(rec).get("status") == "paused":
        raise Conflict(message)


def remove(store: Store, ref: str, force: bool = False, volumes: bool = False) -> str:
    rec = find(store, ref)
    if is_running(rec):
        if not force:
            raise Conflict(f'cannot remove container "/{rec.name}": container is running: '
                           "stop the container before removing or force remove")
        if _frozen(rec.id):
            _cgroup(rec.id).thaw()
        try:
            _client_call(rec, lambda c: c.signal(signal.SIGKILL))
        except DockyardError:
            pass
        wait(store, rec.id, 30)
    destroy(store, rec)
    return rec.id


def destroy(store: Store, rec: ContainerRecord) -> None:
    """Record first, then files: a crash in between leaves a directory the
    start-up sweep removes."""
    with store.db.tx() as c:
        c.execute("DELETE FROM containers WHERE id = ?", (rec.id,))
        record_event(c, "container", "destroy", rec.id, {"name": rec.name})
    try:
        _cgroup(rec.id).destroy()
    except (OSError, DockyardError):
        pass
    _network_leftovers(store, rec)
    rmtree(rec.dir)


def prune(store: Store) -> list[str]:
    from .records import all_records
    removed = []
    for rec in all_records(store):
        if not is_running(rec):
            destroy(store, rec)
            removed.append(rec.id)
    return removed


def rename(store: Store, ref: str, new_name: str) -> None:
    """docker rename: the name only (not the hostname), running or not."""
    import sqlite3

    from .create import check_name
    rec = find(store, ref)
    new_name = new_name.lstrip("/")
    check_name(new_name)
    if new_name == rec.name:
        raise Conflict(f'renaming a container with the same name as its current name: "{new_name}"')
    try:
        with store.db.tx() as c:
            other = c.execute("SELECT id FROM containers WHERE name = ?", (new_name,)).fetchone()
            if other:
                raise Conflict(f'the container name "/{new_name}" is already in use by container "{other[0]}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
            c.execute("UPDATE containers SET name = ? WHERE id = ?", (new_name, rec.id))
            record_event(c, "container", "rename", rec.id, {"oldName": "/" + rec.name, "name": new_name})
    except sqlite3.IntegrityError:
        raise Conflict(f'the container name "/{new_name}" is already in use') from None


def reconcile(store: Store, sweep: bool = False) -> None:
    """At engine start: containers whose monitor died are marked exited and
    their leftovers removed. With sweep (only when the caller holds the store's
    exclusive lock, so no create is half done), directories without a record go.
    The containers of builds that are gone (killed mid-RUN) are removed."""
    from .records import all_records
    known = set()
    by_build: dict[str, list[ContainerRecord]] = {}
    for rec in all_records(store, builders=True):
        known.add(rec.id)
        if rec.builder is not None:
            by_build.setdefault(rec.builder, []).append(rec)
        if rec.state not in ("running", "paused"):
            continue
        from ..runtime.state import read_state, write_state
        st = runtime_state(rec)
        if st.get("status") == "exited":
            if read_state(rec.dir).get("status") == "running":
                write_state(rec.dir, st)
            try:
                _cgroup(rec.id).destroy()
            except (OSError, DockyardError):
                pass
            _network_leftovers(store, rec)
            set_state(store, rec.id, "exited")
    _collect_dead_builds(store, by_build, sweep)
    if sweep:
        base = os.path.join(store.root, "containers")
        for name in os.listdir(base):
            if name not in known and len(name) == 64:
                rmtree(os.path.join(base, name))


def _collect_dead_builds(store: Store, by_build: dict[str, list[ContainerRecord]], sweep: bool) -> None:
    """Removes the containers of every build whose lease nobody holds (a
    build in another process keeps its own), and the leases of dead builds."""
    from . import builders
    for lease in set(by_build) | set(builders.stale_leases(store)):
        with builders.claim_dead(store, lease) as dead:
            if not dead:
                continue
            for rec in by_build.get(lease, ()):
                try:
                    remove(store, rec.id, force=True)  # a RUN still running is killed first
                except DockyardError:
                    pass
    if sweep:
        builders.sweep_unlocked_fresh(store)
