"""The layer model on hand-made file indexes: A/M/R per layer, the merged tree,
and dive's numbers computed by hand (and dive's own test case)."""
import os
import stat

from engine.images.fileindex import FileIndex, decode, encode, walk
from engine.images.layertree import LayerInfo, LayerTree
from engine.layers.apply import Entry
from tests.conftest import need_root


def E(path, type_="file", size=0, mode=0o644, uid=0, gid=0, link=""):
    return Entry(path, type_, size, mode, uid, gid, link, type_ in ("whiteout", "opaque"))


def D(path, mode=0o755):
    return E(path, "dir", 0, mode)


def tree(*layers, sizes=None):
    idx = [decode(encode(l)) for l in layers]  # through the stored form
    sizes = sizes or [sum(e.size for e in l if e.type == "file") for l in layers]
    return LayerTree([LayerInfo(i, f"layer {i}", s) for i, s in enumerate(sizes)], idx)


def changes(t, n):
    return [(c.kind, c.path, c.type, c.size) for c in t.layers[n].changes]


def test_overwrite_and_remove_hand_computed():
    # layer 0: a 1000-byte file and a 500-byte file; layer 1 overwrites the
    # first with 3000 bytes and removes the second.
    t = tree([D("data"), E("data/big", size=1000), E("data/small", size=500)],
             [D("data"), E("data/big", size=3000), E("data/small", "whiteout")])
    # dive: /data/big visited 1000 + 3000 (min 1000), /data/small 500 + 0 (the
    # whiteout of a file adds 0; min 0). efficiency = sum(min) / sum(cumulative);
    # wasted = sum of the cumulative sizes of the paths seen more than once.
    assert t.efficiency == 1000 / 4500
    assert t.wasted_bytes == 4500
    assert t.user_size == 3000 and t.size == 4500
    assert t.wasted_user_percent == 1.5
    assert [(x.path, x.count, x.cumulative_size, x.min_size) for x in t.inefficiencies] == [
        ("/data/big", 2, 4000, 1000), ("/data/small", 2, 500, 0)]
    # ours: the bytes of lower versions no longer visible: 1000 overwritten + 500 removed
    assert t.shadowed_bytes == 1500
    assert changes(t, 0) == [("A", "/data", "dir", 0), ("A", "/data/big", "file", 1000),
                             ("A", "/data/small", "file", 500)]
    assert changes(t, 1) == [("M", "/data", "dir", 0), ("M", "/data/big", "file", 3000),
                             ("R", "/data/small", "file", 500)]
    l1 = t.layers[1]
    assert (l1.added, l1.modified, l1.removed, l1.modified_bytes, l1.removed_bytes, l1.replaced_bytes) == \
        (0, 2, 1, 3000, 500, 1000)
    assert [(n.path, n.size, n.layer, t.change_kind(n)) for n in t.walk()] == [
        ("/data", 0, 1, "M"), ("/data/big", 3000, 1, "M")]
    assert t.node("/data/small") is None and t.node("data/big").size == 3000


def test_dive_efficiency_test_case():
    # dive/filetree/efficiency_test.go: no directory entries; the whiteout of
    # /etc/nginx removes what dive sees as a plain (implied) node, so adds 0.
    t = tree([E("etc/nginx/nginx.conf", size=2000), E("etc/nginx/public", size=3000)],
             [E("etc/nginx/nginx.conf", size=5000), E("etc/athing", size=10000)],
             [E("etc/nginx", "whiteout")])
    assert t.efficiency == 0.75
    assert [(x.path, x.cumulative_size) for x in t.inefficiencies] == [("/etc/nginx/nginx.conf", 7000)]
    assert t.wasted_bytes == 7000
    assert changes(t, 2) == [("R", "/etc/nginx", "dir", 8000)]
    assert sorted(n.path for n in t.walk()) == ["/etc", "/etc/athing"]


def test_directory_whiteout_counts_the_subtree():
    t = tree([D("a"), E("a/x", size=100), E("a/y", size=200), E("keep", size=7)],
             [E("a", "whiteout")])
    # dive: the whiteout visits /a with the 300 bytes below it, once: no waste
    assert t.efficiency == 1.0 and t.wasted_bytes == 0
    assert changes(t, 1) == [("R", "/a", "dir", 300)]
    assert t.shadowed_bytes == 300
    assert [n.path for n in t.walk()] == ["/keep"]


