"""Reading an overlay directory as overlayfs writes it (a container's upper
dir, an unpacked layer): whiteouts (a 0/0 character device), opaque
directories (the trusted.overlay.opaque xattr), names in the byte order
layer tars use. Shared by diff, export, the file index and the build's
merged view."""
import os
import stat

from .apply import OVERLAY_OPAQUE_XATTR


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def sorted_names(path: str) -> list[str]:
    with os.scandir(path) as it:
        return sorted((e.name for e in it), key=os.fsencode)
