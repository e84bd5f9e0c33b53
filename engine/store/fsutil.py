"""Small filesystem helpers for atomic writes: every write lands by rename."""
import os


def rmtree(path: str) -> None:
    """shutil.rmtree, errors ignored; shutil is imported here, when needed
    (it loads bz2 and lzma: 3 ms of every command start)."""
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def staging_name(tmp_dir: str, prefix: str) -> str:
    # The pid in the name lets the sweep at start tell whose leftovers these are.
    return os.path.join(tmp_dir, f"{prefix}-{os.getpid()}-{os.urandom(6).hex()}")


def atomic_write(path: str, data: bytes, tmp_dir: str, mode: int = 0o644, durable: bool = True) -> None:
    """Readers see the old file or the new one, never half of it; `durable`
    also gets it to disk (not needed for files rewritten at every use)."""
    tmp = staging_name(tmp_dir, "w")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if durable:
        fsync_dir(os.path.dirname(path))


def remove_tree(path: str, tmp_dir: str) -> None:
    """Remove a directory so that no half-removed copy stays under its name:
    rename it into staging first, then delete it."""
    if not os.path.lexists(path):
        return
    doomed = staging_name(tmp_dir, "rm")
    os.rename(path, doomed)
    rmtree(doomed)
