"""dockyard's engine. `Engine(root=...)` is the one door: blocking, thread-safe
methods that return plain dataclasses. Never imports textual.

The faces (tui/: the app, the command line, later the API socket) import only
this module and engine.errors; everything they need is named here. The names
are loaded on first use, so that `python -m engine.runtime.monitor` (one
process per container, its memory paid per container) does not pay for the
facade and its imports, and a command loads only what it uses."""

# name -> (module, attribute): what a face may use besides engine.errors.
_EXPORTS = {
    "Engine": ("facade", "Engine"),
    "ImageSummary": ("facade", "ImageSummary"),
    "DiskUsage": ("facade", "DiskUsage"),
    "DockyardError": ("errors", "DockyardError"),
    # containers
    "RunOptions": ("containers.options", "RunOptions"),
    "CopyError": ("containers.copy", "CopyError"),
    "split_cp_arg": ("containers.copy", "split_cp_arg"),
    # images and references
    "Reference": ("reference", "Reference"),
    "parse_reference": ("reference", "parse"),
    "parse_time": ("images.config", "parse_time"),
    # builds
    "BuildError": ("build.builder", "BuildError"),
    "BuildEvent": ("build.builder", "BuildEvent"),
    "check_dockerfile": ("build.builder", "check_text"),
    "read_dockerfile": ("build.builder", "read_dockerfile"),
    # logs and events
    "parse_time_arg": ("runtime.logs", "parse_time_arg"),
    # the engine itself
    "version": ("info", "version"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'engine' has no attribute {name!r}") from None
    import importlib
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value  # the next lookup is a plain attribute
    return value
