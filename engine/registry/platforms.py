"""Platforms (os/arch/variant) and choosing one from an index, by containerd's
rules (github.com/containerd/platforms: Normalize, Only): names normalised
(x86_64 is amd64, aarch64 is arm64, arm64 means arm64/v8), and a platform also
accepts the older variants it can run (arm64/v8 runs arm/v7..v5, arm/v7 runs
v6 and v5, amd64/v3 runs v2 and v1), the exact one first."""
import os
from dataclasses import dataclass

from ..errors import InvalidArgument, NotFound

_OSES = {"linux", "windows", "darwin", "freebsd"}
_ARCHES = {"386", "i386", "amd64", "x86_64", "x86-64", "arm", "armhf", "armel", "arm64", "aarch64", "ppc64le",
           "s390x", "riscv64", "mips64le", "loong64"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def normalize(os_: str, arch: str, variant: str = "") -> Platform:
    os_, arch, variant = (os_ or "").lower(), (arch or "").lower(), (variant or "").lower()
    if os_ == "macos":
        os_ = "darwin"
    if arch in ("i386", "i486", "i586", "i686", "386"):
        arch, variant = "386", ""
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch = "amd64"
        if variant == "v1":
            variant = ""
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        if variant in ("", "8", "v8", "v8.0"):
            variant = "v8"   # containerd: "arm64" and "arm64/v8" are the same platform
        elif variant in ("9", "v9", "v9.0"):
            variant = "v9"
    elif arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    elif arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return Platform(os_, arch, variant)


def parse(spec: str) -> Platform:
    """"os/arch[/variant]" normalised; as containerd, a lone os means this
    host's architecture and a lone architecture means linux."""
    parts = spec.strip().split("/") if isinstance(spec, str) else []
    if len(parts) == 1 and parts[0].lower() in _OSES:
        parts = [parts[0], os.uname().machine]
    elif len(parts) == 1 and parts[0].lower() in _ARCHES:
        parts = ["linux", parts[0]]
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {spec!r}: expected os/arch[/variant], e.g. linux/arm64/v8")
    return normalize(*parts)


def host() -> Platform:
    """The platform this machine runs (linux/amd64 on a x86_64 host)."""
    return normalize("linux", os.uname().machine)


def compatible(want: Platform) -> list[Platform]:
    """What `want` can run, best first (containerd's platformVector)."""
    out = [want]
    v = want.variant
    if want.architecture == "amd64" and v.startswith("v") and v[1:].isdigit():
        out += [Platform(want.os, "amd64", f"v{n}" if n > 1 else "") for n in range(int(v[1:]) - 1, 0, -1)]
    elif want.architecture == "arm64":
        out += [Platform(want.os, "arm", f"v{n}") for n in (8, 7, 6, 5)]
    elif want.architecture == "arm" and v.startswith("v") and v[1:].isdigit():
        out += [Platform(want.os, "arm", f"v{n}") for n in range(int(v[1:]) - 1, 4, -1)]
    return out


def of_descriptor(desc: dict) -> Platform | None:
    p = desc.get("platform")
    if not isinstance(p, dict) or not p.get("os") or not p.get("architecture"):
        return None
    return normalize(str(p["os"]), str(p["architecture"]), str(p.get("variant") or ""))


def select(descriptors: list[dict], want: Platform, what: str) -> dict:
    """The entry of an index that `want` runs best; NotFound listing what the index has."""
    offered = [(of_descriptor(d), d) for d in descriptors]
    for cand in compatible(want):
        for plat, d in offered:
            if plat == cand:
                return d
    have = sorted({str(p) for p, _ in offered if p and p.os != "unknown"})
    raise NotFound(f"no image for {want} in {what}: it has {', '.join(have) or 'no platform'} "
                   f"(choose one with --platform)")
