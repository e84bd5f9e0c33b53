"""dockyard cp through the real CLI, for running and stopped containers:
docker's destination rules, tar streams, errors, ownership, and the one rule
that matters most: a container's symlinks never make cp read or write a file
of the host."""
import io
import json
import os
import stat
import tarfile

import pytest

from tests.conftest import run_cli


def dy(root, *args, **kw):
    return run_cli(*args, root=root, check=kw.pop("check", False), **kw)


def ok(root, *args, **kw):
    p = dy(root, *args, **kw)
    assert p.returncode == 0, f"dockyard {' '.join(args)}: {p.stderr.decode()}"
    return p


def err(root, *args, **kw) -> str:
    p = dy(root, *args, **kw)
    assert p.returncode == 1, f"dockyard {' '.join(args)} exited {p.returncode}: {p.stderr.decode()}"
    return p.stderr.decode().strip()


def container(root, name: str, running: bool) -> str:
    if running:
        cid = ok(root, "run", "-d", "--name", name, "busybox", "sleep", "300").stdout.decode().strip()
    else:
        cid = ok(root, "create", "--name", name, "busybox", "sleep", "300").stdout.decode().strip()
    return cid


def upper(root, cid) -> str:
    return os.path.join(root, "containers", cid, "upper")


def tar_of(*entries) -> bytes:
    """entries: (name, kind, data_or_linkname, mode, uid)"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data, mode, uid in entries:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, uid, 1_700_000_000
            if kind == "file":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
    return buf.getvalue()


def helpers_running(root) -> list[int]:
    """cp helpers of this test's store (they inherit the CLI's DOCKYARD_ROOT):
    other runs on the machine may have helpers of their own."""
    found, mine = [], b"DOCKYARD_ROOT=" + str(root).encode() + b"\0"
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"engine.containers.copy.shell" not in f.read():
                        continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if b"\0" + mine in b"\0" + f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


def mounts_under(path) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [l.split()[1] for l in f if l.split()[1].startswith(str(path))]


# ------------------------------------------------------------------ pure rules

def test_split_and_path_rules():
    from engine.containers.copy import container_abs, split_cp_arg, split_path_dir_entry
    assert split_cp_arg("c:/etc") == ("c", "/etc")
    assert split_cp_arg("/abs:x") == (None, "/abs:x")
    assert split_cp_arg("./a:b") == (None, "./a:b")
    assert split_cp_arg("-") == (None, "-")
    assert split_path_dir_entry("/a/b/.") == ("/a/b", ".")
    assert split_path_dir_entry("/a/b/") == ("/a", "b")
    assert container_abs("etc/../../x/") == "/x/"
    assert container_abs("d/.") == "/d/."


# ------------------------------------------------------------------ files

@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_file_out_and_in(root, tmp_path, running):
    cid = container(root, "c", running)
    out = tmp_path / "passwd"
    ok(root, "cp", "c:/etc/passwd", str(out))
    assert b"nobody:x:65534" in out.read_bytes()
    assert out.stat().st_uid == 0

    src = tmp_path / "in.txt"
    src.write_bytes(b"hello from the host\n")
    os.chmod(src, 0o640)
    os.chown(src, 1234, 1234)
    ok(root, "cp", str(src), "c:/in.txt")
    landed = os.path.join(upper(root, cid), "in.txt")  # the writable layer: diff/commit see it
    st = os.lstat(landed)
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == (0, 0)
    ok(root, "cp", "-a", str(src), "c:/kept.txt")
    st = os.lstat(os.path.join(upper(root, cid), "kept.txt"))
    assert (st.st_uid, st.st_gid) == (1234, 1234) and stat.S_IMODE(st.st_mode) == 0o640

    # and back out: owner is the caller's unless -a
    ok(root, "cp", "c:/kept.txt", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == b"hello from the host\n"
    assert (tmp_path / "back").stat().st_uid == 0
    ok(root, "cp", "-a", "c:/kept.txt", str(tmp_path / "back-a"))
    assert (tmp_path / "back-a").stat().st_uid == 1234
    assert stat.S_IMODE((tmp_path / "back-a").stat().st_mode) == 0o640
    if running:
        assert ok(root, "exec", "c", "cat", "/in.txt").stdout == b"hello from the host\n"


def test_copy_in_to_stopped_then_start_sees_it(root, tmp_path):
    cid = ok(root, "create", "--name", "later", "busybox", "sh", "-c",
             "/opt/run.sh; cat /opt/note").stdout.decode().strip()
    app = tmp_path / "app"
    app.mkdir()
    (app / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(app / "run.sh", 0o755)
    note = tmp_path / "note"
    note.write_text("a note\n")
    # /opt/ does not exist: a file cannot create it (docker's rule)
    assert err(root, "cp", str(note), "later:/opt/") == "Error: no such directory"
    ok(root, "cp", str(app), "later:/opt")        # a directory to a missing dest: created with its contents
    ok(root, "cp", str(note), "later:/opt/note")  # a file to a missing name: created
    assert mounts_under(tmp_path) == [] and helpers_running(root) == []
    assert os.path.isfile(os.path.join(upper(root, cid), "opt/run.sh"))
    ok(root, "start", "later")
    assert ok(root, "wait", "later").stdout.strip() == b"0"
    assert ok(root, "logs", "later").stdout == b"ran\na note\n"


# ------------------------------------------------------------------ directories

@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_directories_both_ways(root, tmp_path, running):
    cid = container(root, "c", running)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f\n")
    (tree / "top").write_text("top\n")
    os.symlink("sub/f", tree / "link")
    os.chmod(tree / "sub", 0o750)

    ok(root, "cp", str(tree), "c:/new")               # dest missing: created with SRC's contents
    ok(root, "cp", str(tree), "c:/tmp")               # dest a directory: SRC copied into it
    up = upper(root, cid)
    assert open(os.path.join(up, "new/sub/f")).read() == "f\n"
    assert os.readlink(os.path.join(up, "new/link")) == "sub/f"
    assert stat.S_IMODE(os.stat(os.path.join(up, "new/sub")).st_mode) == 0o750
    assert open(os.path.join(up, "tmp/tree/top")).read() == "top\n"
    ok(root, "cp", str(tree) + "/.", "c:/etc")        # SRC/. : the contents into the directory
    assert open(os.path.join(up, "etc/top")).read() == "top\n"

    out = tmp_path / "out"
    ok(root, "cp", "c:/new", str(out))                # dest missing: created
    assert (out / "sub" / "f").read_text() == "f\n" and os.readlink(out / "link") == "sub/f"
    ok(root, "cp", "c:/new", str(out))                # dest exists: copied into it
    assert (out / "new" / "top").read_text() == "top\n"
    ok(root, "cp", "c:/etc/.", str(out))              # SRC/. : contents into it
    assert b"nobody" in (out / "passwd").read_bytes() and (out / "top").read_text() == "top\n"
    ok(root, "cp", "c:/etc/", str(tmp_path / "etc2"))
    assert (tmp_path / "etc2" / "group").exists()


def test_destination_rules(root, tmp_path):
    container(root, "c", False)
    d = tmp_path / "d"
    d.mkdir()
    ok(root, "cp", "c:/etc/group", str(d))            # file into an existing directory
    assert (d / "group").exists()
    msg = err(root, "cp", "c:/etc/group", str(tmp_path / "nodir") + "/")
    assert msg == "Error: no such directory"
    assert not (tmp_path / "nodir").exists()
    (tmp_path / "afile").write_text("old")
    ok(root, "cp", "c:/etc/group", str(tmp_path / "afile"))  # file over a file
    assert b"root:x:0:" in (tmp_path / "afile").read_bytes()
    assert err(root, "cp", "c:/etc", str(tmp_path / "afile")) == "Error: cannot copy directory"
    msg = err(root, "cp", "c:/etc/group", str(tmp_path / "missing" / "x"))
    assert "does not exist" in msg
    # the same rules inside the container
    assert err(root, "cp", str(tmp_path / "afile"), "c:/newdir/") == "Error: no such directory"
    assert err(root, "cp", str(d), "c:/etc/passwd") == "Error: cannot copy directory"
    assert err(root, "cp", str(tmp_path / "afile"), "c:/nope/x") == \
        "Error: Could not find the file /nope in container c"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".dockyard-cp-")]


def test_errors_like_docker(root, tmp_path):
    container(root, "x", False)
    assert err(root, "cp", "x:/nope", str(tmp_path / "o")) == "Error: No such container:path: x:/nope"
    assert not (tmp_path / "o").exists()
    assert err(root, "cp", "zzz:/etc", str(tmp_path)) == "Error: No such container: zzz"
    assert "lstat" in err(root, "cp", str(tmp_path / "nothere"), "x:/tmp")
    assert err(root, "cp", "x:/a", "x:/b") == "Error: copying between containers is not supported"
    assert err(root, "cp", "a", "b") == "Error: must specify at least one container source"


def test_read_only_rootfs_refuses_copy_in(root, tmp_path):
    ok(root, "create", "--name", "ro", "--read-only", "busybox", "true")
    (tmp_path / "f").write_text("x")
    assert err(root, "cp", str(tmp_path / "f"), "ro:/f") == "Error: container rootfs is marked read-only"


# ------------------------------------------------------------------ tar streams

@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_tar_streams(root, tmp_path, running):
    cid = container(root, "c", running)
    data = ok(root, "cp", "c:/etc", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
        assert "etc" in names and "etc/passwd" in names
        assert b"nobody" in tf.extractfile("etc/passwd").read()
    data = ok(root, "cp", "c:/etc/passwd", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames() == ["passwd"]

    stream = tar_of(("a", "dir", None, 0o755, 0), ("a/b.txt", "file", b"bee\n", 0o600, 7))
    ok(root, "cp", "-", "c:/tmp", input=stream)
    st = os.lstat(os.path.join(upper(root, cid), "tmp/a/b.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    ok(root, "cp", "-a", "-", "c:/tmp", input=stream)
    assert os.lstat(os.path.join(upper(root, cid), "tmp/a/b.txt")).st_uid == 7
    assert err(root, "cp", "-", "c:/etc/passwd", input=stream) == \
        'Error: destination "c:/etc/passwd" must be a directory'
    assert "truncated or corrupt" in err(root, "cp", "-", "c:/tmp", input=b"not a tar" * 100)


# ------------------------------------------------------------------ symlinks never leave the container

@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_symlinks_never_reach_the_host(root, tmp_path, running):
    hostdir = tmp_path / "host"
    hostdir.mkdir()
    sentinel = hostdir / "sentinel"
    sentinel.write_bytes(b"HOST-ONLY-SECRET\n")
    os.chmod(sentinel, 0o644)
    before = sentinel.stat()
    cid = container(root, "c", False)
    # Plant the symlinks with cp itself (works on a stopped container).
    ok(root, "cp", "-", "c:/", input=tar_of(
        ("escape", "link", "/", 0o777, 0),
        ("etc/x", "link", str(sentinel), 0o777, 0),
        ("etc/y", "link", "/etc/passwd", 0o777, 0),
        ("up", "link", "../../../../../../../../..", 0o777, 0),
        ("hostdir", "link", str(hostdir), 0o777, 0),
    ))
    if running:
        ok(root, "start", "c")
    out = tmp_path / "out"
    out.mkdir()

    # copy-out: the link itself, or the container's own files, never the host's
    ok(root, "cp", "c:/escape", str(out / "o1"))
    assert os.readlink(out / "o1") == "/"
    ok(root, "cp", "c:/etc/x", str(out / "o2"))
    assert os.readlink(out / "o2") == str(sentinel)
    assert err(root, "cp", "-L", "c:/etc/x", str(out / "o3")).startswith("Error: No such container:path")
    assert not os.path.lexists(out / "o3")
    ok(root, "cp", "-L", "c:/etc/y", str(out / "o4"))  # followed, inside the container
    assert b"nobody:x:65534:65534:nobody:/nonexistent" in (out / "o4").read_bytes()
    ok(root, "cp", "c:/escape/etc/passwd", str(out / "o5"))
    assert b"/nonexistent" in (out / "o5").read_bytes()
    for src in (f"c:/up{sentinel}", f"c:/escape{sentinel}", "c:/hostdir/sentinel", "c:/hostdir/"):
        assert "No such container:path" in err(root, "cp", src, str(out / "o6"))
    assert "No such container:path" in err(root, "cp", "-L", "c:/hostdir", str(out / "o6"))
    assert not os.path.lexists(out / "o6")
    stream = ok(root, "cp", "c:/escape/", "-").stdout  # the container's root, named "escape"
    with tarfile.open(fileobj=io.BytesIO(stream)) as tf:
        names = set(tf.getnames())
        assert "escape/bin/busybox" in names
        assert not any("HOST-ONLY" in n or n.endswith("sentinel") for n in names)
        assert all(b"HOST-ONLY-SECRET" not in tf.extractfile(m).read() for m in tf.getmembers() if m.isfile())
    for f in out.rglob("*"):
        if f.is_file() and not f.is_symlink():
            assert b"HOST-ONLY-SECRET" not in f.read_bytes()

    # copy-in: through every link, nothing lands on the host
    payload = tmp_path / "payload"
    payload.write_bytes(b"PWNED\n")
    assert err(root, "cp", str(payload), "c:/etc/x") == \
        f"Error: Could not find the file {sentinel.parent} in container c"
    for dst in (f"c:/escape{sentinel}", f"c:/up{sentinel}", "c:/hostdir/sentinel", "c:/hostdir/new",
                f"c:/up{hostdir}/"):
        assert err(root, "cp", str(payload), dst).startswith("Error: ")
    # a tar that plants a link to the host and writes through it: stays inside
    ok(root, "cp", "-", "c:/tmp", input=tar_of(("l", "link", str(hostdir), 0o777, 0),
                                               ("l/sentinel", "file", b"PWNED\n", 0o644, 0),
                                               ("l/new", "file", b"PWNED\n", 0o644, 0)))
    inside = os.path.join(upper(root, cid), str(hostdir).lstrip("/"))
    assert open(os.path.join(inside, "sentinel"), "rb").read() == b"PWNED\n"
    assert "points outside" in err(root, "cp", "-", "c:/tmp", input=tar_of(("../../../../x", "file", b"x", 0o644, 0)))
    assert sentinel.read_bytes() == b"HOST-ONLY-SECRET\n"
    after = sentinel.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (before.st_ino, before.st_mtime_ns,
                                                                    before.st_ctime_ns)
    assert sorted(os.listdir(hostdir)) == ["sentinel"]
    assert not os.path.lexists(tmp_path.parent / "x") and not os.path.lexists("/x")


def test_nothing_left_behind(root, tmp_path):
    container(root, "c", False)
    (tmp_path / "f").write_text("x")
    ok(root, "cp", str(tmp_path / "f"), "c:/f")
    ok(root, "cp", "c:/f", str(tmp_path / "g"))
    err(root, "cp", "c:/nope", str(tmp_path / "h"))
    assert mounts_under(tmp_path) == []
    assert helpers_running(root) == []
    assert json.loads(ok(root, "inspect", "c").stdout)[0]["State"]["Status"] == "created"
