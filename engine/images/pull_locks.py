"""One download per layer across processes: a pull takes an flock on
ROOT/pulls/<chain id hex>.lock while it fetches and unpacks that layer, and
records the layer's rows before letting go; a second pull wanting the same
layer waits on the lock, then finds the layer known ("Already exists").

flock goes with the process, so a pull killed with -9 leaves only an empty
file behind, which the next pull simply locks again. The files are never
removed: unlinking one that another process has open would let a third
lock a fresh file of the same name while the second still holds the old."""
import fcntl
import os
import threading
from collections.abc import Callable

POLL = 0.05   # seconds between tries while another pull holds the lock (Ctrl-C is seen between them)


class LayerLock:
    def __init__(self, root: str, chain_id: str):
        self.dir = os.path.join(root, "pulls")
        self.path = os.path.join(self.dir, chain_id.split(":", 1)[-1] + ".lock")
        self._fd: int | None = None

    def acquire(self, cancel: threading.Event, on_wait: Callable[[], None] | None = None) -> None:
        """Blocks until the lock is ours; KeyboardInterrupt-free: a set `cancel` raises Cancelled."""
        from ..registry.transport import Cancelled
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        waited = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waited and on_wait:
                        on_wait()
                    waited = True
                    if cancel.wait(POLL):
                        raise Cancelled("interrupted") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
