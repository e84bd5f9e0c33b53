"""dockyard's engine. `Engine(root=...)` is the one door: blocking, thread-safe
methods that return plain dataclasses. Never imports textual.

The names are loaded on first use, so that `python -m engine.runtime.monitor`
(one process per container, its memory paid per container) does not pay for
the facade and its imports."""

__all__ = ["Engine", "DockyardError", "ImageSummary", "DiskUsage"]


def __getattr__(name: str):
    if name == "DockyardError":
        from .errors import DockyardError
        return DockyardError
    if name in ("Engine", "ImageSummary", "DiskUsage"):
        from . import facade
        return getattr(facade, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
