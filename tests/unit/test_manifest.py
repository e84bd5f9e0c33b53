import base64
import json
from pathlib import Path

import pytest

from engine.errors import CorruptArchive
from engine.images import manifest as mf
from tests.oci_schema import SCHEMA_DIR, InvalidDocument, validate

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
CONFIG = mf.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/bin", "EMPTY="], "Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
    "history": [{"created_by": "a"}, {"created_by": "ENV", "empty_layer": True}, {"created_by": "b"}],
})


def _manifest(**over):
    m = {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
         "config": mf.descriptor(mf.OCI_CONFIG, CONFIG),
         "layers": [mf.descriptor(mf.OCI_LAYER_ZSTD, D1, 10), mf.descriptor(mf.OCI_LAYER_ZSTD, D2, 20)]}
    m.update(over)
    return m


def test_schemas_found_beside_repo():
    assert SCHEMA_DIR.is_dir()
    assert SCHEMA_DIR.parent.parent.parent == Path(__file__).resolve().parents[2].parent


def test_dumps_compact_keeps_order_and_utf8():
    assert mf.dumps({"b": 1, "a": [1, 2], "é": "ü"}) == '{"b":1,"a":[1,2],"é":"ü"}'.encode()


def test_descriptor_from_bytes_and_digest():
    d = mf.descriptor(mf.OCI_CONFIG, b"abc")
    assert d == {"mediaType": mf.OCI_CONFIG,
                 "digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                 "size": 3}
    d = mf.descriptor(mf.OCI_LAYER, D1, 5, annotations={"k": "v"}, platform={"os": "linux", "architecture": "amd64"})
    assert d["annotations"] == {"k": "v"} and d["platform"]["os"] == "linux"
    with pytest.raises(ValueError):
        mf.descriptor(mf.OCI_LAYER, D1)          # digest without size
    with pytest.raises(ValueError):
        mf.descriptor(mf.OCI_LAYER, "sha256:ABC", 1)
    with pytest.raises(ValueError):
        mf.descriptor(mf.OCI_LAYER, b"abc", 4)


def test_built_documents_validate():
    m = mf.build_manifest(mf.descriptor(mf.OCI_CONFIG, CONFIG),
                          [mf.descriptor(mf.OCI_LAYER_ZSTD, D1, 10)], annotations={"a": "b"})
    assert json.loads(m)["schemaVersion"] == 2 and json.loads(m)["mediaType"] == mf.OCI_MANIFEST
    validate("manifest", m)
    validate("index", mf.build_index([mf.descriptor(mf.OCI_MANIFEST, m, platform={"os": "linux", "architecture": "amd64"},
                                                    annotations={mf.ANNOTATION_REF_NAME: "latest"})]))
    validate("config", CONFIG)
    validate("layout", mf.OCI_LAYOUT)


@pytest.mark.parametrize("doc, msg", [
    (_manifest(config=None) | {"config": None}, "config"),
    ({k: v for k, v in _manifest().items() if k != "config"}, "config"),
    (_manifest(layers="x"), "layers"),
    (_manifest(layers=[{"mediaType": mf.OCI_LAYER, "digest": "sha256:" + "A" * 64, "size": 1}]), "digest"),
    (_manifest(schemaVersion=1), "schemaVersion"),
])
def test_validator_rejects_broken_manifests(doc, msg):
    with pytest.raises(InvalidDocument, match=msg):
        validate("manifest", json.dumps(doc).encode())


def test_validator_extra_checks():
    with pytest.raises(InvalidDocument, match="Env"):
        validate("config", CONFIG.replace(b"EMPTY=", b"EMPTY"))
    good = mf.descriptor(mf.OCI_CONFIG, CONFIG) | {"data": base64.b64encode(CONFIG).decode()}
    validate("manifest", json.dumps(_manifest(config=good)).encode())
    unpadded = mf.descriptor(mf.OCI_CONFIG, b"ab") | {"data": "YWI"}    # b"ab" is "YWI=" padded
    with pytest.raises(InvalidDocument, match="base64"):
        validate("manifest", json.dumps(_manifest(config=unpadded)).encode())
    wrong = mf.descriptor(mf.OCI_CONFIG, b"ab") | {"data": "YWM="}      # b"ac"
    with pytest.raises(InvalidDocument, match="does not match"):
        validate("manifest", json.dumps(_manifest(config=wrong)).encode())
    with pytest.raises(InvalidDocument, match="not JSON"):
        validate("index", b"{")


def test_parse_manifest_accepts_oci_and_docker():
    assert mf.parse_manifest(json.dumps(_manifest()).encode())["layers"][1]["size"] == 20
    docker = _manifest(mediaType=mf.DOCKER_MANIFEST)
    docker["config"]["mediaType"] = mf.DOCKER_CONFIG
    assert mf.parse_manifest(json.dumps(docker).encode())["mediaType"] == mf.DOCKER_MANIFEST
    no_type = _manifest()
    del no_type["mediaType"]
    mf.parse_manifest(json.dumps(no_type).encode())


@pytest.mark.parametrize("doc, msg", [
    ({k: v for k, v in _manifest().items() if k != "config"}, "no config"),
    (_manifest(layers={"a": 1}), "layers is not a list"),
    (_manifest(layers=[{"mediaType": mf.OCI_LAYER, "digest": "sha256:abc", "size": 1}]), "layer 0 has a bad digest"),
    (_manifest(config={"mediaType": mf.OCI_CONFIG, "digest": "md5:00", "size": 1}), "config has a bad digest"),
    (_manifest(layers=[{"mediaType": mf.OCI_LAYER, "digest": D1, "size": -1}]), "bad size"),
    (_manifest(schemaVersion=1), "schemaVersion"),
    (_manifest(mediaType=mf.OCI_INDEX), "index"),
    ([1, 2], "not a JSON object"),
])
def test_parse_manifest_errors(doc, msg):
    with pytest.raises(CorruptArchive, match=msg):
        mf.parse_manifest(json.dumps(doc).encode())


def test_parse_manifest_not_json():
    with pytest.raises(CorruptArchive, match="not valid JSON"):
        mf.parse_manifest(b"\xff{")


def test_parse_index():
    idx = mf.parse_index(mf.build_index([mf.descriptor(mf.OCI_MANIFEST, D1, 3)]))
    assert idx["manifests"][0]["digest"] == D1
    with pytest.raises(CorruptArchive, match="manifests is not a list"):
        mf.parse_index(b'{"schemaVersion":2}')


def test_check_invariants():
    config = json.loads(CONFIG)
    mf.check_invariants(_manifest(), config)
    with pytest.raises(CorruptArchive, match="2 layers but the config has 1 diff ids"):
        mf.check_invariants(_manifest(), config | {"rootfs": {"type": "layers", "diff_ids": [D1]}})
    with pytest.raises(CorruptArchive, match="history has 3 non-empty"):
        mf.check_invariants(_manifest(), config | {"history": [{}, {}, {}]})
    mf.check_invariants(_manifest(), config | {"history": [{}, {}, {}]}, check_history=False)
    mf.check_invariants(_manifest(), {k: v for k, v in config.items() if k != "history"})
    with pytest.raises(CorruptArchive, match="rootfs.type"):
        mf.check_invariants(_manifest(), config | {"rootfs": {"type": "x", "diff_ids": [D1, D2]}})
    with pytest.raises(CorruptArchive, match="no rootfs"):
        mf.check_invariants(_manifest(), {})


def test_platform_of():
    assert mf.platform_of({"os": "linux", "architecture": "arm64", "variant": "v8"}) == {
        "architecture": "arm64", "os": "linux", "variant": "v8"}
    assert mf.platform_of({"os": "linux"}) is None
