"""Transfers a few at a time (docker's 3 downloads, 5 uploads): the first
error, or Ctrl-C while waiting, sets the transport's cancel event so the
others stop at their next read or block, and is raised once all have ended
(their staging is gone before the caller sees the error)."""
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .transport import Cancelled, Transport


def run_all(calls: list[Callable[[], object]], workers: int, transport: Transport, name: str) -> list:
    """Runs `calls` on up to `workers` threads; returns their results in order."""
    results: list = [None] * len(calls)
    if not calls:
        return results
    pool = ThreadPoolExecutor(max_workers=min(workers, len(calls)), thread_name_prefix=name)
    futures = [pool.submit(call) for call in calls]
    first: BaseException | None = None
    try:
        for i, fut in enumerate(futures):
            try:
                results[i] = fut.result()
            except Cancelled:
                pass
            except Exception as e:
                if first is None:
                    first = e
                transport.cancel.set()
    except BaseException:                # Ctrl-C while waiting
        transport.cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if first is not None:
        raise first
    if transport.cancel.is_set():
        raise KeyboardInterrupt
    return results
