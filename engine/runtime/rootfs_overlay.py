"""The container's root: the image's layers and its upper dir as one overlay mount.

Standard library only; runs in a forked child of the monitor (and in the copy helper)."""
import os

from . import syscalls as sc
from .rootfs_target import SetupError

# Legacy mount(2) copies at most one page of option data.
MOUNT_DATA_MAX = 4000


def _ovl_escape(p: str) -> str:
    return p.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def mount_overlay(target: str, lower: str, upper: str | None, work: str | None) -> None:
    """The image's layers and the container's upper dir on `target`.

    redirect_dir=off, metacopy=off, index=off keep the upper dir a plain diff
    that a commit can tar as it is. An older kernel that does not know one of
    them refuses it with EINVAL: then the mount is retried without the options
    from the last one back (those features did not exist there either, so the
    upper dir stays a plain diff)."""
    lowers = [p for p in lower.split(":") if p]
    if not lowers:
        raise SetupError("the container has no image layers (empty lowerdir)")
    if not upper:
        if len(lowers) == 1:  # a single read-only layer: a bind is enough
            sc.mount(lowers[0], target, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
            return

    def data_for(lw, up, wk):
        d = "lowerdir=" + ":".join(_ovl_escape(p) for p in lw)
        if up:
            d += f",upperdir={_ovl_escape(up)},workdir={_ovl_escape(wk)}"
        return d

    base = data_for(lowers, upper, work)
    extras = ["redirect_dir=off", "metacopy=off", "index=off"]
    if len(base) + 40 > MOUNT_DATA_MAX:
        # Too long for one page: the layers relative to their common parent
        # (our cwd; the child chdirs to the rootfs for pivot_root later).
        common = os.path.commonpath([os.path.abspath(p) for p in lowers])
        os.chdir(common)
        up, wk = (os.path.abspath(upper), os.path.abspath(work)) if upper else (None, None)
        base = data_for([os.path.relpath(p, common) for p in lowers], up, wk)
        if len(base) + 40 > MOUNT_DATA_MAX:
            # Still too long: the new mount API takes one layer per call
            # ("lowerdir+", Linux 6.8+), with no page limit.
            try:
                sc.mount_overlay_fsconfig(target, lowers, upper, work, [e.split("=") for e in extras])
                return
            except OSError as e:
                raise SetupError(f"the image has too many layers for one overlay mount ({len(lowers)} layers, "
                                 f"{len(base)} bytes of options even with relative paths; the new mount "
                                 f"API: {e.strerror})") from None
    last = None
    for n in range(len(extras), -1, -1):
        data = ",".join([base] + extras[:n])
        try:
            sc.mount("overlay", target, "overlay", 0, data)
            return
        except OSError as e:
            last = e
            if e.errno != 22:  # EINVAL: maybe an option this kernel does not know
                break
    raise SetupError(f"mount overlay on {target}: {os.strerror(last.errno)} "
                     f"(lowerdir {len(lowers)} layers, upperdir {upper})")
