"""Seccomp for containers, Docker's way.

Docker's profile format is not the runtime-spec's: its rules carry conditions
(`includes`/`excludes` on the container's capabilities, the host architecture and
the kernel version), so a profile is *rendered* per container into an OCI
`linux.seccomp` object (`render`), which the container's init process then
installs in itself just before execve (`load`, through libseccomp.so.2 and ctypes).

`seccomp_default.json` next to this file is Docker's default profile, copied
verbatim from moby/profiles seccomp/default.json @ cd3bed80
(Copyright Docker, Inc. and the Moby authors, Apache-2.0; see
https://github.com/moby/profiles). The rendering rules follow moby's
profiles/seccomp/seccomp_linux.go; the loading rules follow runc's
libcontainer/seccomp. Privileged containers get no filter at all (the caller's
decision: just do not call `load`).

Standard library only, and cheap to import: ctypes and libseccomp are loaded on
the first `load`.
"""
import errno as _errno
import os
import re
import sys

from ..errors import DockyardError, InvalidArgument

__all__ = ["default_profile", "render", "render_for_spec", "validate", "load",
           "host_arch", "host_kernel"]

PROFILE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_default.json")

# SCMP_ARCH_* name -> the names a profile's includes/excludes "arches" may use for
# it (Docker's libseccomp-golang names first; Go and uname spellings after).
# libseccomp's own name for seccomp_arch_resolve_name is the lowercased suffix.
_ARCHES = {
    "SCMP_ARCH_X86": ("x86", "386", "i386"),
    "SCMP_ARCH_X86_64": ("amd64", "x86_64"),
    "SCMP_ARCH_X32": ("x32",),
    "SCMP_ARCH_ARM": ("arm",),
    "SCMP_ARCH_AARCH64": ("arm64", "aarch64"),
    "SCMP_ARCH_MIPS": ("mips",),
    "SCMP_ARCH_MIPS64": ("mips64",),
    "SCMP_ARCH_MIPS64N32": ("mips64n32",),
    "SCMP_ARCH_MIPSEL": ("mipsel", "mipsle"),
    "SCMP_ARCH_MIPSEL64": ("mipsel64", "mips64le"),
    "SCMP_ARCH_MIPSEL64N32": ("mipsel64n32", "mips3l64n32"),
    "SCMP_ARCH_PPC": ("ppc",),
    "SCMP_ARCH_PPC64": ("ppc64",),
    "SCMP_ARCH_PPC64LE": ("ppc64le",),
    "SCMP_ARCH_S390": ("s390",),
    "SCMP_ARCH_S390X": ("s390x",),
    "SCMP_ARCH_PARISC": ("parisc",),
    "SCMP_ARCH_PARISC64": ("parisc64",),
    "SCMP_ARCH_RISCV64": ("riscv64",),
    "SCMP_ARCH_LOONGARCH64": ("loong64", "loongarch64"),
}

# Actions (seccomp.h). ERRNO and TRACE carry a 16-bit return value.
_ACT_FIXED = {
    "SCMP_ACT_KILL": 0x00000000,          # = SCMP_ACT_KILL_THREAD
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_LOG": 0x7ffc0000,
    "SCMP_ACT_ALLOW": 0x7fff0000,
}
_ACT_WITH_RET = {"SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7ff00000}

# enum scmp_compare
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

# enum scmp_filter_attr
_FLTATR_CTL_NNP = 3
_FLTATR_CTL_TSYNC = 4
_FLTATR_CTL_LOG = 6
_FLTATR_CTL_SSB = 7
_FLTATR_API_SYSRAWRC = 9

# runtime-spec linux.seccomp.flags -> libseccomp filter attribute
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": _FLTATR_CTL_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": _FLTATR_CTL_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _FLTATR_CTL_SSB,
}

_NR_SCMP_ERROR = -1
_MAX_ARGS = 6
_U64 = 1 << 64


# ---------------------------------------------------------------- host facts

def host_arch() -> str:
    """The SCMP_ARCH_* name of this machine (from uname), e.g. SCMP_ARCH_X86_64."""
    return _arch_from_machine(os.uname().machine)


def _arch_from_machine(machine: str) -> str:
    m = machine.lower()
    little = sys.byteorder == "little"
    if m in ("x86_64", "amd64"):
        return "SCMP_ARCH_X86_64"
    if re.fullmatch(r"i[3-6]86|x86|386", m):
        return "SCMP_ARCH_X86"
    if m in ("aarch64", "arm64"):
        return "SCMP_ARCH_AARCH64"
    if m.startswith("arm"):
        return "SCMP_ARCH_ARM"
    if m.startswith("mips64"):
        return "SCMP_ARCH_MIPSEL64" if little else "SCMP_ARCH_MIPS64"
    if m.startswith("mips"):
        return "SCMP_ARCH_MIPSEL" if little else "SCMP_ARCH_MIPS"
    if m == "ppc64le" or (m == "ppc64" and little):
        return "SCMP_ARCH_PPC64LE"
    if m in ("ppc64", "ppc"):
        return "SCMP_ARCH_" + m.upper()
    if m in ("s390x", "s390", "riscv64", "loongarch64", "parisc", "parisc64"):
        return "SCMP_ARCH_" + m.upper()
    raise DockyardError(f"seccomp: unsupported machine architecture {machine!r}")


