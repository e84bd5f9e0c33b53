"""The monitor's end: pid 1 has exited (exit code, OOM kill, leftovers
killed, cgroup removed, final state.json, EXIT to every client, --rm), or the
monitor itself failed (_crashed). A mixin of monitor_loop.Monitor."""
import os

from .monitor_base import PID_FILE, SOCKET_NAME, _answer, _unlink

DRAIN_TIMEOUT = 2.0
CLAIM_TIMEOUT = 10.0


class Exit:
    """Monitor's end (see the module's doc)."""

    def _crashed(self, e: BaseException) -> int:
        """Last resort: record what went wrong, end the container, clean up."""
        import traceback
        msg = "monitor failed: " + "".join(traceback.format_exception_only(type(e), e)).strip()
        tb = traceback.format_exc()
        try:
            with open("monitor.error", "a") as f:
                f.write(tb)
        except OSError:
            pass
        try:
            os.kill(self.pid, 9)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass
        try:
            cg = self._cgroup()
            if cg is not None:
                cg.destroy()
        except Exception:
            pass
        from .state import rfc3339_nano, write_state
        try:
            write_state(".", {"status": "exited", "pid": self.pid, "monitor_pid": os.getpid(),
                              "started_at": rfc3339_nano(self.started_ns) if self.started_ns else None,
                              "finished_at": rfc3339_nano(), "exit_code": 137, "oom_killed": False, "error": msg})
        except OSError:
            pass
        self.ready_fd = _answer(self.ready_fd, {"ok": False, "message": msg, "exit_code": 125})
        _unlink(SOCKET_NAME)
        _unlink(PID_FILE)
        return 1

    def _begin_exit(self) -> None:
        if self.exiting:
            return
        self.exiting = True
        if self.error_r is not None:
            self._read_error(self.error_r, block=True)
        # Failed before the client it waited for arrived (a missing command under
        # `run`): stay a little so that client still gets the error and exit code.
        self.claim_deadline = self._time.monotonic() + CLAIM_TIMEOUT if self.start_w is not None else 0.0
        if self.start_w is not None:
            os.close(self.start_w)
            self.start_w = None
        self.drain_deadline = self._time.monotonic() + DRAIN_TIMEOUT
        # Leftovers (pid 1's orphans die with its pid namespace; this covers the rest).
        self._cgroup_kill()
        # Stop taking input for the container.
        if self.stdin_w is not None and not self.tty:
            self._forget(self.stdin_w)
            os.close(self.stdin_w)
        self.stdin_w = None

    def _cgroup(self):
        if not self.h.get("cgroup"):
            return None
        if getattr(self, "_cg", None) is None:
            from .cgroups import Cgroup
            self._cg = Cgroup(self.h["cgroup"])
        return self._cg

    def _cgroup_kill(self) -> None:
        try:
            cg = self._cgroup()
            if cg is not None and cg.exists():
                cg.kill_all()
        except Exception:
            pass

    # -- the end --------------------------------------------------------------
    def _finish(self) -> int:
        from . import protocol as P
        from .state import rfc3339_nano
        # The pty master: EIO once every process holding the slave has gone.
        for fd in list(self.outs):
            self._forget(fd)
        if self.master is not None:
            os.close(self.master)
        self.log.close()
        finished = rfc3339_nano()
        oom = False
        error = None
        cg = None
        try:
            cg = self._cgroup()
            if cg is not None and cg.exists():
                oom = cg.oom_kills() > 0
        except Exception:
            pass
        try:
            if cg is not None:
                cg.destroy()
        except Exception as e:
            error = f"cannot remove the container's cgroup: {e}"
        self._poststop()
        if self.start_error:
            error, code = self.start_error
        else:
            code = self.init_status if self.init_status is not None else 137
        self._write_state(".", {"status": "exited", "pid": self.pid, "monitor_pid": os.getpid(),
                                "started_at": rfc3339_nano(self.started_ns) if self.started_ns else None,
                                "finished_at": finished, "exit_code": code, "oom_killed": oom, "error": error})
        if self.ready_fd >= 0:
            if self.start_error:
                self.ready_fd = _answer(self.ready_fd, {"ok": False, "message": error, "exit_code": code})
            else:
                self.ready_fd = _answer(self.ready_fd, {"ok": True, "pid": self.pid, "monitor_pid": os.getpid()})
        _unlink(SOCKET_NAME)
        _unlink(PID_FILE)
        self.lsock.close()
        if self.h.get("autoremove"):
            self._autoremove(code)
        info = {"oom_killed": oom, "finished_at": finished, "error": error, "started": not self.start_error}
        exit_frame = P.exit_frame(code, info)
        for ex in list(self.execs.values()):
            if ex.conn is not None and not ex.done:
                self._send(ex.conn, P.exit_frame(ex.status if ex.status is not None else 137, {"pid": ex.pid}))
        for c in list(self.conns.values()):
            if c.exec is None:
                self._send(c, exit_frame)
        deadline = self._time.monotonic() + 2.0
        pending = [c for c in self.conns.values() if c.out and not c.closed]
        while pending and self._time.monotonic() < deadline:
            try:
                self.ep.poll(0.05)
            except InterruptedError:
                pass
            for c in pending:
                self._flush_conn(c.fd)
            pending = [c for c in pending if c.out and not c.closed]
        for c in list(self.conns.values()):
            self._drop(c)
        if not self.h.get("autoremove"):
            self._record_die(code)  # after the exit is told: nobody waits for this
        return 0

    def _poststop(self) -> None:
        """The commands the engine left to undo what it made for this run
        (its published ports' iptables rules): each run to its end, its
        failure ignored (the engine's reconcile removes what is left)."""
        if self.h.get("bridge"):
            try:  # before anyone hears of the exit: its address is free once `wait` returns
                from ..store.container_exit import release_addresses
                release_addresses(self.dir)
            except Exception:
                pass
        for argv in self.h.get("poststop") or ():
            try:
                null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
                try:
                    pid = os.posix_spawnp(argv[0], argv, os.environ,
                                          file_actions=[(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                                                        (os.POSIX_SPAWN_DUP2, null, 2)])
                finally:
                    os.close(null)
                os.waitpid(pid, 0)
            except OSError:
                pass

    def _record_die(self, code: int) -> None:
        try:
            from ..store.container_exit import record_die
            record_die(self.dir, code, self.h.get("name"))
        except Exception:
            pass

    def _autoremove(self, code: int | None = None) -> None:
        # engine.store.container_exit removes the record
        # and the directory; loaded only now, at the very end.
        try:
            from ..store.container_exit import remove_container
        except ImportError:
            return  # not there: the engine removes it at its next start
        try:
            remove_container(self.dir, code, self.h.get("name"))
        except Exception:
            pass
