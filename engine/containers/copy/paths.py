"""docker's cp path rules, ported (pure functions on slash paths): Go's
filepath.Clean/Dir/Base, splitCpArg, PreserveTrailingDotOrSeparator,
GetRebaseName, ResolveHostSourcePath, PrepareArchiveCopy and the rebase of
an archive's names. Container paths are absolute, relative ones are taken
from "/" (docker does the same). A trailing "/" or "/." is kept: it asks for
a directory."""
import os

from .errors import CopyError


def go_clean(p: str) -> str:
    """Go's filepath.Clean on a slash path."""
    if not p:
        return "."
    rooted = p.startswith("/")
    out: list[str] = []
    for c in p.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(c)
    s = "/".join(out)
    return "/" + s if rooted else (s or ".")


def go_dir(p: str) -> str:
    return go_clean(p[:p.rfind("/") + 1])


def go_base(p: str) -> str:
    if not p:
        return "."
    p = p.rstrip("/")
    return p[p.rfind("/") + 1:] if p else "/"


def specifies_current_dir(p: str) -> bool:
    return go_base(p) == "."


def has_trailing_sep(p: str) -> bool:
    return p.endswith("/")


def asserts_directory(p: str) -> bool:
    return has_trailing_sep(p) or specifies_current_dir(p)


def split_path_dir_entry(p: str) -> tuple[str, str]:
    cleaned = go_clean(p)
    if specifies_current_dir(p):
        cleaned += "/."
    return go_dir(cleaned), go_base(cleaned)


def preserve_trailing(cleaned: str, original: str) -> str:
    """docker's PreserveTrailingDotOrSeparator."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_sep(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_sep(cleaned) and has_trailing_sep(original):
        cleaned += "/"
    return cleaned


def container_abs(path: str) -> str:
    """A container path made absolute from "/", cleaned, trailing "/" or "/." kept."""
    return preserve_trailing(go_clean("/" + path), path)


def resolve_local_path(path: str) -> str:
    return preserve_trailing(os.path.abspath(path), path)


def split_cp_arg(arg: str) -> tuple[str | None, str]:
    """docker's splitCpArg: "CONTAINER:PATH" or a local path ("/x", "./a:b", "-")."""
    if arg.startswith("/"):
        return None, arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return None, arg
    return container, path


def _rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """docker's GetRebaseName."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_sep(path) and not has_trailing_sep(resolved):
        resolved += "/"
    rebase = go_base(path) if go_base(path) != go_base(resolved) else ""
    return resolved, rebase


def resolve_host_source_path(path: str, follow: bool) -> tuple[str, str]:
    """docker's ResolveHostSourcePath: symlinks before the last separator are
    evaluated (all of them with follow). Returns (resolved path, rebase name)."""
    try:
        if follow:
            return _rebase_name(path, os.path.realpath(path, strict=True))
        head, base = path[:path.rfind("/") + 1], path[path.rfind("/") + 1:]
        rdir = os.path.realpath(head or ".", strict=True)
    except OSError as e:
        raise CopyError(f"lstat {path}: {os_reason(e)}") from None
    resolved = rdir + ("" if rdir.endswith("/") else "/") + base
    rebase = go_base(path) if has_trailing_sep(path) and go_base(path) != go_base(resolved) else ""
    return resolved, rebase


def os_reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def prepare_archive_copy(src_is_dir: bool, src_base: str, dst_path: str, dst_exists: bool, dst_is_dir: bool):
    """docker's PrepareArchiveCopy: (directory to extract into, rebase from, rebase to).
    Rebase names are None when the archive is extracted as it is."""
    if dst_exists and dst_is_dir:
        return dst_path, None, None
    if dst_exists and src_is_dir:
        raise CopyError("cannot copy directory")
    if not dst_exists and not src_is_dir and asserts_directory(dst_path):
        raise CopyError("no such directory")
    dst_dir, dst_base = split_path_dir_entry(dst_path)
    return dst_dir, src_base, dst_base


def rebase(parts: list[str], old: str | None, new: str | None) -> list[str]:
    if old is None:
        return parts
    new_head = [] if new in (".", "/", "") else [new]
    if old in (".", "/"):
        return new_head + parts
    if parts and parts[0] == old:
        return new_head + parts[1:]
    return parts