def host_kernel() -> tuple[int, int]:
    """(version, major revision) of the running kernel: "6.1.0-18-amd64" -> (6, 1)."""
    release = os.uname().release
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        raise DockyardError(f"seccomp: cannot parse the kernel version {release!r}")
    return int(m.group(1)), int(m.group(2))


def _norm_arch(arch: str) -> str:
    """SCMP_ARCH_X86_64, amd64 or x86_64 -> SCMP_ARCH_X86_64."""
    if not isinstance(arch, str) or not arch:
        raise InvalidArgument(f"seccomp: invalid architecture {arch!r}")
    if arch.upper() in _ARCHES:
        return arch.upper()
    low = arch.lower()
    for name, aliases in _ARCHES.items():
        if low in aliases:
            return name
    try:
        return _arch_from_machine(arch)
    except DockyardError:
        raise InvalidArgument(f"seccomp: unknown architecture {arch!r} "
                              f"(use an SCMP_ARCH_* name such as SCMP_ARCH_X86_64)") from None


def _norm_caps(caps) -> frozenset[str]:
    if isinstance(caps, str):
        raise InvalidArgument("seccomp: caps must be a collection of names, not a string")
    out = set()
    for c in caps or ():
        if not isinstance(c, str) or not c:
            raise InvalidArgument(f"seccomp: invalid capability {c!r}")
        c = c.upper()
        out.add(c if c.startswith("CAP_") else "CAP_" + c)
    return frozenset(out)


def _parse_min_kernel(value, where: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})", value) if isinstance(value, str) else None
    if not m or (int(m.group(1)), int(m.group(2))) == (0, 0):
        raise InvalidArgument(f'seccomp profile: {where}: invalid minKernel {value!r}, expected "<kernel>.<major>" such as "4.8"')
    return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------- rendering

def default_profile() -> dict:
    """Docker's default profile (Docker's format, not yet rendered); a fresh copy each call."""
    import json
    try:
        with open(PROFILE_FILE, "rb") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DockyardError(f"seccomp: cannot read the default profile {PROFILE_FILE}: {e}") from None


