"""docker cp: copy files and directories between a container and the host.

  * host.py, the engine side (copy_out, copy_in), runs in the CLI or TUI
    process: it spawns the helper (`python -m engine.containers.copy.shell`), reads
    a tar from it or feeds it one, and applies docker's rules for the host side.
  * inside.py, the container side (prepare_out, send_out, serve_in), runs in
    the helper, chroot()ed into the container's root.
  * paths.py: docker's cp path rules (pure); errors.py: cp's errors and how
    they cross the helper's pipe.
"""
from .errors import CopyError, CopyNotFound
from .host import copy_in, copy_out
from .paths import container_abs, split_cp_arg, split_path_dir_entry

__all__ = ["CopyError", "CopyNotFound", "container_abs", "copy_in", "copy_out", "split_cp_arg",
           "split_path_dir_entry"]
