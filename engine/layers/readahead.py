"""A reader that runs its source in a thread of its own, a few chunks ahead.

Unpacking a layer is two kinds of work: fetching, hashing and decompressing
the blob (C code that lets go of the GIL: zlib, zstd, hashlib, socket reads)
and parsing the tar and creating files (Python and syscalls). In one thread
they take turns; here the first runs ahead in a thread while the caller does
the second, so on two cores a pull or load costs about the larger of the two
instead of their sum. The source is touched only by the thread until close()
has joined it."""
import io
import queue
import threading

from engine.layers.digest import CHUNK

_DEPTH = 8          # chunks in flight: 8 MiB at most
_EOF = object()


class ReadAhead(io.RawIOBase):
    def __init__(self, src, chunk: int = CHUNK, depth: int = _DEPTH):
        super().__init__()
        self._src = src
        self._chunk = chunk
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._run, name="readahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._src.read(self._chunk)
                if not data:
                    break
                self._put(data)
            self._put(_EOF)
        except BaseException as e:  # handed to the reader, raised there
            self._put(e)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if not self._buf:
            if self._done:
                return 0
            item = self._queue.get()
            if item is _EOF:
                self._done = True
                return 0
            if isinstance(item, BaseException):
                self._done = True
                raise item
            self._buf = memoryview(item)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        """Stop the thread and wait for it: after this the source is the
        caller's again (to read its tail, or to close it)."""
        if not self.closed:
            self._stop.set()
            self._thread.join()
        super().close()
