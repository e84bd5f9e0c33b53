"""A store-wide advisory lock (flock on ROOT/lock). Work that adds to the store
holds it shared; work that deletes files (rmi, prune, repair, the staging sweep)
holds it exclusive, so nothing is deleted under a load that is about to use it."""
import fcntl
import os
from contextlib import contextmanager


class StoreLock:
    def __init__(self, path: str):
        self.path = path

    @contextmanager
    def _hold(self, kind: int):
        # A new open file per holder: flock then also works between threads.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, kind)
            yield
        finally:
            os.close(fd)

    def shared(self):
        return self._hold(fcntl.LOCK_SH)

    def exclusive(self):
        return self._hold(fcntl.LOCK_EX)

    def try_exclusive(self):
        """Returns an open fd holding the lock, or None when someone else works."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd
