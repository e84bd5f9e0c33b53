"""Seccomp for containers, Docker's way.

Docker's profile format is not the runtime-spec's: its rules carry conditions
(`includes`/`excludes` on the container's capabilities, the host architecture and
the kernel version), so a profile is *rendered* per container into an OCI
`linux.seccomp` object (`render`), which the container's init process then
installs in itself just before execve (`load`, through libseccomp.so.2 and ctypes).

The parts: seccomp_oci (the OCI object's names and values, the host's arch
and kernel, `validate`), seccomp_render (Docker's profiles rendered),
seccomp_lib (the libseccomp binding, `load`), seccomp_bpf (compiled filters,
cached). Their names are importable from here.

`seccomp_default.json` next to this file is Docker's default profile, copied
verbatim from moby/profiles seccomp/default.json @ cd3bed80
(Copyright Docker, Inc. and the Moby authors, Apache-2.0; see
https://github.com/moby/profiles). The rendering rules follow moby's
profiles/seccomp/seccomp_linux.go; the loading rules follow runc's
libcontainer/seccomp. Privileged containers get no filter at all (the caller's
decision: just do not call `load`).

Standard library only, and cheap to import: ctypes and libseccomp are loaded on
the first `load`.
"""
from .seccomp_bpf import cached_bpf, compile_bpf, load_bpf  # noqa: F401 (init's compiled-filter path)
from .seccomp_lib import _lib, load  # noqa: F401
from .seccomp_oci import _action, host_arch, host_kernel, validate  # noqa: F401
from .seccomp_render import PROFILE_FILE, default_profile, render, render_for_spec  # noqa: F401

__all__ = ["default_profile", "render", "render_for_spec", "validate", "load",
           "host_arch", "host_kernel"]
