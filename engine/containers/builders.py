"""The containers a build makes for its RUN steps belong to that build, not
to the user: their row carries the build's lease id (containers.builder),
listings leave them out, and those of a build that is gone are removed when
an engine starts (lifecycle.reconcile).

A build holds its lease for its whole run: an exclusive flock on
ROOT/builds/<lease>.lock, taken before its first container is made. The
kernel drops a flock when its holder dies, however it dies (kill -9, a
closed terminal), so "the lock can be taken" means "the build is gone",
with no pid to be recycled and no clock to trust. The descriptor is
close-on-exec and monitors are not forked from the build, so no container
process keeps a lease alive."""
import fcntl
import os
from contextlib import contextmanager

from ..store import Store

SUFFIX = ".lock"


def builds_dir(store: Store) -> str:
    return os.path.join(store.root, "builds")


def _path(store: Store, lease: str) -> str:
    return os.path.join(builds_dir(store), lease + SUFFIX)


@contextmanager
def lease(store: Store):
    """Holds a new build lease while the build runs; yields its id."""
    lease_id = os.urandom(16).hex()
    os.makedirs(builds_dir(store), mode=0o700, exist_ok=True)
    path = _path(store, lease_id)
    # Locked under another name, then renamed in place: a reconcile must
    # never find the file before it is locked (it would take the build for
    # a dead one).
    fresh = path + ".new"
    fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(fresh, path)
    except BaseException:
        os.unlink(fresh)
        os.close(fd)
        raise
    try:
        yield lease_id
    finally:
        # Our containers are gone by now (the builder removes each one after
        # its step); unlink before unlock, so that nobody takes a finished
        # build for a dead one with containers to collect.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)


@contextmanager
def claim_dead(store: Store, lease_id: str):
    """Yields True, holding the lease, when its build is gone (nobody holds
    the lock, or its file is gone); False when the build is alive. A claimed
    lease's file is removed on the way out."""
    path = _path(store, lease_id) if _valid(lease_id) else None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC) if path else None
    except FileNotFoundError:
        fd = None  # a finished or collected build, or one older than leases
    if fd is None:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    finally:
        os.close(fd)


def stale_leases(store: Store) -> list[str]:
    """The lease ids of ROOT/builds/ (held or not)."""
    try:
        names = os.listdir(builds_dir(store))
    except FileNotFoundError:
        return []
    return [n[:-len(SUFFIX)] for n in names if n.endswith(SUFFIX) and _valid(n[:-len(SUFFIX)])]


def sweep_unlocked_fresh(store: Store) -> None:
    """A lease file a kill left between its creation and its rename."""
    for name in os.listdir(builds_dir(store)) if os.path.isdir(builds_dir(store)) else ():
        if name.endswith(SUFFIX + ".new"):
            path = os.path.join(builds_dir(store), name)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(path)
            except (BlockingIOError, FileNotFoundError):
                pass
            finally:
                os.close(fd)


def _valid(lease_id: str) -> bool:
    return len(lease_id) == 32 and all(c in "0123456789abcdef" for c in lease_id)
