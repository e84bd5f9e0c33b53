"""The errors of docker cp, and how they cross the helper's pipe: the
helper answers one JSON line for an error (describe), the engine side raises
it again (from_answer)."""
from ...errors import DockyardError, NotFound


class CopyError(DockyardError):
    """docker cp failed; docker exits 1 for every cp error."""

    exit_code = 1


class CopyNotFound(NotFound):
    exit_code = 1


class ContainerGone(DockyardError):
    """The running container stopped between our look at it and the helper's."""


def describe(e: BaseException) -> dict:
    """The helper's JSON answer for an error."""
    if isinstance(e, ContainerGone):
        kind = "gone"
    elif isinstance(e, NotFound):
        kind = "notfound"
    else:
        kind = "error"
    if isinstance(e, DockyardError):
        msg = str(e)
    elif isinstance(e, OSError):
        msg = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    else:
        msg = f"{type(e).__name__}: {e}"
    return {"ok": False, "kind": kind, "message": msg}


def from_answer(doc: dict) -> DockyardError:
    """The error a helper's JSON answer describes."""
    if doc.get("kind") == "gone":
        return ContainerGone(doc.get("message") or "the container stopped")
    if doc.get("kind") == "notfound":
        return CopyNotFound(doc.get("message") or "not found")
    return CopyError(doc.get("message") or "the copy failed")
