"""Rendering Docker's seccomp profile per container, checked against what Docker's
own renderer (moby profiles/seccomp/seccomp_linux.go) keeps and drops. No root."""
import copy
import json
import os
import subprocess
import sys

import pytest

from engine.errors import DockyardError, InvalidArgument
from engine.runtime import seccomp, seccomp_oci

DOCKER_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}
KERNEL = (6, 1)
REFERENCE = "/work/shared/reference/seccomp-default.json"
CLONE_NS_MASK = 0x7E020000


def rendered(caps=DOCKER_CAPS, arch="SCMP_ARCH_X86_64", kernel=KERNEL):
    return seccomp.render_for_spec(set(caps), arch=arch, kernel=kernel)


def entries(r, name):
    return [e for e in r["syscalls"] if name in e["names"]]


def allowed(r, name) -> bool:
    """Allowed whatever its arguments: an ALLOW entry without arg rules."""
    return any(e["action"] == "SCMP_ACT_ALLOW" and not e.get("args") for e in entries(r, name))


def absent(r, name) -> bool:
    """No rule at all: the default action (EPERM) applies."""
    return not entries(r, name)


# ------------------------------------------------------------- the shipped profile

def test_default_profile_is_dockers_verbatim():
    with open(seccomp.PROFILE_FILE, "rb") as f:
        shipped = f.read()
    if os.path.exists(REFERENCE):
        with open(REFERENCE, "rb") as f:
            assert shipped == f.read()
    p = seccomp.default_profile()
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 1
    assert p["archMap"] and p["syscalls"]


def test_default_profile_fresh_copy_each_call():
    a = seccomp.default_profile()
    a["syscalls"].clear()
    assert seccomp.default_profile()["syscalls"]


def test_module_attribution_comment():
    with open(seccomp.__file__) as f:
        text = f.read()
    assert "moby/profiles seccomp/default.json @ cd3bed80" in text and "Apache-2.0" in text


# ------------------------------------------------------------- shape of the output

def test_output_is_oci_linux_seccomp():
    r = rendered()
    assert set(r) == {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}
    assert r["defaultAction"] == "SCMP_ACT_ERRNO" and r["defaultErrnoRet"] == 1
    for e in r["syscalls"]:
        assert set(e) <= {"names", "action", "errnoRet", "args"}
        assert e["names"] and all(isinstance(n, str) for n in e["names"])
        for a in e.get("args", []):
            assert set(a) <= {"index", "value", "valueTwo", "op"}
    json.dumps(r)  # plain JSON
    seccomp.validate(r)


def test_render_does_not_touch_its_input():
    p = seccomp.default_profile()
    before = copy.deepcopy(p)
    r = seccomp.render(p, DOCKER_CAPS | {"CAP_SYS_ADMIN"}, arch="SCMP_ARCH_X86_64", kernel=KERNEL)
    r["syscalls"][0]["names"].append("x")
    for e in r["syscalls"]:
        for a in e.get("args", []):
            a["value"] = 1
    assert p == before


