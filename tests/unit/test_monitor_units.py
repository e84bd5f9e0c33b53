"""The monitor's pieces that need no root: protocol framing, the json-file log
writer and reader, detach keys, state files."""
import json
import os
import time

import pytest

from engine.errors import InvalidArgument
from engine.runtime import protocol as P
from engine.runtime.logs import LogWriter, log_files, parse_time_arg, read_logs
from engine.runtime.state import parse_rfc3339, read_state, rfc3339_nano, write_state
from tui.terminal import _DetachMatcher, parse_detach_keys

# -- protocol -------------------------------------------------------------------

def test_frame_round_trip_in_any_pieces():
    frames = [(P.HELLO, json.dumps({"stdin": True}).encode()), (P.STDIN, b"echo hi\n"), (P.STDIN_EOF, b""),
              (P.STDOUT, bytes(range(256)) * 300), (P.STDERR, b"oops"), (P.EXIT, b"")]
    wire = b"".join(P.frame(t, p) for t, p in frames) + P.resize_frame(40, 100) + P.signal_frame(9) \
        + P.exit_frame(3, {"oom_killed": False})
    for step in (1, 2, 3, 5, 7, 4096, len(wire)):
        r = P.FrameReader()
        got = []
        for i in range(0, len(wire), step):
            got += r.feed(wire[i:i + step])
        assert got[:len(frames)] == frames
        assert P.parse_resize(got[-3][1]) == (40, 100) and got[-3][0] == P.RESIZE
        assert P.parse_signal(got[-2][1]) == 9
        assert P.parse_exit(got[-1][1]) == (3, {"oom_killed": False})
        assert r.pending == 0


def test_frame_header_and_limits():
    assert P.frame(P.STDOUT, b"ab") == b"\x04\x00\x00\x00\x02ab"
    r = P.FrameReader()
    assert r.feed(b"\x04\x00\x00") == []
    assert r.pending == 3
    with pytest.raises(P.ProtocolError):
        P.FrameReader().feed(b"\x04\xff\xff\xff\xff")
    with pytest.raises(P.ProtocolError):
        P.parse_resize(b"\x00")
    assert P.parse_exit(P.exit_frame(-1)[5:]) == (-1, {})


def test_monitor_frame_helper_matches_protocol():
    from engine.runtime.monitor_base import _frame
    assert _frame(P.STDERR, b"x" * 70000) == P.frame(P.STDERR, b"x" * 70000)


# -- logs -------------------------------------------------------------------------

def _lines(path):
    with open(path, "rb") as f:
        return [json.loads(l) for l in f]


def test_log_writer_lines_partials_and_format(tmp_path):
    w = LogWriter(str(tmp_path / "container.log"), 0, 1)
    w.write("stdout", b"hel")
    w.write("stdout", b"lo\nwor")
    w.write("stderr", b"err\n")
    w.write("stdout", "ld é\n".encode())
    w.write("stdout", b"tail")
    w.close()
    got = _lines(tmp_path / "container.log")
    assert [(g["stream"], g["log"]) for g in got] == [
        ("stdout", "hello\n"), ("stderr", "err\n"), ("stdout", "world é\n"), ("stdout", "tail")]
    assert list(got[0]) == ["log", "stream", "time"]
    t = got[0]["time"]
    assert t.endswith("Z") and "T" in t and abs(parse_rfc3339(t) - time.time()) < 60


def test_log_writer_splits_long_lines_at_16k(tmp_path):
    w = LogWriter(str(tmp_path / "container.log"), 0, 1)
    w.write("stdout", b"a" * 40000 + b"\n")
    w.close()
    got = [g["log"] for g in _lines(tmp_path / "container.log")]
    assert [len(g) for g in got] == [16384, 16384, 40000 - 32768 + 1]
    assert "".join(got) == "a" * 40000 + "\n"


