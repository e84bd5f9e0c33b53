"""The layer model through the store: indexes recorded when layers come in
(load, import), built lazily for layers stored without one, dropped with the
layers; exact numbers on a small loaded image; `dockyard image tree`."""
import io
import json
import tarfile

import pytest

from engine.images import fileindex
from engine.images.archive_write import write_docker_archive
from tests.conftest import run_cli
from tests.integration.test_archive_interop import save_image

MTIME = 1_700_000_000


def _tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = MTIME
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


LAYER0 = _tar([("data", None), ("data/big", b"a" * 1000), ("data/small", b"b" * 500)])
LAYER1 = _tar([("data", None), ("data/big", b"c" * 3000), ("data/.wh.small", b"")])


@pytest.fixture
def loaded(engine, tmp_path):
    path = tmp_path / "two.tar"
    with open(path, "wb") as f:
        write_docker_archive(f, [save_image([LAYER0, LAYER1], ["localhost/two:1"])])
    engine.load(str(path))
    return engine


def _check_numbers(t):
    assert [l.size for l in t.layers] == [1500, 3000]
    assert [l.created_by for l in t.layers] == ["layer 0", "layer 1"]
    assert all(l.digest and l.digest.startswith("sha256:") for l in t.layers)
    assert t.wasted_bytes == 4500 and t.efficiency == 1000 / 4500
    assert t.user_size == 3000 and t.wasted_user_percent == 1.5 and t.shadowed_bytes == 1500
    assert [(c.kind, c.path, c.size) for c in t.layers[1].changes] == [
        ("M", "/data", 0), ("M", "/data/big", 3000), ("R", "/data/small", 500)]
    assert [(n.path, n.size, n.layer) for n in t.walk()] == [("/data", 0, 1), ("/data/big", 3000, 1)]


def test_index_recorded_at_load_and_model_numbers(loaded):
    t = loaded.layer_tree("localhost/two:1")
    _check_numbers(t)
    rows = loaded.store.db.query("SELECT diff_id, entries FROM layer_files ORDER BY entries")
    assert {r["diff_id"] for r in rows} == {l.diff_id for l in t.layers}
    idx = fileindex.decode(loaded.store.db.query("SELECT data FROM layer_files WHERE diff_id = ?",
                                                 (t.layers[1].diff_id,))[0]["data"])
    assert list(zip(idx.paths, idx.types, idx.sizes)) == [("data", "d", 0), ("data/big", "f", 3000),
                                                          ("data/small", "w", 0)]


def test_index_built_lazily_for_older_layers(loaded, tmp_path):
    from engine import Engine
    with loaded.store.db.tx() as c:
        c.execute("DELETE FROM layer_files")
    root = loaded.root
    loaded.close()
    eng = Engine(root)
    try:
        _check_numbers(eng.layer_tree("localhost/two:1"))  # from the unpacked directories
        assert len(eng.store.db.query("SELECT 1 FROM layer_files")) == 2  # and kept
    finally:
        eng.close()


def test_schema_added_to_an_older_root(loaded):
    from engine import Engine
    with loaded.store.db.tx() as c:
        c.execute("DROP TRIGGER layer_files_gc")
        c.execute("DROP TABLE layer_files")
    root = loaded.root
    loaded.close()
    for _ in range(2):  # idempotent
        eng = Engine(root)
        try:
            _check_numbers(eng.layer_tree("localhost/two:1"))
        finally:
            eng.close()


def test_index_dropped_with_its_layers(loaded):
    loaded.remove_image("localhost/two:1")
    assert loaded.store.db.query("SELECT 1 FROM layer_files") == []


def test_import_records_the_index(engine):
    iid = engine.import_image(io.BytesIO(LAYER0), "localhost/imp:1")
    t = engine.layer_tree(iid)
    assert engine.store.db.query("SELECT entries FROM layer_files WHERE diff_id = ?",
                                 (t.layers[0].diff_id,))[0]["entries"] == 3
    assert [(c.kind, c.path) for c in t.layers[0].changes] == [("A", "/data"), ("A", "/data/big"),
                                                               ("A", "/data/small")]
    assert t.efficiency == 1.0 and t.wasted_bytes == 0 and t.user_size == 0


def test_image_tree_cli(loaded):
    root = loaded.root
    loaded.close()
    out = run_cli("image", "tree", "localhost/two:1", root=root).stdout.decode()
    assert "Efficiency: 22.2222 %   Wasted: 4.5kB (4500 bytes)   User size: 3kB   Wasted of user size: 150.0000 %" in out
    lines = out.splitlines()
    assert any(l.split()[:2] == ["0", "1.5kB"] and l.endswith("layer 0") for l in lines)
    assert any(l.startswith("M") and l.endswith("└── big") and " 1 " in l for l in lines)
    out = run_cli("image", "tree", "--layer", "1", "localhost/two:1", root=root).stdout.decode().splitlines()
    assert out[-3:] == ["M   drwxr-xr-x   0:0       -      /data",
                        "M   -rw-r--r--   0:0       3kB    /data/big",
                        "R   -rw-r--r--   0:0       500B   /data/small"]
    doc = json.loads(run_cli("image", "tree", "--json", "localhost/two:1", root=root).stdout)
    assert doc["wasted_bytes"] == 4500 and len(doc["layers"]) == 2 and doc["tree"][1]["path"] == "/data/big"
    one = json.loads(run_cli("image", "tree", "--json", "--layer", "-1", "localhost/two:1", root=root).stdout)
    assert one["index"] == 1 and [c["kind"] for c in one["changes"]] == ["M", "M", "R"]
    p = run_cli("image", "tree", "--layer", "5", "localhost/two:1", root=root, check=False)
    assert p.returncode != 0 and b"--layer takes 0 to 1" in p.stderr


def test_format_1_index_with_tar_names_is_rebuilt_resolved(engine):
    """Indexes recorded before paths were resolved (format 1) named `l/x` for
    an entry that landed at etc/x: they are rebuilt from the layer directory."""
    from engine import Engine
    from engine.layers import Entry
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in [("etc", tarfile.DIRTYPE, None), ("l", tarfile.SYMTYPE, None), ("l/x", tarfile.REGTYPE, b"1")]:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mtime, ti.linkname = kind, MTIME, "/etc" if kind == tarfile.SYMTYPE else ""
            ti.size = len(data or b"")
            t.addfile(ti, io.BytesIO(data) if data else None)
    iid = engine.import_image(io.BytesIO(buf.getvalue()), "localhost/old:1")
    assert [c.path for c in engine.layer_tree(iid).layers[0].changes] == ["/etc", "/etc/x", "/l"]
    diff_id = engine.layer_tree(iid).layers[0].diff_id
    old = fileindex.encode([Entry("etc", "dir", 0, 0o755, 0, 0, "", False),
                            Entry("l", "symlink", 0, 0o777, 0, 0, "/etc", False),
                            Entry("l/x", "file", 1, 0o644, 0, 0, "", False)])
    with engine.store.db.tx() as c:
        c.execute("UPDATE layer_files SET format = 1, data = ? WHERE diff_id = ?", (old, diff_id))
    eng = Engine(engine.root)  # a fresh engine: no cached tree
    try:
        assert [c.path for c in eng.layer_tree(iid).layers[0].changes] == ["/etc", "/etc/x", "/l"]
    finally:
        eng.close()
