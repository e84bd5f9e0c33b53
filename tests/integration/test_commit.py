"""diff, commit and export for real, through the CLI: the committed layer's
exact OCI entries, what a container of the new image sees (here and in
podman), a commit while the container writes, -c changes, an empty diff, and
export -> import."""
import io
import json
import os
import struct
import tarfile
import time

import zstandard

from engine.layers.apply import OVERLAY_OPAQUE_XATTR
from tests.conftest import run_cli
from tests.integration.test_archive_interop import ULIMITS, work  # noqa: F401 (fixture)
from tests.oci_schema import validate

# vfs_cap_data v2: cap_net_raw (13) permitted + effective
CAP = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)

CHANGES = ("set -e; mkdir -p /new/sub; echo hello > /new/a; ln /new/a /new/b; ln -s ../new/a /new/link; "
           "echo cap > /new/capfile; chown 1000:1000 /new/a; chmod 640 /new/a; "
           "echo extra >> /etc/passwd; rm /etc/group; rm /bin/ls; "
           "rm -rf /var; mkdir /var; echo fresh > /var/fresh")

EXPECTED = {  # name -> (type, linkname)
    "bin": (tarfile.DIRTYPE, ""),
    "bin/.wh.ls": (tarfile.REGTYPE, ""),
    "etc": (tarfile.DIRTYPE, ""),
    "etc/.wh.group": (tarfile.REGTYPE, ""),
    "etc/passwd": (tarfile.REGTYPE, ""),
    "new": (tarfile.DIRTYPE, ""),
    "new/a": (tarfile.REGTYPE, ""),
    "new/b": (tarfile.LNKTYPE, "new/a"),
    "new/capfile": (tarfile.REGTYPE, ""),
    "new/link": (tarfile.SYMTYPE, "../new/a"),
    "new/sub": (tarfile.DIRTYPE, ""),
    "var": (tarfile.DIRTYPE, ""),
    "var/.wh..wh..opq": (tarfile.REGTYPE, ""),
    "var/fresh": (tarfile.REGTYPE, ""),
}

DIFF = ["C /bin", "D /bin/ls", "C /etc", "D /etc/group", "C /etc/passwd", "A /new", "A /new/a", "A /new/b",
        "A /new/capfile", "A /new/link", "A /new/sub", "D /var", "A /var/fresh"]

PROBE = ("test ! -e /etc/group && test ! -e /bin/ls && test ! -e /var/tmp && echo gone; ls /var; cat /new/b; "
         "stat -c '%h %u:%g %a' /new/a; readlink /new/link; tail -n 1 /etc/passwd")
PROBE_OUT = ["gone", "fresh", "hello", "2 1000:1000 640", "../new/a", "extra"]


def dy(root, *args, **kw):
    return run_cli(*args, root=root, check=kw.pop("check", True), **kw)


def engine(root):
    from engine import Engine
    return Engine(root)