def test_log_rotation_and_reading_across_files(tmp_path):
    path = str(tmp_path / "container.log")
    w = LogWriter(path, 300, 3)
    for i in range(40):
        w.write("stdout" if i % 2 == 0 else "stderr", f"line {i:02d}\n".encode())
    w.close()
    files = log_files(str(tmp_path))
    assert [os.path.basename(f) for f in files] == ["container.log.2", "container.log.1", "container.log"]
    for f in files:
        assert os.path.getsize(f) <= 300
    entries = list(read_logs(str(tmp_path)))
    nums = [int(d.split()[1]) for _, _, d in entries]
    assert nums == sorted(nums) and nums[-1] == 39 and len(nums) < 40   # oldest rotated away
    assert entries[-1][0] == "stderr" and entries[-2][0] == "stdout"
    tail = list(read_logs(str(tmp_path), tail=5))
    assert [d for _, _, d in tail] == [f"line {i:02d}\n".encode() for i in range(35, 40)]
    assert list(read_logs(str(tmp_path), tail=0)) == []
    stamped = list(read_logs(str(tmp_path), tail=1, timestamps=True))
    assert stamped[0][2] == stamped[0][1].encode() + b" line 39\n"


def test_log_rotation_single_file_truncates(tmp_path):
    path = str(tmp_path / "container.log")
    w = LogWriter(path, 100, 1)
    for i in range(20):
        w.write("stdout", f"line {i:02d}\n".encode())
    w.close()
    assert log_files(str(tmp_path)) == [path]
    assert os.path.getsize(path) <= 100
    assert list(read_logs(str(tmp_path)))[-1][2] == b"line 19\n"


def test_read_logs_since_until(tmp_path):
    path = tmp_path / "container.log"
    base = 1_800_000_000
    with open(path, "w") as f:
        for i in range(10):
            f.write(json.dumps({"log": f"{i}\n", "stream": "stdout", "time": rfc3339_nano((base + i) * 10**9 + 5)})
                    + "\n")
        f.write("not json\n")
    got = [d for _, _, d in read_logs(str(tmp_path), since=base + 5)]
    assert got == [b"5\n", b"6\n", b"7\n", b"8\n", b"9\n"]
    got = [d for _, _, d in read_logs(str(tmp_path), since=rfc3339_nano((base + 3) * 10**9), until=base + 4.5)]
    assert got == [b"3\n", b"4\n"]
    got = [d for _, _, d in read_logs(str(tmp_path), since=base + 2, tail=2)]
    assert got == [b"8\n", b"9\n"]


def test_read_logs_follow_stops_when_exited(tmp_path):
    d = str(tmp_path)
    write_state(d, {"status": "exited", "exit_code": 0})
    w = LogWriter(os.path.join(d, "container.log"), 0, 1)
    w.write("stdout", b"x\n")
    w.close()
    assert [e[2] for e in read_logs(d, follow=True)] == [b"x\n"]


def test_parse_time_arg():
    assert parse_time_arg(None) is None
    assert parse_time_arg("1700000000.5") == 1700000000.5
    assert parse_time_arg("10m", now=1000.0) == 400.0
    assert parse_time_arg("1h30m", now=10000.0) == 10000.0 - 5400
    assert parse_time_arg("2026-01-02T03:04:05Z") == parse_rfc3339("2026-01-02T03:04:05.000Z")
    assert parse_time_arg("2026-01-02T03:04:05+01:00") == parse_rfc3339("2026-01-02T02:04:05Z")
    with pytest.raises(InvalidArgument):
        parse_time_arg("yesterday")


def test_rfc3339_nano_like_go():
    assert rfc3339_nano(1_800_000_000_123_456_789) == "2027-01-15T08:00:00.123456789Z"
    assert rfc3339_nano(1_800_000_000_120_000_000) == "2027-01-15T08:00:00.12Z"
    assert rfc3339_nano(1_800_000_000_000_000_000) == "2027-01-15T08:00:00Z"
    assert abs(parse_rfc3339("2027-01-15T08:00:00.123456789Z") - 1_800_000_000.123456789) < 1e-6