@pytest.mark.parametrize("arch, want", [
    ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("x86_64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
    ("aarch64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
    ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", ["SCMP_ARCH_RISCV64"]),          # subArchitectures: null
    ("SCMP_ARCH_PPC64LE", []),                             # not in the archMap: native only
])
def test_architectures_from_arch_map(arch, want):
    assert rendered(arch=arch)["architectures"] == want


def test_unknown_arch_is_invalid():
    with pytest.raises(InvalidArgument):
        rendered(arch="vax")


def test_host_defaults():
    r = seccomp.render_for_spec(DOCKER_CAPS)
    assert r["architectures"][0] == seccomp.host_arch()
    if os.uname().machine == "x86_64":
        assert seccomp.host_arch() == "SCMP_ARCH_X86_64"
        assert r["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    k = seccomp.host_kernel()
    assert isinstance(k, tuple) and len(k) == 2 and k >= (3, 0)


@pytest.mark.parametrize("release, want", [
    ("6.1.0-18-amd64", (6, 1)), ("3.12.25-gentoo", (3, 12)), ("3.12-1-amd64", (3, 12)),
    ("4.8", (4, 8)), ("5.15.0-rc5", (5, 15)),
])
def test_host_kernel_parse(monkeypatch, release, want):
    real = os.uname()
    fake = os.uname_result((real.sysname, real.nodename, release, real.version, real.machine))
    monkeypatch.setattr(seccomp_oci.os, "uname", lambda: fake)  # where host_kernel reads it
    assert seccomp.host_kernel() == want


def test_host_kernel_unparsable(monkeypatch):
    real = os.uname()
    fake = os.uname_result((real.sysname, real.nodename, "weird", real.version, real.machine))
    monkeypatch.setattr(seccomp_oci.os, "uname", lambda: fake)  # where host_kernel reads it
    with pytest.raises(DockyardError, match="kernel version"):
        seccomp.render_for_spec(DOCKER_CAPS, arch="SCMP_ARCH_X86_64")   # ptrace's minKernel needs it
    # a profile without minKernel never asks
    p = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    assert seccomp.render(p, set(), arch="SCMP_ARCH_X86_64")["syscalls"]


# ------------------------------------------------------------- Docker's default caps

@pytest.mark.parametrize("name", ["read", "write", "getpid", "execve", "futex", "openat", "mmap",
                                  "chown", "setuid", "kill", "mknod", "chroot", "bind", "prctl",
                                  "seccomp", "socketcall", "arch_prctl", "modify_ldt"])
def test_default_caps_allow(name):
    assert allowed(rendered(), name)


@pytest.mark.parametrize("name", ["mount", "umount", "umount2", "unshare", "setns", "init_module",
                                  "finit_module", "delete_module", "kexec_load", "kexec_file_load",
                                  "keyctl", "add_key", "request_key", "reboot", "bpf", "perf_event_open",
                                  "open_by_handle_at", "sethostname", "settimeofday", "acct", "swapon",
                                  "iopl", "ioperm", "syslog", "kcmp", "pidfd_getfd", "fsopen", "move_mount",
                                  "open_tree", "quotactl", "vhangup", "userfaultfd", "lookup_dcookie",
                                  "mbind", "set_mempolicy", "io_uring_setup", "io_uring_enter", "riscv_flush_icache", "s390_runtime_instr"])
def test_default_caps_deny(name):
    assert absent(rendered(), name)


def test_unshare_has_no_flag_rule():
    """Docker allows unshare only with CAP_SYS_ADMIN, and then whatever the flags."""
    assert absent(rendered(), "unshare")
    r = rendered(DOCKER_CAPS | {"CAP_SYS_ADMIN"})
    assert [e.get("args") for e in entries(r, "unshare")] == [None]


@pytest.mark.parametrize("name", ["ptrace", "process_vm_readv", "process_vm_writev"])
def test_ptrace_min_kernel(name):
    assert allowed(rendered(kernel=(4, 8)), name)
    assert allowed(rendered(kernel=(6, 1)), name)
    assert allowed(rendered(kernel=(5, 0)), name)
    assert absent(rendered(kernel=(4, 7)), name)
    assert absent(rendered(kernel=(3, 10)), name)
    # CAP_SYS_PTRACE brings it on old kernels too
    assert allowed(rendered(DOCKER_CAPS | {"CAP_SYS_PTRACE"}, kernel=(4, 7)), name)


def test_kcmp_needs_sys_ptrace():
    assert absent(rendered(), "kcmp")
    assert allowed(rendered(DOCKER_CAPS | {"CAP_SYS_PTRACE"}), "kcmp")


def test_clone_flag_filter_without_sys_admin():
    r = rendered()
    assert [(e["action"], e.get("args")) for e in entries(r, "clone")] == [
        ("SCMP_ACT_ALLOW", [{"index": 0, "value": CLONE_NS_MASK, "op": "SCMP_CMP_MASKED_EQ"}])]
    assert [(e["action"], e.get("errnoRet")) for e in entries(r, "clone3")] == [("SCMP_ACT_ERRNO", 38)]


def test_clone_s390_filters_second_argument():
    r = rendered(arch="SCMP_ARCH_S390X")
    assert [e.get("args") for e in entries(r, "clone")] == [
        [{"index": 1, "value": CLONE_NS_MASK, "op": "SCMP_CMP_MASKED_EQ"}]]


@pytest.mark.parametrize("name", ["mount", "umount2", "setns", "unshare", "clone", "clone3", "bpf",
                                  "sethostname", "setdomainname", "fsopen", "mount_setattr", "quotactl",
                                  "perf_event_open", "syslog", "lookup_dcookie"])
def test_sys_admin_allows(name):
    assert allowed(rendered(DOCKER_CAPS | {"CAP_SYS_ADMIN"}), name)


def test_sys_admin_drops_clone_filters():
    for arch in ("SCMP_ARCH_X86_64", "SCMP_ARCH_S390X"):
        r = rendered(DOCKER_CAPS | {"CAP_SYS_ADMIN"}, arch=arch)
        assert [(e["action"], e.get("args")) for e in entries(r, "clone")] == [("SCMP_ACT_ALLOW", None)]
        assert [(e["action"], e.get("errnoRet")) for e in entries(r, "clone3")] == [("SCMP_ACT_ALLOW", None)]


@pytest.mark.parametrize("cap, names", [
    ("CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_BOOT", ["reboot"]), ("CAP_SYS_TIME", ["settimeofday", "clock_settime"]),
    ("CAP_SYS_RAWIO", ["iopl", "ioperm"]), ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
    ("CAP_BPF", ["bpf"]), ("CAP_PERFMON", ["perf_event_open"]), ("CAP_SYS_NICE", ["mbind"]),
])
def test_cap_gated(cap, names):
    without, with_ = rendered(), rendered(DOCKER_CAPS | {cap})
    for n in names:
        assert absent(without, n) and allowed(with_, n)


def test_kexec_never_allowed():
    every = {"CAP_" + c for c in ("SYS_ADMIN", "SYS_BOOT", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO")}
    assert absent(rendered(DOCKER_CAPS | every), "kexec_load")


def test_chroot_needs_sys_chroot():
    assert allowed(rendered(), "chroot")
    assert absent(rendered(DOCKER_CAPS - {"CAP_SYS_CHROOT"}), "chroot")


def test_personality_rules():
    es = entries(rendered(), "personality")
    assert all(e["action"] == "SCMP_ACT_ALLOW" for e in es)
    got = sorted(a["value"] for e in es for a in e["args"])
    assert got == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert all(e["args"] == [{"index": 0, "value": e["args"][0]["value"], "op": "SCMP_CMP_EQ"}] for e in es)


def test_socket_families():
    es = entries(rendered(), "socket")
    assert sorted((a["op"], a["value"]) for e in es for a in e["args"]) == [
        ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40), ("SCMP_CMP_LT", 38)]  # not AF_ALG 38, AF_VSOCK 40


@pytest.mark.parametrize("arch, yes, no", [
    ("SCMP_ARCH_X86_64", ["arch_prctl", "modify_ldt"], ["set_tls", "cacheflush", "s390_pci_mmio_read"]),
    ("SCMP_ARCH_AARCH64", ["set_tls", "cacheflush", "arm_fadvise64_64"], ["arch_prctl", "modify_ldt"]),
    ("SCMP_ARCH_X86", ["modify_ldt"], ["arch_prctl"]),
    ("SCMP_ARCH_S390X", ["s390_pci_mmio_read"], ["arch_prctl"]),
    ("SCMP_ARCH_RISCV64", ["riscv_flush_icache"], ["arch_prctl"]),
])
def test_arch_gated(arch, yes, no):
    r = rendered(arch=arch)
    assert all(allowed(r, n) for n in yes)
    assert all(absent(r, n) for n in no)


def test_cap_names_normalised():
    a = rendered(DOCKER_CAPS | {"CAP_SYS_ADMIN"})
    b = rendered(DOCKER_CAPS | {"sys_admin"})
    assert a == b


def test_caps_must_be_a_collection():
    with pytest.raises(InvalidArgument):
        seccomp.render_for_spec("CAP_SYS_ADMIN", arch="amd64", kernel=KERNEL)


# ------------------------------------------------------------- condition logic on small profiles

def prof(*calls, **extra):
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, **extra,
            "syscalls": [{"names": [f"s{i}"], "action": "SCMP_ACT_ALLOW", **c} for i, c in enumerate(calls)]}


def kept(p, caps=(), arch="SCMP_ARCH_X86_64", kernel=KERNEL):
    return [n for e in seccomp.render(p, set(caps), arch=arch, kernel=kernel)["syscalls"] for n in e["names"]]


def test_includes_caps_needs_all():
    p = prof({"includes": {"caps": ["CAP_A", "CAP_B"]}})
    assert kept(p, {"CAP_A"}) == []
    assert kept(p, {"CAP_A", "CAP_B"}) == ["s0"]


def test_excludes_caps_any():
    p = prof({"excludes": {"caps": ["CAP_A", "CAP_B"]}})
    assert kept(p, {"CAP_B"}) == []
    assert kept(p, {"CAP_C"}) == ["s0"]


def test_excludes_min_kernel_and_arches():
    p = prof({"excludes": {"minKernel": "5.10"}}, {"excludes": {"arches": ["arm64"]}})
    assert kept(p, kernel=(5, 9)) == ["s0", "s1"]
    assert kept(p, kernel=(5, 10)) == ["s1"]
    assert kept(p, arch="SCMP_ARCH_AARCH64", kernel=(4, 0)) == ["s0"]


def test_all_includes_must_hold():
    p = prof({"includes": {"caps": ["CAP_A"], "arches": ["amd64"], "minKernel": "5.0"}})
    assert kept(p, {"CAP_A"}) == ["s0"]
    assert kept(p, {"CAP_A"}, kernel=(4, 20)) == []
    assert kept(p, {"CAP_A"}, arch="SCMP_ARCH_AARCH64") == []
    assert kept(p, set()) == []


def test_single_name_and_comment():
    p = {"defaultAction": "SCMP_ACT_ERRNO",
         "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW", "comment": "old style"}]}
    assert seccomp.render(p, set(), arch="amd64", kernel=KERNEL)["syscalls"] == [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
    p["syscalls"][0]["names"] = ["write"]
    with pytest.raises(InvalidArgument, match="both 'name' and 'names'"):
        seccomp.render(p, set(), arch="amd64", kernel=KERNEL)


def test_plain_architectures_and_flags_kept():
    p = prof({}, architectures=["SCMP_ARCH_X86_64"], flags=["SECCOMP_FILTER_FLAG_LOG"])
    r = seccomp.render(p, set(), arch="amd64", kernel=KERNEL)
    assert r["architectures"] == ["SCMP_ARCH_X86_64"] and r["flags"] == ["SECCOMP_FILTER_FLAG_LOG"]
    with pytest.raises(InvalidArgument, match="archMap"):
        seccomp.render(prof({}, architectures=["SCMP_ARCH_X86"], archMap=[{"architecture": "SCMP_ARCH_X86"}]),
                       set(), arch="amd64", kernel=KERNEL)


def test_empty_profile_means_no_filter():
    assert seccomp.render({}, set(), arch="amd64", kernel=KERNEL) is None
    assert seccomp.render({"defaultAction": "", "syscalls": []}, set(), arch="amd64", kernel=KERNEL) is None


@pytest.mark.parametrize("bad", ["4", "4.8.1", "x.y", "0.0", 4.8, ""])
def test_bad_min_kernel(bad):
    p = prof({"includes": {"minKernel": bad}})
    if bad == "":
        assert kept(p) == ["s0"]      # empty means no condition, as in moby
        return
    with pytest.raises(InvalidArgument, match="minKernel"):
        kept(p)


# ------------------------------------------------------------- validation and action values

@pytest.mark.parametrize("name, ret, value", [
    ("SCMP_ACT_ALLOW", None, 0x7FFF0000), ("SCMP_ACT_KILL", None, 0), ("SCMP_ACT_KILL_THREAD", None, 0),
    ("SCMP_ACT_KILL_PROCESS", None, 0x80000000), ("SCMP_ACT_TRAP", None, 0x00030000),
    ("SCMP_ACT_LOG", None, 0x7FFC0000), ("SCMP_ACT_ERRNO", None, 0x00050001),
    ("SCMP_ACT_ERRNO", 38, 0x00050026), ("SCMP_ACT_ERRNO", 0, 0x00050000),
    ("SCMP_ACT_TRACE", 5, 0x7FF00005), ("SCMP_ACT_TRACE", None, 0x7FF00001),
])
def test_action_values_match_seccomp_h(name, ret, value):
    assert seccomp._action(name, ret, "t") == value


def good_oci():
    return {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}


@pytest.mark.parametrize("mutate, match", [
    (lambda o: o.update(defaultAction="SCMP_ACT_NOPE"), "unknown action"),
    (lambda o: o["syscalls"][0].update(action="SCMP_ACT_NOTIFY"), "NOTIFY"),
    (lambda o: o["syscalls"][0].update(errnoRet=5), "errnoRet"),
    (lambda o: o["syscalls"][0].update(action="SCMP_ACT_ERRNO", errnoRet=70000), "errnoRet"),
    (lambda o: o["syscalls"][0]["args"][0].update(op="SCMP_CMP_LIKE"), "op"),
    (lambda o: o["syscalls"][0]["args"][0].update(index=6), "index"),
    (lambda o: o["syscalls"][0]["args"][0].update(value=-1), "value"),
    (lambda o: o["syscalls"][0]["args"][0].update(valueTwo=1 << 64), "valueTwo"),
    (lambda o: o["syscalls"][0].update(names=[]), "names"),
    (lambda o: o.update(architectures=["SCMP_ARCH_VAX"]), "architecture"),
    (lambda o: o.update(flags=["SECCOMP_FILTER_FLAG_NOPE"]), "flag"),
    (lambda o: o.update(listenerPath="/run/x.sock"), "listenerPath"),
])
def test_validate_rejects(mutate, match):
    o = good_oci()
    seccomp.validate(o)
    mutate(o)
    with pytest.raises(InvalidArgument, match=match):
        seccomp.validate(o)
    with pytest.raises(InvalidArgument):
        seccomp.load(o)       # checked before libseccomp is touched


def test_render_validates_profile_actions():
    with pytest.raises(InvalidArgument, match="unknown action"):
        seccomp.render(prof({"action": "SCMP_ACT_WHATEVER"}), set(), arch="amd64", kernel=KERNEL)


def test_load_none_is_a_no_op():
    seccomp.load(None)


def test_import_is_cheap():
    code = ("import sys; import engine.runtime.seccomp; "
            "print(sorted(m for m in ('ctypes', 'json', 'platform') if m in sys.modules))")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert "ctypes" not in out.stdout and "platform" not in out.stdout


def test_missing_libseccomp_is_a_clear_error(monkeypatch):
    import ctypes as real_ctypes

    def no_lib(name, *a, **kw):
        raise OSError(f"{name}: cannot open shared object file")

    from engine.runtime import seccomp_lib
    monkeypatch.setattr(seccomp_lib, "_lib_cache", None)
    monkeypatch.setattr(real_ctypes, "CDLL", no_lib)
    with pytest.raises(DockyardError, match="libseccomp.so.2.*libseccomp2"):
        seccomp.load(seccomp.render_for_spec(DOCKER_CAPS))
