"""Loading seccomp filters for real. Each test forks a child that installs the
filter in itself, tries syscalls and reports through a pipe; the parent reaps it.
Needs root (the child loads without no_new_privs, relying on CAP_SYS_ADMIN)."""
import ctypes
import errno
import json
import os
import resource
import select
import signal
import time

import pytest

from engine.errors import DockyardError
from engine.runtime import seccomp
from tests.conftest import need_root

DOCKER_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

# Raw syscall numbers for what glibc does not wrap (or wraps without errno).
NR = {
    "x86_64": {"keyctl": 250, "add_key": 248, "clone": 56, "clone3": 435, "getpid": 39, "getppid": 110},
    "aarch64": {"keyctl": 219, "add_key": 217, "clone": 220, "clone3": 435, "getpid": 172, "getppid": 173},
}
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
AF_ALG, AF_UNIX, SOCK_SEQPACKET, SOCK_STREAM = 38, 1, 5, 1
PR_SET_NO_NEW_PRIVS = 38
CAP_SYS_ADMIN = 21


@pytest.fixture(autouse=True)
def _root():
    need_root()
    if os.uname().machine not in NR:
        pytest.skip(f"no syscall numbers for {os.uname().machine}")


def nr(name):
    return NR[os.uname().machine][name]


def libc():
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    lib.mount.argtypes = [ctypes.c_char_p] * 4 + [ctypes.c_void_p]
    return lib


def call(fn, *args):
    """(return value, errno) with errno cleared first."""
    ctypes.set_errno(0)
    rc = fn(*args)
    return rc, ctypes.get_errno() if rc == -1 else 0


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1]


def in_child(oci, probe, timeout=30.0):
    """Fork; the child loads `oci` (unless None), runs probe() and sends back its JSON
    result. Returns (result or None, wait status). The child never returns here."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # SIGSYS tests: no core files
            try:
                if oci is not None:
                    seccomp.load(oci)
                out = probe()
            except BaseException as e:
                out = {"error": f"{type(e).__name__}: {e}"}
            os.write(w, json.dumps(out).encode())
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                break
            data = os.read(r, 65536)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(r)
        _, wstatus = os.waitpid(pid, 0)
    body = b"".join(chunks)
    return (json.loads(body) if body else None), wstatus


def docker_default():
    return seccomp.render_for_spec(DOCKER_CAPS)


# ------------------------------------------------------------- Docker's default profile

def test_docker_default_profile(tmp_path):
    target = str(tmp_path / "does-not-exist").encode()

    def probe():
        c = libc()
        res = {
            "seccomp": status("Seccomp"), "nnp": status("NoNewPrivs"),
            "unshare": call(c.unshare, CLONE_NEWNS),
            "mount": call(c.mount, b"none", target, b"tmpfs", None, None),
            "keyctl": call(c.syscall, nr("keyctl"), 0, ctypes.c_long(-3), 0),   # KEYCTL_GET_KEYRING_ID session
            "add_key": call(c.syscall, nr("add_key"), b"user", b"x", b"y", 1, ctypes.c_long(-3)),
            "getpid": [c.syscall(nr("getpid")), os.getpid()],
            "clone3": call(c.syscall, nr("clone3"), None, 0),
            "socket_alg": call(c.socket, AF_ALG, SOCK_SEQPACKET, 0),
            "personality_query": call(c.personality, ctypes.c_ulong(0xFFFFFFFF)),
            "personality_set": call(c.personality, ctypes.c_ulong(0x0040000)),   # ADDR_NO_RANDOMIZE
            "chroot": call(c.chroot, b"/"),
        }
        s = c.socket(AF_UNIX, SOCK_STREAM, 0)
        res["socket_unix"] = s >= 0
        if s >= 0:
            os.close(s)
        # clone with a namespace flag: refused; plain fork (clone without them): fine
        rc, e = call(c.syscall, nr("clone"), CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)
        if rc == 0:
            os._exit(0)                      # the filter failed: get the stray child out
        if rc > 0:
            os.waitpid(rc, 0)
        res["clone_newuser"] = [rc, e]
        kid = os.fork()
        if kid == 0:
            os._exit(7)
        res["fork"] = os.waitstatus_to_exitcode(os.waitpid(kid, 0)[1])
        return res

    res, wstatus = in_child(docker_default(), probe)
    assert os.waitstatus_to_exitcode(wstatus) == 0, res
    assert "error" not in res, res
    assert res["seccomp"] == "2"
    assert res["nnp"] == "0"                       # load() leaves no_new_privs to the caller
    assert res["unshare"] == [-1, errno.EPERM]
    assert res["mount"] == [-1, errno.EPERM]       # ENOENT if the kernel had seen it
    assert res["keyctl"] == [-1, errno.EPERM]      # no rule: the default action, ERRNO(1)
    assert res["add_key"] == [-1, errno.EPERM]
    assert res["getpid"][0] == res["getpid"][1] > 0
    assert res["clone3"] == [-1, errno.ENOSYS]     # so libc falls back to clone
    assert res["socket_alg"] == [-1, errno.EPERM]
    assert res["socket_unix"] is True
    assert res["personality_query"][1] == 0
    assert res["personality_set"] == [-1, errno.EPERM]
    assert res["chroot"] == [0, 0]
    assert res["clone_newuser"] == [-1, errno.EPERM]
    assert res["fork"] == 7


def test_sys_admin_profile_allows_unshare():
    def probe():
        c = libc()
        return {"unshare": call(c.unshare, CLONE_NEWNS), "clone3": call(c.syscall, nr("clone3"), None, 0)}

    res, wstatus = in_child(seccomp.render_for_spec(DOCKER_CAPS | {"CAP_SYS_ADMIN"}), probe)
    assert os.waitstatus_to_exitcode(wstatus) == 0 and "error" not in res, res
    assert res["unshare"] == [0, 0]
    assert res["clone3"] == [-1, errno.EINVAL]     # reached the kernel (NULL args)


def test_without_filter_the_probes_reach_the_kernel():
    """Control: the same calls behave differently with no filter, so the EPERMs above are seccomp's."""
    def probe():
        c = libc()
        return {"seccomp": status("Seccomp"), "clone3": call(c.syscall, nr("clone3"), None, 0),
                "mount": call(c.mount, b"none", b"/nonexistent/dockyard-seccomp", b"tmpfs", None, None)}

    res, _ = in_child(None, probe)
    assert res["seccomp"] == "0"
    assert res["clone3"] == [-1, errno.EINVAL]
    assert res["mount"] == [-1, errno.ENOENT]