def layer_tar(eng, ref: str, n: int = -1) -> tuple[tarfile.TarFile, bytes]:
    doc = eng.inspect_image(ref)
    desc = doc["Manifest"]["Layers"][n]
    assert desc["MediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    blob = eng.store.blobs.read_bytes(desc["Digest"])
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    return tarfile.open(fileobj=io.BytesIO(raw)), raw


def changed_container(root, name="c1"):
    dy(root, "run", "--name", name, "busybox", "sh", "-c", CHANGES)
    upper = os.path.join(root, "containers", engine_id(root, name), "upper")
    os.setxattr(os.path.join(upper, "new/capfile"), "security.capability", CAP)
    return upper


def engine_id(root, name):
    return json.loads(dy(root, "inspect", name).stdout)[0]["Id"]


def test_commit_writes_the_exact_oci_layer(root):
    changed_container(root)
    assert dy(root, "diff", "c1").stdout.decode().splitlines() == DIFF
    out = dy(root, "commit", "-m", "my change", "-a", "Jane <j@x>", "c1", "localhost/c1:v1").stdout.decode()
    iid = out.strip()
    assert iid.startswith("sha256:") and len(iid) == 71
    eng = engine(root)
    try:
        img = eng.image("localhost/c1:v1")
        assert img.id == iid and img.layers == 2
        tf, raw = layer_tar(eng, "localhost/c1:v1")
        members = tf.getmembers()
        assert {m.name: (m.type, m.linkname) for m in members} == EXPECTED
        assert [m.name for m in members] == sorted(EXPECTED)  # one entry each, in order
        by = {m.name: m for m in members}
        assert (by["new/a"].uid, by["new/a"].gid, by["new/a"].mode) == (1000, 1000, 0o640)
        assert tf.extractfile("new/a").read() == b"hello\n"
        assert by["new/capfile"].pax_headers["SCHILY.xattr.security.capability"].encode(
            "utf-8", "surrogateescape") == CAP
        assert not any(k.startswith("SCHILY.xattr.trusted.") for m in members for k in m.pax_headers)
        # the config: the new layer, history, docker's fields
        cfg_bytes = eng.store.blobs.read_bytes(iid)
        validate("config", cfg_bytes)
        validate("manifest", eng.store.blobs.read_bytes(img.digest))
        cfg = json.loads(cfg_bytes)
        assert cfg["author"] == "Jane <j@x>" and cfg["comment"] == "my change"
        assert cfg["container"] == engine_id(root, "c1")
        assert cfg["config"]["Cmd"] == ["sh", "-c", CHANGES]  # the container's command, as docker
        assert cfg["container_config"]["Cmd"] == ["sh", "-c", CHANGES]
        h = cfg["history"][-1]
        assert h["created_by"] == "sh -c " + CHANGES and h["comment"] == "my change" and h["author"] == "Jane <j@x>"
        assert "empty_layer" not in h
        import hashlib
        assert cfg["rootfs"]["diff_ids"][-1] == "sha256:" + hashlib.sha256(raw).hexdigest()
        assert len(cfg["rootfs"]["diff_ids"]) == len([x for x in cfg["history"] if not x.get("empty_layer")]) == 2
        # the unpacked layer: overlay form, xattr kept; the store checks out
        chain = eng.store.db.query("SELECT top_layer FROM images WHERE id = ?", (iid,))[0]["top_layer"]
        layer_dir = eng.store.layers.path(chain)
        assert os.getxattr(os.path.join(layer_dir, "new/capfile"), "security.capability") == CAP
        assert os.getxattr(os.path.join(layer_dir, "var"), OVERLAY_OPAQUE_XATTR) == b"y"
        assert os.stat(os.path.join(layer_dir, "etc/group")).st_rdev == 0
        assert eng.check().ok
        # the file index was recorded with the layer, and matches its directory
        from engine.images import fileindex
        rec = fileindex.decode(eng.store.db.query("SELECT data FROM layer_files WHERE diff_id = ?",
                                                  (cfg["rootfs"]["diff_ids"][-1],))[0]["data"])
        walked = fileindex.FileIndex.from_entries(fileindex.walk(layer_dir))
        assert sorted(zip(rec.paths, rec.types, rec.sizes)) == sorted(zip(walked.paths, walked.types, walked.sizes))
    finally:
        eng.close()
    # history shows the new layer
    hist = dy(root, "history", "--no-trunc", "localhost/c1:v1").stdout.decode().splitlines()
    assert hist[1].startswith(iid) and "sh -c set -e;" in hist[1] and hist[1].endswith("my change")
    assert len(hist) == 3
    # a container of the new image sees the changes, deletions included
    out = dy(root, "run", "--rm", "localhost/c1:v1", "sh", "-c", PROBE).stdout.decode().split("\n")
    assert [l for l in out if l] == PROBE_OUT
    # and its own diff starts empty
    dy(root, "create", "--name", "c2", "localhost/c1:v1")
    assert dy(root, "diff", "c2").stdout == b""


def test_committed_image_runs_in_podman(root, work):  # noqa: F811
    changed_container(root)
    dy(root, "commit", "c1", "localhost/c1:v1")
    path = os.path.join(work.base, "c1.tar")
    dy(root, "save", "-o", path, "localhost/c1:v1")
    work.podman("load", "-i", path)
    out = work.podman("run", "--rm", *ULIMITS, "--network", "none", "localhost/c1:v1", "sh", "-c", PROBE)
    assert [l for l in out.split("\n") if l] == PROBE_OUT
    eng = engine(root)
    try:
        assert work.inspect("localhost/c1:v1")["RootFS"]["Layers"] == eng.inspect_image("c1:v1")["RootFS"]["Layers"]
    finally:
        eng.close()


def test_commit_of_a_running_container_while_it_writes(root):
    cid = dy(root, "run", "-d", "--name", "w", "busybox", "sh", "-c",
             "i=0; while :; do echo line$i >> /log; i=$((i+1)); done").stdout.decode().strip()
    log = os.path.join(root, "containers", cid, "upper", "log")
    for _ in range(200):
        if os.path.exists(log) and os.path.getsize(log) > 10000:
            break
        time.sleep(0.05)
    for pause in ("--pause=true", "--pause=false"):
        iid = dy(root, "commit", pause, "w", f"localhost/w:{pause[8:]}").stdout.decode().strip()
        assert iid.startswith("sha256:")
        state = json.loads(dy(root, "inspect", "w").stdout)[0]["State"]
        assert state["Status"] == "running" and not state["Paused"]
        eng = engine(root)
        try:
            tf, _ = layer_tar(eng, f"localhost/w:{pause[8:]}")
            data = tf.extractfile("log").read()
            lines = data.decode().split("\n")
            if pause == "--pause=true":  # frozen: a whole number of lines, in order
                assert data.endswith(b"\n")
                assert lines[:-1] == [f"line{i}" for i in range(len(lines) - 1)]
            else:  # consistent as a tar, the file cut anywhere
                assert all(l == f"line{i}" for i, l in enumerate(lines[:-1]))
            assert eng.check().ok
        finally:
            eng.close()
    size = os.path.getsize(log)
    time.sleep(0.3)
    assert os.path.getsize(log) > size  # it kept running after the commits
    dy(root, "rm", "-f", "w")


def test_commit_with_changes(root):
    dy(root, "create", "--name", "cc", "-e", "FROM_RUN=1", "-l", "run=yes", "busybox", "sleep", "1")
    changes = ['ENV A=1 B="two words"', "ENV C $A-x", "EXPOSE 80 53/udp", "WORKDIR /srv", "WORKDIR app",
               "USER nobody", 'LABEL org.x=y "k 2"=v', 'VOLUME ["/data"]', "STOPSIGNAL SIGINT",
               'ENTRYPOINT ["/bin/sh", "-c"]', 'CMD ["echo $A $C"]']
    args = [x for c in changes for x in ("-c", c)]
    iid = dy(root, "commit", *args, "cc", "localhost/cc:1").stdout.decode().strip()
    doc = json.loads(dy(root, "inspect", "localhost/cc:1").stdout)[0]
    assert doc["Id"] == iid
    c = doc["Config"]
    assert c["Env"] == ["FROM_RUN=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1",
                        "B=two words", "C=1-x"]
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert c["WorkingDir"] == "/srv/app" and c["User"] == "nobody" and c["StopSignal"] == "SIGINT"
    assert c["Labels"] == {"run": "yes", "org.x": "y", "k 2": "v"}
    assert c["Volumes"] == {"/data": {}}
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["echo $A $C"]
    eng = engine(root)
    try:
        validate("config", eng.store.blobs.read_bytes(iid))
    finally:
        eng.close()
    # shell form; ENTRYPOINT without CMD in the same changes resets CMD, as docker
    dy(root, "commit", "-c", "ENTRYPOINT echo hi", "cc", "localhost/cc:2")
    c = json.loads(dy(root, "inspect", "localhost/cc:2").stdout)[0]["Config"]
    assert c["Entrypoint"] == ["/bin/sh", "-c", "echo hi"] and "Cmd" not in c
    assert dy(root, "run", "--rm", "localhost/cc:2").stdout == b"hi\n"
    p = dy(root, "commit", "-c", "RUN echo no", "cc", check=False)
    assert p.returncode != 0 and b"RUN is not a valid change command" in p.stderr


def test_empty_diff_is_an_empty_layer_entry(root):
    dy(root, "create", "--name", "e", "busybox", "true")
    assert dy(root, "diff", "e").stdout == b""
    iid = dy(root, "commit", "-m", "nothing", "e").stdout.decode().strip()
    eng = engine(root)
    try:
        cfg_bytes = eng.store.blobs.read_bytes(iid)
        validate("config", cfg_bytes)
        cfg = json.loads(cfg_bytes)
        parent = json.loads(eng.store.blobs.read_bytes(eng.image("busybox").id))
        assert cfg["rootfs"]["diff_ids"] == parent["rootfs"]["diff_ids"]
        assert cfg["history"][-1]["empty_layer"] is True and cfg["history"][-1]["comment"] == "nothing"
        assert len([h for h in cfg["history"] if not h.get("empty_layer")]) == len(cfg["rootfs"]["diff_ids"])
        summary = next(i for i in eng.images() if i.id == iid)
        assert summary.tags == [] and summary.layers == 1
        validate("manifest", eng.store.blobs.read_bytes(summary.digest))
    finally:
        eng.close()
    hist = dy(root, "history", iid).stdout.decode().splitlines()
    assert len(hist) == 3 and "0B" in hist[1] and "nothing" in hist[1]


def test_export_import_round_trip(root, tmp_path):
    changed_container(root)
    out = tmp_path / "c1.tar"
    dy(root, "export", "-o", str(out), "c1")
    with tarfile.open(out) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert len(names) == len(set(names))
    by = {m.name: m for m in members}
    for gone in ("etc/group", "bin/ls", "var/tmp"):
        assert gone not in by
    assert not any(".wh." in n for n in names)
    assert by["new/b"].type == tarfile.LNKTYPE and by["new/b"].linkname == "new/a"
    assert by["var/fresh"].isreg() and by["bin/busybox"].isreg() and by["bin/sh"].issym()
    assert "etc/hosts" in by and "etc/hostname" in by  # the init layer's, as docker exports them
    assert by["new/capfile"].pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == CAP
    # stdout works too and gives the same bytes
    assert dy(root, "export", "c1").stdout == out.read_bytes()
    dy(root, "import", str(out), "localhost/exported:1")
    eng = engine(root)
    try:
        tree = eng.layer_tree("localhost/exported:1")
        assert sorted(n.path.lstrip("/") for n in tree.walk()) == sorted(names)
        assert len(tree.layers) == 1 and tree.layers[0].added == len(names)
    finally:
        eng.close()
    p = dy(root, "run", "--rm", "localhost/exported:1", "sh", "-c", PROBE)
    assert [l for l in p.stdout.decode().split("\n") if l] == PROBE_OUT


def test_diff_of_a_running_container_and_its_live_layer(root):
    dy(root, "run", "-d", "--name", "live", "busybox", "sleep", "300")
    assert dy(root, "diff", "live").stdout == b""
    dy(root, "exec", "live", "sh", "-c", "echo 12345 > /tmp/x; rm /etc/passwd; echo h >> /etc/hosts")
    assert dy(root, "diff", "live").stdout.decode().splitlines() == ["C /etc", "D /etc/passwd", "C /tmp", "A /tmp/x"]
    eng = engine(root)
    try:
        changes = eng.container_changes("live")
        assert [(c.kind, c.path, c.size) for c in changes] == [
            ("M", "/etc", 0), ("R", "/etc/passwd", _passwd_size()), ("M", "/tmp", 0), ("A", "/tmp/x", 6)]
        tree = eng.container_tree("live")
        assert tree.node("/tmp/x").layer == 1 and tree.node("/etc/passwd") is None
        assert tree.layers[-1].diff_id is None and tree.layers[-1].size == 6
    finally:
        eng.close()
    dy(root, "rm", "-f", "live")


def _passwd_size() -> int:
    from engine.images.starter import PASSWD
    return len(PASSWD)


def test_a_commit_killed_while_it_holds_the_pause_leaves_the_container_running(root):
    """kill -9 of the committer while the container is frozen for it: the
    container's monitor thaws it (the pause lives as long as the committer's
    connection). The committer is stopped (SIGSTOP) once the freezer says
    frozen, so it is killed mid-pause, not after."""
    import signal
    import subprocess
    import sys

    from engine.runtime.cgroups import Cgroup
    from tests.conftest import ROOT, wait_for
    cid = dy(root, "run", "-d", "--name", "k9", "busybox", "sh", "-c",
             "head -c 64000000 /dev/urandom > /big; i=0; while :; do i=$((i+1)); echo $i > /tick; sleep 0.02; done"
             ).stdout.decode().strip()
    tick = os.path.join(root, "containers", cid, "upper", "tick")
    wait_for(lambda: os.path.exists(tick), "the container's loop")
    cg = Cgroup(f"/dockyard/{cid}")
    # DOCKYARD_ZYGOTE=0: the commit runs in this child itself (with the zygote
    # it runs in a worker that goes when its caller is killed: the same end).
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT, DOCKYARD_ZYGOTE="0")
    p = subprocess.Popen([sys.executable, "-m", "tui.cli", "commit", "k9", "localhost/k9:1"], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: cg.state() == "frozen" or p.poll() is not None, "the commit's pause")
        os.kill(p.pid, signal.SIGSTOP)
        assert p.poll() is None, f"the commit ended before it could be stopped: {p.communicate()}"
        assert cg.state() == "frozen", "the commit had thawed the container before it could be stopped"
        assert json.loads(dy(root, "inspect", "k9").stdout)[0]["State"]["Paused"] is True
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.communicate()
    wait_for(lambda: cg.state() == "thawed", "the container thawed after its committer died")
    state = json.loads(dy(root, "inspect", "k9").stdout)[0]["State"]
    assert state["Status"] == "running" and not state["Paused"]
    with open(tick) as f:
        before = f.read()

    def moved():
        with open(tick) as f:
            return f.read() not in ("", before)
    wait_for(moved, "the container's loop to go on")
    assert dy(root, "exec", "k9", "cat", "/tick").stdout.strip().isdigit()
    dy(root, "rm", "-f", "k9")
