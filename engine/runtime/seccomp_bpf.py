"""Compiled seccomp filters, cached.

Building the filter through libseccomp costs ~12 ms per container, as much as
the rest of a start. The compiled BPF is the same for the same rendered
profile, so it is kept by the hash of that profile and loaded with one prctl.

Standard library only, and cheap to import: hashlib and ctypes are loaded on use."""
import os

from ..errors import DockyardError
from .seccomp_lib import _context, _lib, _rc_text
from .seccomp_oci import host_arch


def compile_bpf(oci_seccomp: dict) -> bytes:
    """The filter as the kernel takes it: sock_filter instructions."""
    lib = _lib()
    ctx = _context(lib, oci_seccomp)
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise DockyardError(f"seccomp: cannot export the filter: {_rc_text(rc)}")
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
        lib.seccomp_release(ctx)


def cached_bpf(oci_seccomp: dict, cache_dir: str) -> bytes:
    import hashlib
    # repr of the profile as loaded from config.json: the same file, the same key.
    key = hashlib.sha256(repr([oci_seccomp, host_arch(), os.uname().release]).encode()).hexdigest()
    path = os.path.join(cache_dir, key + ".bpf")
    try:
        with open(path, "rb") as f:
            prog = f.read()
        if prog and len(prog) % 8 == 0:
            return prog
    except OSError:
        pass
    prog = compile_bpf(oci_seccomp)
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(prog)
        os.rename(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs time
    return prog


def load_bpf(prog: bytes) -> None:
    """Install a compiled filter (no flags: those need the seccomp syscall)."""
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        err = ctypes.get_errno()
        raise DockyardError(f"seccomp: cannot load the filter: {os.strerror(err)}")