# ------------------------------------------------------------- actions and argument rules

def allow_all_but(rule):
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [], "syscalls": [rule]}


def test_errno_with_custom_value():
    def probe():
        return {"getppid": call(libc().syscall, nr("getppid"))}

    res, _ = in_child(allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}), probe)
    assert res["getppid"] == [-1, 77]


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_killing_actions(action):
    def probe():
        libc().syscall(nr("getppid"))
        return {"survived": True}

    res, wstatus = in_child(allow_all_but({"names": ["getppid"], "action": action}), probe)
    assert res is None
    assert os.WIFSIGNALED(wstatus) and os.WTERMSIG(wstatus) == signal.SIGSYS


def test_log_action_allows():
    def probe():
        return {"getppid": libc().syscall(nr("getppid")), "ppid": os.getppid()}

    res, _ = in_child(allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_LOG"}), probe)
    assert res["getppid"] == res["ppid"]


PROBES = [0, 5, 10, 15]


def getpgid_hits(args):
    """Which getpgid(pid) calls hit an ERRNO(99) rule with these arg comparisons."""
    def probe():
        c = libc()
        return [call(c.getpgid, p)[1] == 99 for p in PROBES]

    res, _ = in_child(allow_all_but({"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
                                     "args": args}), probe)
    assert isinstance(res, list), res
    return [p for p, hit in zip(PROBES, res) if hit]


@pytest.mark.parametrize("op, value, value_two, want", [
    ("SCMP_CMP_NE", 10, 0, [0, 5, 15]),
    ("SCMP_CMP_LT", 10, 0, [0, 5]),
    ("SCMP_CMP_LE", 10, 0, [0, 5, 10]),
    ("SCMP_CMP_EQ", 10, 0, [10]),
    ("SCMP_CMP_GE", 10, 0, [10, 15]),
    ("SCMP_CMP_GT", 10, 0, [15]),
    ("SCMP_CMP_MASKED_EQ", 0b1100, 0b0100, [5]),     # (pid & 12) == 4
])
def test_arg_ops(op, value, value_two, want):
    arg = {"index": 0, "value": value, "op": op}
    if value_two:
        arg["valueTwo"] = value_two
    assert getpgid_hits([arg]) == want


def test_two_rules_on_one_argument_are_ored():
    assert getpgid_hits([{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"},
                         {"index": 0, "value": 15, "op": "SCMP_CMP_EQ"}]) == [5, 15]


def test_rules_on_different_arguments_are_anded():
    def probe():
        c = libc()
        return {"both": call(c.getpriority, 0, 12345)[1], "first": call(c.getpriority, 0, 0)[1],
                "second": call(c.getpriority, 1, 12345)[1]}

    res, _ = in_child(allow_all_but({
        "names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 12345, "op": "SCMP_CMP_EQ"}]}),
        probe)
    assert res["both"] == 99 and res["first"] != 99 and res["second"] != 99


def test_unknown_syscall_names_are_skipped():
    oci = allow_all_but({"names": ["no_such_syscall_dockyard", "getppid"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": 42})

    def probe():
        return {"getppid": call(libc().syscall, nr("getppid"))}

    res, _ = in_child(oci, probe)
    assert res["getppid"] == [-1, 42]


# ------------------------------------------------------------- privileges

def drop_sys_admin():
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    c = libc()
    hdr, data = Header(0x20080522, 0), (Data * 2)()
    assert c.capget(ctypes.byref(hdr), data) == 0
    data[0].effective &= ~(1 << CAP_SYS_ADMIN)
    assert c.capset(ctypes.byref(hdr), data) == 0


def test_load_without_sys_admin_or_nnp_fails_clearly():
    def probe():
        drop_sys_admin()
        try:
            seccomp.load(docker_default())
        except DockyardError as e:
            return {"raised": str(e), "seccomp": status("Seccomp")}
        return {"raised": None}

    res, _ = in_child(None, probe)
    assert res["raised"] and "no_new_privs" in res["raised"] and "CAP_SYS_ADMIN" in res["raised"], res
    assert res["seccomp"] == "0"


def test_load_with_nnp_needs_no_sys_admin():
    def probe():
        drop_sys_admin()
        assert libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        seccomp.load(docker_default())
        return {"seccomp": status("Seccomp"), "nnp": status("NoNewPrivs"),
                "unshare": call(libc().unshare, CLONE_NEWNS)}

    res, _ = in_child(None, probe)
    assert res == {"seccomp": "2", "nnp": "1", "unshare": [-1, errno.EPERM]}, res

