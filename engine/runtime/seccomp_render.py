"""Docker's seccomp profiles rendered per container into an OCI `linux.seccomp`
object: Docker's rules carry conditions (`includes`/`excludes` on the
container's capabilities, the host architecture and the kernel version). The
rules follow moby's profiles/seccomp/seccomp_linux.go; seccomp.py tells where
the default profile comes from.

Standard library only, and cheap to import."""
import os
import re

from ..errors import DockyardError, InvalidArgument
from .seccomp_oci import _ARCHES, _arch_from_machine, host_arch, host_kernel, validate

PROFILE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_default.json")


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
