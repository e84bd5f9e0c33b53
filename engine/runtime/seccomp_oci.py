"""The OCI `linux.seccomp` object as libseccomp takes it: the names of its
architectures, actions, comparisons and flags with their libseccomp values,
the host's architecture and kernel, and `validate`, the check of everything
`load` needs (seccomp_render makes such an object from a Docker profile,
seccomp_lib loads it).

Standard library only, and cheap to import."""
import errno as _errno
import os
import re
import sys

from ..errors import DockyardError, InvalidArgument

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
