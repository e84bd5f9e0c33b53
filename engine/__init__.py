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
    # attach and exec sessions (Engine.attach / Engine.exec) and their errors
    "Session": ("runtime.session", "Session"),
    "ContainerNotRunning": ("runtime.client", "ContainerNotRunning"),
    # images and references
    "Reference": ("reference", "Reference"),
    "parse_reference": ("reference", "parse"),
    "parse_time": ("images.config", "parse_time"),
    # registries
    "PullEvent": ("images.pull", "PullEvent"),
    "PushEvent": ("images.push", "PushEvent"),
    # builds
    "BuildError": ("build.builder", "BuildError"),
    "BuildEvent": ("build.builder", "BuildEvent"),
    "check_dockerfile": ("build.builder", "check_text"),
    "read_dockerfile": ("build.builder", "read_dockerfile"),
    # logs and events
    "parse_time_arg": ("runtime.logs", "parse_time_arg"),
    # registries
    "registry_login": ("registry.login", "login"),
    "registry_logout": ("registry.login", "logout"),
    "registry_relogin": ("registry.login", "relogin"),
    "registry_stored_username": ("registry.login", "stored_username"),
    "LoginFailed": ("registry.login", "LoginFailed"),
    # the engine itself
    "version": ("info", "version"),
    # the store's zygote, for a face that hands its work to a forked worker (the CLI's _remote)
    "zygote_enabled": ("runtime.zygote", "enabled"),
    "zygote_call": ("runtime.zygote", "call"),
    "zygote_serve": ("runtime.zygote", "serve"),
}

__all__ = sorted([*_EXPORTS, "preload"])  # noqa: PLE0605 (the table above is the one list of names)


def preload() -> None:
    """Imports what the commonly used operations load, so that a process that
    forks workers (the store's zygote serving the CLI) pays for it once and
    each worker starts with it loaded."""
    import json  # noqa: F401
    import sqlite3  # noqa: F401

    from . import facade, store  # noqa: F401
    from .containers import create, inspect, lifecycle  # noqa: F401

    # pull and push too: urllib3 and the registry client are ~0.1 s of imports
    # that each pull paid (bench_pull's five small layers: a third of its time).
    from .images import catalog, pull, push  # noqa: F401
    from .images import inspect as image_inspect  # noqa: F401
    from .network.links import preload as network_preload
    from .registry import auth, credentials, transport  # noqa: F401
    from .registry import client as registry_client  # noqa: F401
    from .runtime import client, launcher  # noqa: F401
    network_preload()   # pyroute2: ~0.13 s of each bridge container's start otherwise (+~14 MB here)


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'engine' has no attribute {name!r}") from None
    import sys
    full = f"{__name__}.{module}"
    __import__(full)  # not importlib.import_module: importlib loads warnings, ~1 ms of every CLI start
    value = getattr(sys.modules[full], attr)
    globals()[name] = value  # the next lookup is a plain attribute
    return value