def test_opaque_directory_hides_lower_content():
    t = tree([D("d"), E("d/x", size=10), E("d/y", size=20), D("d/sub"), E("d/sub/z", size=1)],
             [D("d"), E("d", "opaque"), E("d/x", size=7), E("d/new", size=5)])
    assert changes(t, 1) == [("M", "/d", "dir", 0), ("A", "/d/new", "file", 5), ("R", "/d/sub", "dir", 1),
                             ("M", "/d/x", "file", 7), ("R", "/d/y", "file", 20)]
    assert [n.path for n in t.walk()] == ["/d", "/d/new", "/d/x"]
    # dive does not read opaque markers: only /d/x is seen twice
    assert t.wasted_bytes == 17
    assert t.efficiency == (7 + 20 + 1 + 5) / (10 + 20 + 1 + 7 + 5)
    assert t.shadowed_bytes == 10 + 20 + 1


def test_directory_replaced_by_a_file_and_implied_parents():
    t = tree([D("a"), E("a/x", size=3), E("b", size=4)],
             [E("a", "file", size=9), E("deep/er/f", size=1)])
    assert changes(t, 1) == [("M", "/a", "file", 9), ("R", "/a/x", "file", 3), ("A", "/deep/er/f", "file", 1)]
    nodes = {n.path: (n.type, n.layer) for n in t.walk()}
    assert nodes == {"/a": ("file", 1), "/b": ("file", 0), "/deep": ("dir", 1), "/deep/er": ("dir", 1),
                     "/deep/er/f": ("file", 1)}


def test_duplicates_in_one_layer_last_wins_and_links():
    t = tree([E("f", size=1), E("f", size=2), E("l", "symlink", link="f"), E("h", "hardlink", link="f"),
              E(".", "dir")])
    assert changes(t, 0) == [("A", "/f", "file", 2), ("A", "/h", "hardlink", 0), ("A", "/l", "symlink", 0)]
    assert t.node("/l").linkname == "f" and t.node("/h").linkname == "f"
    assert t.efficiency == 1.0 and t.wasted_bytes == 0


def test_empty_image_and_json():
    t = tree([])
    assert t.efficiency == 1.0 and t.wasted_bytes == 0 and t.file_count == 0
    doc = tree([D("x"), E("x/y", size=3)]).as_dict()
    assert doc["tree"] == [
        {"path": "/x", "type": "dir", "size": 0, "mode": 0o755, "uid": 0, "gid": 0, "linkname": "", "layer": 0,
         "kind": "A"},
        {"path": "/x/y", "type": "file", "size": 3, "mode": 0o644, "uid": 0, "gid": 0, "linkname": "", "layer": 0,
         "kind": "A"}]
    assert doc["layers"][0]["changes"][1]["path"] == "/x/y"


def test_index_round_trip_odd_names():
    entries = [D("."), E("caf\udcff", size=5, uid=70000, gid=4294967294), E("new\nline", size=1),
               E("sym", "symlink", link="/x y"), E("hl", "hardlink", link="caf\udcff"),
               E("gone", "whiteout"), E("dir", "opaque"), E("dev", "char", mode=0o600), E("p", "fifo")]
    back = decode(encode(entries))
    assert back.entries() == entries
    assert decode(encode(FileIndex.from_entries([]))).entries() == []


def test_walk_reads_overlay_form(tmp_path):
    need_root()  # whiteout devices, trusted xattrs
    r = tmp_path / "layer"
    (r / "d" / "sub").mkdir(parents=True)
    (r / "d" / "f").write_bytes(b"12345")
    os.link(r / "d" / "f", r / "d" / "g")
    os.symlink("f", r / "d" / "s")
    os.mknod(r / "d" / "wh", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.setxattr(r / "d" / "sub", "trusted.overlay.opaque", b"y")
    got = [(e.path, e.type, e.size, e.linkname) for e in walk(str(r))]
    assert got == [("d", "dir", 0, ""), ("d/f", "file", 5, ""), ("d/g", "hardlink", 0, "d/f"),
                   ("d/s", "symlink", 0, "f"), ("d/sub", "dir", 0, ""), ("d/sub", "opaque", 0, ""),
                   ("d/wh", "whiteout", 0, "")]
