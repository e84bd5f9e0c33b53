"""engine.Session (Engine.attach / Engine.exec), the faces' one door to a
running container's process, against real containers: the events (stdout and
stderr apart, exit, ended), stdin and its end, resize, signals, the exit code,
and the code taken from the container's state when the monitor let go without
telling the exit."""
import json
import os

import pytest

from tests.conftest import wait_for


@pytest.fixture
def eng(root):
    from engine import Engine
    e = Engine(root)
    yield e
    e.close()


def make(eng, command, *, tty=False, interactive=False, start=True, wait_attach=False):
    from engine import RunOptions
    cid = eng.create_container(RunOptions(image="busybox", command=command, tty=tty, interactive=interactive))
    if start:
        eng.start_container(cid, wait_attach=wait_attach)
    return cid


def monitor_pid(cdir: str) -> int:
    with open(os.path.join(cdir, "state.json")) as f:
        return json.load(f)["monitor_pid"]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def gather(sess):
    """Every event until the end: (stdout, stderr, [exit codes], kinds in order)."""
    out, err, codes, kinds = b"", b"", [], []
    for kind, value in sess.events():
        kinds.append(kind)
        if kind == sess.STDOUT:
            out += value
        elif kind == sess.STDERR:
            err += value
        elif kind == sess.EXIT:
            codes.append(value)
    return out, err, codes, kinds


def test_attach_session_stdin_streams_and_exit_code(eng):
    cid = make(eng, ["sh", "-c", "read x; echo got $x; echo oops >&2; exit 5"], interactive=True, wait_attach=True)
    with eng.attach(cid, just_started=True) as s:
        assert s.kind == "attach" and not s.attached
        info = s.attach(stdin=True)   # the HELLO starts the container held for us
        assert s.attached and info["tty"] is False and s.tty is False and s.pid == info["pid"]
        s.send_stdin(b"hi\n")
        s.close_stdin()
        out, err, codes, kinds = gather(s)
        assert (out, err, codes) == (b"got hi\n", b"oops\n", [5])
        assert kinds[-2:] == ["exit", "ended"] and s.ended
        assert s.read() == [("ended", None)]   # and stays ended
        assert s.result() == 5 and s.exit_code == 5


def test_exec_session_tty_resize_stdin_and_exit_code(eng):
    cid = make(eng, ["sleep", "1000"])
    with eng.exec(cid, ["sh", "-c", "stty size; read x; stty size; echo got $x; exit 3"], tty=True,
                  size=(24, 80)) as s:
        assert s.kind == "exec" and s.attached and s.pid
        first = b""
        while b"24 80" not in first:
            kind, value = s.next_event()
            assert kind == "stdout", (kind, value, first)
            first += value
        s.resize(33, 77)
        s.send_stdin(b"there\r")
        out, err, codes, _ = gather(s)
        assert b"33 77" in out and b"got there" in out and err == b""   # a tty: one stream
        assert codes == [3] and s.result() == 3
    eng.kill_container(cid)


def test_exec_session_that_cannot_start(eng):
    from engine.runtime.client import ExecError
    cid = make(eng, ["sleep", "1000"])
    with pytest.raises(ExecError, match="nosuchcommand") as e:
        eng.exec(cid, ["nosuchcommand"])
    assert e.value.exit_code == 127
    eng.kill_container(cid)


def test_signal_through_an_attach_session(eng):
    cid = make(eng, ["sleep", "1000"])
    with eng.attach(cid) as s:
        s.attach(stdin=False)
        s.signal(9)
        assert s.wait() == 137
        assert s.result() == 137


def test_ended_without_exit_takes_the_code_from_state(eng):
    """A session that reads nothing while the container writes megabytes and
    exits: the monitor cannot hand it the exit (its socket is full) and lets go
    when it ends. The session ends without an EXIT event; result() is the
    code the container's state keeps."""
    cid = make(eng, ["sh", "-c", "yes $(printf '%01000d' 7) | head -n 4000; exit 7"], wait_attach=True)
    s = eng.attach(cid, just_started=True)
    try:
        s.attach(stdin=False)
        pid = monitor_pid(s.container_dir)
        wait_for(lambda: gone(pid), "the monitor to end", 60)
        assert eng.container(cid).status == "exited"
        _, _, codes, kinds = gather(s)
        assert codes == [] and kinds[-1] == "ended" and s.exit_code is None
        assert s.result() == 7
    finally:
        s.close()
