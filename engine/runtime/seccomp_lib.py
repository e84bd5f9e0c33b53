"""libseccomp.so.2 through ctypes (loaded on first use): a filter context
built from an OCI `linux.seccomp` object, and `load`, which installs it in the
calling process. The loading rules follow runc's libcontainer/seccomp.

Standard library only, and cheap to import: ctypes and libseccomp are loaded on
the first `_lib()`."""
import errno as _errno
import os

from ..errors import DockyardError
from .seccomp_oci import _FLAGS, _FLTATR_API_SYSRAWRC, _FLTATR_CTL_NNP, _NR_SCMP_ERROR, _action, _conditions, validate

_lib_cache = None


def _lib():
    """libseccomp.so.2 through ctypes, with prototypes set; loaded once."""
    global _lib_cache
    if _lib_cache is not None:
        return _lib_cache
    import ctypes

    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as e:
        raise DockyardError(f"seccomp: cannot load libseccomp.so.2 ({e}); install libseccomp2 "
                            f"(apt-get install libseccomp2) or run the container without seccomp") from None

    class ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    vp, u32, c_int, c_char_p = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_char_p
    protos = {
        "seccomp_init": (vp, [u32]),
        "seccomp_release": (None, [vp]),
        "seccomp_attr_set": (c_int, [vp, c_int, u32]),
        "seccomp_arch_resolve_name": (u32, [c_char_p]),
        "seccomp_arch_add": (c_int, [vp, u32]),
        "seccomp_syscall_resolve_name": (c_int, [c_char_p]),
        "seccomp_rule_add_array": (c_int, [vp, u32, c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp)]),
        "seccomp_load": (c_int, [vp]),
        "seccomp_export_bpf": (c_int, [vp, c_int]),
    }
    for name, (res, args) in protos.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    lib.ArgCmp = ArgCmp
    _lib_cache = lib
    return lib


def _rc_text(rc: int) -> str:
    return os.strerror(-rc) if rc < 0 else str(rc)


def _context(lib, oci_seccomp: dict):
    """A libseccomp filter context holding the rules (the caller releases it)."""
    validate(oci_seccomp)
    default = _action(oci_seccomp["defaultAction"], oci_seccomp.get("defaultErrnoRet"), "defaultAction")
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise DockyardError("seccomp: seccomp_init failed (kernel or libseccomp too old for the default action?)")
    try:
        # Real kernel errors instead of -ECANCELED (libseccomp >= 2.5; older ones refuse: fine).
        lib.seccomp_attr_set(ctx, _FLTATR_API_SYSRAWRC, 1)
        rc = lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 0)
        if rc < 0:
            raise DockyardError(f"seccomp: cannot turn off no_new_privs on load: {_rc_text(rc)}")
        for flag in oci_seccomp.get("flags") or []:
            rc = lib.seccomp_attr_set(ctx, _FLAGS[flag], 1)
            if rc < 0:
                raise DockyardError(f"seccomp: flag {flag} not supported here: {_rc_text(rc)}")

        for arch in oci_seccomp.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(arch[len("SCMP_ARCH_"):].lower().encode())
            if not token:
                # Unknown to this libseccomp: left out, its syscalls then hit the
                # bad-arch action (kill), which is the safe side.
                continue
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -_errno.EEXIST:
                raise DockyardError(f"seccomp: cannot add architecture {arch}: {_rc_text(rc)}")

        ArgCmp = lib.ArgCmp
        for i, call in enumerate(oci_seccomp.get("syscalls") or []):
            where = f"syscalls[{i}]"
            action = _action(call["action"], call.get("errnoRet"), where)
            if action == default:
                continue  # libseccomp refuses rules that repeat the default action; runc skips them too
            conds = _conditions(call, where)
            indexes = [c[0] for c in conds]
            if len(set(indexes)) == len(indexes):
                groups = [conds]
            else:
                # Two comparisons on one argument: libseccomp cannot AND them in one
                # rule, so (like runc) each becomes a rule of its own, ORed.
                groups = [[c] for c in conds]
            arrays = [((ArgCmp * len(g))(*[ArgCmp(*c) for c in g]), len(g)) for g in groups]
            for name in call["names"]:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # unknown to this libseccomp: skipped, as runc does
                for arr, n in arrays:
                    rc = lib.seccomp_rule_add_array(ctx, action, nr, n, arr if n else None)
                    if rc < 0:
                        raise DockyardError(f"seccomp: cannot add the rule for {name} ({where}): {_rc_text(rc)}")
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return ctx


def load(oci_seccomp: dict | None) -> None:
    """Install the filter in the calling process (and, through execve, what it runs).

    Does not set no_new_privs: the caller decides; without it the caller needs
    CAP_SYS_ADMIN. Syscall names this libseccomp does not know are skipped, as runc
    does. None (an unconfined container) installs nothing."""
    if oci_seccomp is None:
        return
    lib = _lib()
    ctx = _context(lib, oci_seccomp)
    try:
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            hint = ""
            if rc in (-_errno.EACCES, -_errno.EPERM):
                hint = " (loading a filter needs CAP_SYS_ADMIN or no_new_privs set first)"
            raise DockyardError(f"seccomp: cannot load the filter: {_rc_text(rc)}{hint}")
    finally:
        lib.seccomp_release(ctx)
