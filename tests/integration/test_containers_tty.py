"""`dockyard run -it` and `attach` driven through a real PTY, as a person at
a terminal would: the prompt, typing, reading back, resize, detach with
ctrl-p ctrl-q, re-attach."""
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

from tests.conftest import ROOT
from tests.integration.test_containers import dy


class Term:
    """A child process on a pty of ours."""

    def __init__(self, argv: list[str], env: dict, rows: int = 24, cols: int = 80):
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.buf = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, needle: bytes, timeout: float = 20) -> bytes:
        deadline = time.time() + timeout
        while needle not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen; got {self.buf[-500:]!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {needle!r}; got {self.buf[-500:]!r}")
                self.buf += chunk
        return self.buf

    def wait(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout)
        os.close(self.master)
        return code


def _env(root):
    return dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT, TERM="xterm")


def test_run_it_type_resize_detach_reattach(root):
    t = Term([sys.executable, "-m", "tui.cli", "run", "-it", "--name", "tty1", "busybox", "sh"], _env(root),
             rows=30, cols=90)
    t.expect(b"# ")
    t.send(b"echo hel''lo\r")
    t.expect(b"hello")
    t.send(b"stty size; tty\r")
    t.expect(b"30 90")
    t.expect(b"/dev/pts/0")  # a terminal of the container's own devpts, as with runc
    t.resize(40, 100)
    t.proc.send_signal(28)  # SIGWINCH, as the terminal would send
    time.sleep(0.2)
    t.send(b"stty size\r")
    t.expect(b"40 100")
    t.send(b"\x10\x11")  # ctrl-p ctrl-q
    assert t.wait() == 0
    assert "Up " in dy(root, "ps").stdout.decode()
    t2 = Term([sys.executable, "-m", "tui.cli", "attach", "tty1"], _env(root))
    t2.send(b"echo again\r")
    t2.expect(b"again")
    t2.send(b"exit 7\r")
    assert t2.wait() == 7
    assert "Exited (7)" in dy(root, "ps", "-a").stdout.decode()


def test_exec_it_through_a_pty(root):
    dy(root, "run", "-d", "--name", "tty2", "busybox", "sleep", "300")
    t = Term([sys.executable, "-m", "tui.cli", "exec", "-it", "tty2", "sh"], _env(root), rows=20, cols=70)
    t.expect(b"# ")
    t.send(b"tty; stty size\r")
    t.expect(b"20 70")
    assert b"/dev/pts/" in t.buf
    t.send(b"exit 4\r")
    assert t.wait() == 4
    dy(root, "rm", "-f", "tty2")