# -- state ------------------------------------------------------------------------

def test_state_round_trip(tmp_path):
    from engine.runtime.state import monitor_alive
    assert read_state(str(tmp_path)) == {"status": "created"}
    write_state(str(tmp_path), {"status": "running", "pid": 1, "monitor_pid": os.getpid()})
    assert read_state(str(tmp_path))["status"] == "running"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert not monitor_alive(read_state(str(tmp_path)), str(tmp_path))  # pytest is no monitor
    assert not monitor_alive({"monitor_pid": None})


# -- detach keys --------------------------------------------------------------------

def test_parse_detach_keys_as_docker():
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-a,ctrl-z") == b"a\x01\x1a"
    assert parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_") == bytes([0, 27, 28, 29, 30, 31])
    assert parse_detach_keys("ctrl-P,x") == b"\x10x"
    for bad in ("ctrl-1", "ctrl-", "abc", "ctrl-p,,ctrl-q"):
        with pytest.raises(InvalidArgument):
            parse_detach_keys(bad)


def test_detach_matcher_holds_then_forwards():
    m = _DetachMatcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == (b"ab", False)
    assert m.feed(b"x") == (b"\x10x", False)
    assert m.feed(b"\x10\x10") == (b"\x10", False)
    assert m.feed(b"\x11rest") == (b"", True)
    assert _DetachMatcher(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


def test_read_logs_follow_across_rotation(tmp_path, monkeypatch):
    """A follower sees every line while the writer rotates, and stops once
    state.json says exited."""
    import threading

    from engine.runtime import state as statemod
    monkeypatch.setattr(statemod, "monitor_alive", lambda st, d=None: True)
    d = str(tmp_path)
    write_state(d, {"status": "running", "monitor_pid": 1})
    w = LogWriter(os.path.join(d, "container.log"), 2000, 50)
    w.write("stdout", b"first\n")

    def writer():
        for i in range(300):
            w.write("stdout", f"line {i:03d}\n".encode())
            if i % 10 == 0:
                time.sleep(0.01)
        w.close()
        write_state(d, {"status": "exited", "exit_code": 0})

    t = threading.Thread(target=writer)
    gen = read_logs(d, follow=True, tail=1, poll=0.01)
    got = [next(gen)[2]]
    t.start()
    for _, _, data in gen:
        got.append(data)
    t.join()
    assert got[0] == b"first\n"
    assert got[1:] == [f"line {i:03d}\n".encode() for i in range(300)]
    assert len(log_files(d)) > 3


def test_a_slow_client_loses_whole_output_frames_never_the_one_on_its_way():
    """monitor._skip_output / _sent: the queue of a client is a run of frames;
    skipping keeps the partly sent first frame and every non-output frame."""
    from collections import deque

    from engine.runtime.monitor_base import _frame
    from engine.runtime.monitor_clients import Conn, _sent, _skip_output
    c = Conn.__new__(Conn)
    frames = [_frame(4, b"a" * 100), _frame(4, b"b" * 100), _frame(10, b"err"), _frame(5, b"c" * 100),
              _frame(4, b"d" * 100)]
    c.out = bytearray(b"".join(frames))
    c.lens = deque(len(f) for f in frames)
    c.head = 0
    _sent(c, 30)                 # 30 bytes of the first frame are out
    del c.out[:30]
    assert c.head == 30 and len(c.lens) == 5
    _skip_output(c, keep=len(c.out) - 150)
    # the rest of frame 1, the error frame, and the newest output stay
    assert bytes(c.out) == frames[0][30:] + frames[2] + frames[4]
    assert list(c.lens) == [len(frames[0]), len(frames[2]), len(frames[4])]
    _sent(c, len(frames[0]) - 30 + 2)
    assert c.head == 2 and list(c.lens) == [len(frames[2]), len(frames[4])]