def render(profile: dict, caps, arch: str | None = None,
           kernel: tuple[int, int] | None = None) -> dict | None:
    """Render a Docker-format profile for one container into an OCI `linux.seccomp`.

    An entry is kept when all its `includes` hold (the container has every listed
    cap; the host arch is listed; the kernel >= minKernel) and none of its
    `excludes` do (the container has any listed cap; the host arch is listed;
    kernel >= minKernel). `archMap` becomes `architectures`: the host arch and its
    sub-arches. `caps` are names ("CAP_SYS_ADMIN"; "SYS_ADMIN" is accepted too),
    the container's bounding set. `arch` defaults to the host's, `kernel` to the
    running kernel's (version, major). Returns None for a profile with neither a
    defaultAction nor syscalls (Docker's "seccomp disabled")."""
    if not isinstance(profile, dict):
        raise InvalidArgument("seccomp profile: must be a JSON object")
    default_action = profile.get("defaultAction") or ""
    syscalls = profile.get("syscalls") or []
    if not default_action and not syscalls:
        return None
    if not isinstance(syscalls, list):
        raise InvalidArgument("seccomp profile: syscalls must be a list")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument("seccomp profile: both 'architectures' and 'archMap' are given; use one")

    scmp_arch = _norm_arch(arch) if arch is not None else host_arch()
    arch_names = set(_ARCHES[scmp_arch])
    have = _norm_caps(caps)
    kernel_now = [tuple(kernel) if kernel is not None else None]

    def kernel_at_least(value, where):
        want = _parse_min_kernel(value, where)
        if kernel_now[0] is None:
            kernel_now[0] = host_kernel()
        return kernel_now[0] >= want

    out: dict = {"defaultAction": default_action}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]

    arches: list[str] = []
    if profile.get("archMap"):
        for entry in profile["archMap"]:
            if not isinstance(entry, dict):
                raise InvalidArgument("seccomp profile: archMap entries must be objects")
            if entry.get("architecture") == scmp_arch:
                arches = [scmp_arch, *(entry.get("subArchitectures") or [])]
                break
    else:
        arches = list(profile.get("architectures") or [])
    out["architectures"] = arches
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    for key in ("listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]

    rendered = []
    for i, call in enumerate(syscalls):
        where = f"syscalls[{i}]"
        if not isinstance(call, dict):
            raise InvalidArgument(f"seccomp profile: {where} must be an object")
        if call.get("name"):
            if call.get("names"):
                raise InvalidArgument(f"seccomp profile: {where} has both 'name' and 'names'; use 'names'")
            names = [call["name"]]
        else:
            names = call.get("names") or []
        exc = call.get("excludes") or {}
        inc = call.get("includes") or {}
        if not isinstance(exc, dict) or not isinstance(inc, dict):
            raise InvalidArgument(f"seccomp profile: {where}: includes/excludes must be objects")
        if exc.get("arches") and arch_names & set(exc["arches"]):
            continue
        if exc.get("caps") and have & set(exc["caps"]):
            continue
        if exc.get("minKernel") and kernel_at_least(exc["minKernel"], where):
            continue
        if inc.get("arches") and not arch_names & set(inc["arches"]):
            continue
        if inc.get("caps") and not set(inc["caps"]) <= have:
            continue
        if inc.get("minKernel") and not kernel_at_least(inc["minKernel"], where):
            continue
        entry = {"names": list(names), "action": call.get("action")}
        if call.get("errnoRet") is not None:
            entry["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            entry["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                             if isinstance(a, dict) else a for a in call["args"]]
        rendered.append(entry)
    out["syscalls"] = rendered
    validate(out)
    return out


def render_for_spec(caps, arch: str | None = None, kernel: tuple[int, int] | None = None) -> dict:
    """Docker's default profile rendered for a container with these capabilities."""
    return render(default_profile(), caps, arch=arch, kernel=kernel)


# ---------------------------------------------------------------- validation

def _action(name, ret, where: str) -> int:
    """The libseccomp action value; ERRNO and TRACE without a value return EPERM (runc)."""
    if name in _ACT_FIXED:
        if ret is not None:
            raise InvalidArgument(f"seccomp: {where}: errnoRet is only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
        return _ACT_FIXED[name]
    if name in _ACT_WITH_RET:
        if ret is None:
            ret = _errno.EPERM
        if isinstance(ret, bool) or not isinstance(ret, int) or not 0 <= ret <= 0xffff:
            raise InvalidArgument(f"seccomp: {where}: errnoRet must be an integer 0..65535, not {ret!r}")
        return _ACT_WITH_RET[name] | ret
    if name == "SCMP_ACT_NOTIFY":
        raise InvalidArgument(f"seccomp: {where}: SCMP_ACT_NOTIFY (seccomp user notification) is not supported")
    raise InvalidArgument(f"seccomp: {where}: unknown action {name!r}")


def _u64(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < _U64:
        raise InvalidArgument(f"seccomp: {what} must be an unsigned 64-bit integer, not {v!r}")
    return v


def _conditions(call: dict, where: str) -> list[tuple[int, int, int, int]]:
    """(index, op, value, valueTwo) for each arg rule of a syscall entry."""
    conds = []
    for j, a in enumerate(call.get("args") or []):
        w = f"{where}.args[{j}]"
        if not isinstance(a, dict):
            raise InvalidArgument(f"seccomp: {w} must be an object")
        idx = a.get("index")
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < _MAX_ARGS:
            raise InvalidArgument(f"seccomp: {w}: index must be 0..5, not {idx!r}")
        if a.get("op") not in _OPS:
            raise InvalidArgument(f"seccomp: {w}: unknown op {a.get('op')!r}")
        conds.append((idx, _OPS[a["op"]], _u64(a.get("value", 0), f"{w}.value"),
                       _u64(a.get("valueTwo", 0), f"{w}.valueTwo")))
    return conds


def validate(oci: dict) -> None:
    """Check an OCI `linux.seccomp` object: everything `load` needs, so a bad profile
    fails when the container is created, not in its init process."""
    if not isinstance(oci, dict):
        raise InvalidArgument("seccomp: linux.seccomp must be an object")
    _action(oci.get("defaultAction"), oci.get("defaultErrnoRet"), "defaultAction")
    archs = oci.get("architectures") or []
    if not isinstance(archs, list):
        raise InvalidArgument("seccomp: architectures must be a list")
    for a in archs:
        if a not in _ARCHES:
            raise InvalidArgument(f"seccomp: unknown architecture {a!r}")
    flags = oci.get("flags") or []
    if not isinstance(flags, list):
        raise InvalidArgument("seccomp: flags must be a list")
    for f in flags:
        if f not in _FLAGS:
            raise InvalidArgument(f"seccomp: unsupported flag {f!r} (supported: {', '.join(_FLAGS)})")
    if oci.get("listenerPath"):
        raise InvalidArgument("seccomp: listenerPath (seccomp user notification) is not supported")
    calls = oci.get("syscalls") or []
    if not isinstance(calls, list):
        raise InvalidArgument("seccomp: syscalls must be a list")
    for i, call in enumerate(calls):
        where = f"syscalls[{i}]"
        if not isinstance(call, dict):
            raise InvalidArgument(f"seccomp: {where} must be an object")
        names = call.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise InvalidArgument(f"seccomp: {where}: names must be a non-empty list of syscall names")
        _action(call.get("action"), call.get("errnoRet"), where)
        _conditions(call, where)


# ---------------------------------------------------------------- loading

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


# ---------------------------------------------------------------- compiled filters, cached
# Building the filter through libseccomp costs ~12 ms per container, as much as
# the rest of a start. The compiled BPF is the same for the same rendered
# profile, so it is kept by the hash of that profile and loaded with one prctl.

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
