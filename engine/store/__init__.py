"""The store under ROOT: blobs, SQLite metadata, unpacked layers, staging."""
import os

from .blobs import BlobStore, check_digest
from .db import Database
from .fsutil import rmtree
from .layerdirs import LayerDirs
from .lock import StoreLock

DEFAULT_ROOT = "/var/lib/dockyard"


def default_root() -> str:
    return os.environ.get("DOCKYARD_ROOT") or DEFAULT_ROOT


class Store:
    def __init__(self, root: str | None = None):
        self.root = os.path.abspath(root or default_root())
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.tmp_dir = os.path.join(self.root, "tmp")
        os.makedirs(self.tmp_dir, mode=0o700, exist_ok=True)
        self.lock = StoreLock(os.path.join(self.root, "lock"))
        self.sweep_staging()
        self.blobs = BlobStore(self.root, self.tmp_dir)
        self.layers = LayerDirs(self.root, self.tmp_dir)
        os.makedirs(os.path.join(self.root, "containers"), mode=0o700, exist_ok=True)
        self.db = Database(os.path.join(self.root, "db.sqlite3"))

    def sweep_staging(self) -> bool:
        """Empty ROOT/tmp of what crashed work left, and ROOT/pulls of layer lock
        files, but only when no other process is working in this root (they hold
        the lock while they stage or pull)."""
        fd = self.lock.try_exclusive()
        if fd is None:
            return False
        try:
            for name in os.listdir(self.tmp_dir):
                path = os.path.join(self.tmp_dir, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    rmtree(path)
                else:
                    os.unlink(path)
            # Pulls take their layer locks (images/pull_locks.py) inside the shared
            # lock: with it free, none is held, and the files may go.
            pulls = os.path.join(self.root, "pulls")
            for name in os.listdir(pulls) if os.path.isdir(pulls) else ():
                os.unlink(os.path.join(pulls, name))
        finally:
            os.close(fd)
        return True

    def staging_dir(self) -> str:
        from .fsutil import staging_name
        path = staging_name(self.tmp_dir, "work")
        os.mkdir(path, 0o700)
        return path


__all__ = ["Store", "BlobStore", "Database", "LayerDirs", "StoreLock", "check_digest", "default_root", "DEFAULT_ROOT"]
