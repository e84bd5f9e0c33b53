"""The process's own set-up, last steps in the child before execve, for the
container's process and exec'd ones alike: working directory, session and
controlling terminal, command lookup, rlimits, user, capabilities,
no_new_privs, seccomp, the start byte, execve; and the small reaper pid 1
stays with `--init`.

Standard library only; runs in the child after pivot_root (or chroot)."""
import fcntl
import os
import resource
import signal
import stat
import termios

from . import caps
from . import syscalls as sc
from .init_child import NOT_EXECUTABLE, NOT_FOUND, SETUP_FAILED, _describe, _Fail, _report, _reset_signals, _run_child

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


def _chdir(cwd: str) -> None:
    if not cwd.startswith("/"):
        raise _Fail(f"the working directory {cwd!r} is not an absolute path")
    try:
        os.chdir(cwd)
    except FileNotFoundError:
        try:
            os.makedirs(cwd, 0o755, exist_ok=True)  # as docker does
            os.chdir(cwd)
        except OSError as e:
            raise _Fail(f"the working directory {cwd}: {e.strerror}") from None
    except OSError as e:
        raise _Fail(f"the working directory {cwd}: {e.strerror}") from None
    # A cwd outside the root (a leaked directory fd, CVE-2024-21626) reads as
    # "(unreachable)/…" or fails: refuse both.
    try:
        real = os.getcwd()
        ok = real.startswith("/") and os.path.samestat(os.stat(real), os.stat("."))
    except OSError:
        ok = False
    if not ok:
        raise _Fail(f"the working directory {cwd} is outside the container's root")


def _lookup(cmd: str, path_env: str) -> str:
    """args[0] → the file to execve, as Go's exec.LookPath (runc, docker)."""
    if "/" in cmd:
        try:
            st = os.stat(cmd)
        except (FileNotFoundError, NotADirectoryError):
            raise _Fail(f'exec: "{cmd}": stat {cmd}: no such file or directory', NOT_FOUND) from None
        except OSError as e:
            raise _Fail(f'exec: "{cmd}": {e.strerror.lower()}', NOT_EXECUTABLE) from None
        if stat.S_ISDIR(st.st_mode):
            raise _Fail(f'exec: "{cmd}": is a directory', NOT_EXECUTABLE)
        if not st.st_mode & 0o111:
            raise _Fail(f'exec: "{cmd}": permission denied', NOT_EXECUTABLE)
        return cmd
    if cmd:
        for d in path_env.split(":"):
            p = os.path.join(d or ".", cmd)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o111:
                return p
    raise _Fail(f'exec: "{cmd}": executable file not found in $PATH', NOT_FOUND)


def _home(uid: int) -> str:
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _drop_privileges(process: dict, seccomp, load_seccomp) -> None:
    """User, capabilities, no_new_privs, seccomp.

    Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so (as runc)
    the filter goes in first, before the capabilities are dropped; with it,
    last. The bounding set is dropped before the uid changes (PR_CAPBSET_DROP
    needs CAP_SETPCAP, gone from the effective set after setresuid to
    non-root); KEEPCAPS keeps the permitted set across setresuid for capset."""
    nnp = bool(process.get("noNewPrivileges"))
    if seccomp is not None and not nnp:
        load_seccomp(seccomp)
    user = process.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    pcaps = process.get("capabilities")
    try:
        if pcaps is not None:
            caps.apply_bounding(pcaps.get("bounding") or [])
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
        os.setgroups([int(g) for g in user.get("additionalGids") or []])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
        if pcaps is not None:
            caps.apply_sets(pcaps.get("effective") or [], pcaps.get("permitted") or [],
                            pcaps.get("inheritable") or [], pcaps.get("ambient") or [])
        if nnp:
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    except (OSError, ValueError) as e:
        raise _Fail(f"set the user ({uid}:{gid}) and capabilities: {_describe(e)}") from None
    if seccomp is not None and nnp:
        load_seccomp(seccomp)


def _limits(process: dict) -> None:
    """process.rlimits and process.oomScoreAdj (while we still may raise them)."""
    for rl in process.get("rlimits") or []:
        name = rl.get("type", "")
        which = getattr(resource, name, None)
        if not name.startswith("RLIMIT_") or not isinstance(which, int):
            raise _Fail(f"unknown rlimit {name!r}")
        try:
            resource.setrlimit(which, (int(rl.get("soft", 0)), int(rl.get("hard", 0))))
        except (OSError, ValueError) as e:
            raise _Fail(f"set {name} to {rl.get('soft')}:{rl.get('hard')}: {e}") from None
    if process.get("oomScoreAdj") is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(int(process["oomScoreAdj"])))
        except OSError as e:
            raise _Fail(f"set oom_score_adj: {e.strerror}") from None


def _finish(process: dict, seccomp, load_seccomp, tty: bool, start_r: int, error_w: int) -> None:
    """Steps shared by the container's process and exec'd ones: cwd, session,
    command lookup, user and privileges, the start byte, execve."""
    user = process.get("user") or {}
    os.umask(int(user.get("umask", 0o022)))
    env: dict[str, str] = {}
    for item in process.get("env") or []:
        k, eq, v = item.partition("=")
        if k and eq:
            env[k] = v
    _chdir(process.get("cwd") or "/")
    os.setsid()
    if tty:
        try:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        except OSError as e:
            raise _Fail(f"make the terminal the controlling terminal: {e.strerror}") from None
    args = [str(a) for a in process.get("args") or []]
    if not args:
        raise _Fail("no command to run (process.args is empty)")
    path = _lookup(args[0], env.get("PATH", DEFAULT_PATH))
    if "HOME" not in env:
        env["HOME"] = _home(int(user.get("uid", 0)))
    _limits(process)
    _drop_privileges(process, seccomp, load_seccomp)

    b = os.read(start_r, 1)
    if not b:  # the monitor closed the start pipe without a byte: abort
        os._exit(SETUP_FAILED)
    os.close(start_r)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        os.execve(path, args, env)
    except OSError as e:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        code = NOT_FOUND if e.errno == 2 else NOT_EXECUTABLE
        raise _Fail(f'exec: "{args[0]}": {(e.strerror or str(e)).lower()}', code) from None


def _reaper(process, seccomp, load_seccomp, tty, start_r, error_w) -> None:
    """docker run --init: pid 1 stays a small reaper. It forks the real
    process, forwards signals to it, reaps every zombie and exits with the
    process's status (128+n for a signal). It runs as the process's user with
    its capabilities and seccomp filter, as tini would; never returns."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    pid = os.fork()
    if pid == 0:
        _run_child(error_w, lambda: (_reset_signals(), _finish(process, seccomp, load_seccomp, tty, start_r,
                                                                error_w)))

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    code = SETUP_FAILED
    try:
        for s in FORWARDED:
            signal.signal(s, forward)
        _drop_privileges(process, seccomp, load_seccomp)
    except BaseException as e:
        _report(error_w, f"the init process: {_describe(e)}", SETUP_FAILED)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os._exit(SETUP_FAILED)
    try:
        os.close(start_r)
        os.close(error_w)  # only the real process may hold it: its execve closes it
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        for i in (0, 1, 2):
            os.dup2(null, i)  # the reaper holds no end of the container's stdio
        os.close(null)
    except OSError:
        for i in (0, 1, 2):
            try:
                os.close(i)
            except OSError:
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        while True:
            try:
                w, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if w == pid:
                code = os.waitstatus_to_exitcode(status)
                if code < 0:
                    code = 128 - code
                break
    finally:
        os._exit(code)
