"""Registry credentials in docker's config.json, and credential helpers
(a real helper program on PATH speaking docker's protocol). DOCKER_CONFIG
points into tmp_path: the real ~/.docker is never touched."""
import base64
import json
import os
import stat
import sys

import pytest

from engine.errors import DockyardError
from engine.registry import credentials as cr

SECRET = "s3cr3t-Pa55word!"


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    d = tmp_path / "docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    return d / "config.json"


HELPER = r'''#!PYTHON
"""docker-credential-NAME: docker's helper protocol, its store a JSON file."""
import json, os, sys
db = os.environ["TEST_HELPER_DB"]
action = sys.argv[1]
data = sys.stdin.read()
try:
    with open(db) as f:
        store = json.load(f)
except FileNotFoundError:
    store = {}
with open(db + ".log", "a") as f:
    f.write(action + "\n")
if action == "store":
    c = json.loads(data)
    if c["Username"] == "fail":
        print("cannot store " + c["Secret"])  # a careless helper echoing the secret
        sys.exit(1)
    store[c["ServerURL"]] = [c["Username"], c["Secret"]]
elif action == "get":
    if data.strip() not in store:
        print("credentials not found in native keychain")
        sys.exit(1)
    u, s = store[data.strip()]
    print(json.dumps({"ServerURL": data.strip(), "Username": u, "Secret": s}))
elif action == "erase":
    if data.strip() not in store:
        print("credentials not found in native keychain")
        sys.exit(1)
    del store[data.strip()]
with open(db, "w") as f:
    json.dump(store, f)
'''


@pytest.fixture
def helper(tmp_path, monkeypatch):
    """docker-credential-testhelper on PATH; returns the path of its store."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "docker-credential-testhelper"
    prog.write_text(HELPER.replace("PYTHON", sys.executable))
    prog.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    db = tmp_path / "helper-store.json"
    monkeypatch.setenv("TEST_HELPER_DB", str(db))
    return db


def _auth(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_keys_are_normalised_as_docker():
    hub = "https://index.docker.io/v1/"
    for s in (None, "", "docker.io", "index.docker.io", "registry-1.docker.io", hub, "https://index.docker.io/v1"):
        assert cr.server_key(s) == hub, s
    assert cr.server_key("127.0.0.1:5000") == "127.0.0.1:5000"
    assert cr.server_key("https://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert cr.server_key("http://reg.example") == "reg.example"
    assert cr.server_key("reg.example/some/repo") == "reg.example"


def test_store_lookup_erase_in_the_file_keeps_everything_else(cfg):
    cfg.parent.mkdir()
    other = {"auths": {"other.example": {"auth": _auth("o", "p"), "email": "o@example"}},
             "psFormat": "table {{.ID}}", "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
             "credHelpers": {}}
    cfg.write_text(json.dumps(other))
    os.chmod(cfg, 0o644)
    key = cr.store("https://127.0.0.1:5000/v2/", "alice", SECRET)
    assert key == "127.0.0.1:5000"
    doc = json.loads(cfg.read_text())
    assert doc["auths"]["127.0.0.1:5000"] == {"auth": _auth("alice", SECRET)}
    assert doc["auths"]["other.example"] == other["auths"]["other.example"]
    assert doc["psFormat"] == other["psFormat"] and doc["proxies"] == other["proxies"]
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert [n for n in os.listdir(cfg.parent) if n != "config.json"] == []  # no temporary file left

    assert cr.lookup("127.0.0.1:5000") == ("alice", SECRET)
    assert cr.lookup("http://127.0.0.1:5000") == ("alice", SECRET)
    assert cr.lookup("127.0.0.1:5001") is None
    assert cr.erase("127.0.0.1:5000") is True
    assert cr.lookup("127.0.0.1:5000") is None
    assert cr.erase("127.0.0.1:5000") is False
    doc = json.loads(cfg.read_text())
    assert "127.0.0.1:5000" not in doc["auths"] and doc["psFormat"] == other["psFormat"]


def test_docker_hub_and_entries_written_as_urls(cfg):
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": _auth("hubuser", SECRET)},
                                         "https://reg.example:5000/v1/": {"auth": _auth("old", "pw")}}}))
    for name in ("docker.io", "registry-1.docker.io", None):
        assert cr.lookup(name) == ("hubuser", SECRET)
    assert cr.lookup("reg.example:5000") == ("old", "pw")  # an old client's URL key
    assert cr.erase("reg.example:5000") is True
    assert "https://reg.example:5000/v1/" not in json.loads(cfg.read_text())["auths"]


def test_identity_token(cfg):
    cr.store("reg.example", "bob", SECRET, identity_token="refresh-123")
    entry = json.loads(cfg.read_text())["auths"]["reg.example"]
    assert entry["identitytoken"] == "refresh-123" and SECRET not in json.dumps(entry)
    assert cr.lookup("reg.example") == (cr.IDENTITY_TOKEN_USER, "refresh-123")


def test_a_missing_file_is_made_0600(cfg):
    assert not cfg.parent.exists()
    cr.store("reg.example", "bob", SECRET)
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cfg.parent).st_mode) == 0o700


def test_a_symlinked_config_is_written_where_it_points(cfg, tmp_path):
    cfg.parent.mkdir()
    real = tmp_path / "dotfiles-config.json"
    real.write_text("{}")
    cfg.symlink_to(real)
    cr.store("reg.example", "bob", SECRET)
    assert cfg.is_symlink() and "reg.example" in json.loads(real.read_text())["auths"]


def test_broken_files_name_the_file_never_the_secret(cfg):
    cfg.parent.mkdir()
    cfg.write_text('{"auths": {"reg.example": {"auth": "' + SECRET + '"')  # cut short
    with pytest.raises(DockyardError) as e:
        cr.lookup("reg.example")
    assert str(cfg) in str(e.value) and "not valid JSON" in str(e.value) and SECRET not in str(e.value)
    cfg.write_text(json.dumps({"auths": {"reg.example": {"auth": base64.b64encode(SECRET.encode()).decode()}}}))
    with pytest.raises(DockyardError) as e:
        cr.lookup("reg.example")
    assert "reg.example" in str(e.value) and SECRET not in str(e.value)
    assert base64.b64encode(SECRET.encode()).decode() not in str(e.value)


def test_creds_store_keeps_the_secret_in_the_helper(cfg, helper):
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"credsStore": "testhelper", "detachKeys": "ctrl-e,e"}))
    cr.store("127.0.0.1:5000", "alice", SECRET)
    text = cfg.read_text()
    assert SECRET not in text and _auth("alice", SECRET) not in text
    doc = json.loads(text)
    assert doc["auths"] == {"127.0.0.1:5000": {}} and doc["detachKeys"] == "ctrl-e,e"
    assert json.loads(helper.read_text()) == {"127.0.0.1:5000": ["alice", SECRET]}
    assert cr.lookup("127.0.0.1:5000") == ("alice", SECRET)
    assert cr.lookup("127.0.0.1:5999") is None  # the helper's "not found"
    assert cr.erase("127.0.0.1:5000") is True
    assert json.loads(helper.read_text()) == {} and json.loads(cfg.read_text())["auths"] == {}
    assert cr.erase("127.0.0.1:5000") is False


def test_cred_helpers_per_registry(cfg, helper):
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"credHelpers": {"helped.example": "testhelper"}}))
    cr.store("helped.example", "h", SECRET)
    cr.store("plain.example", "p", "pw")
    doc = json.loads(cfg.read_text())
    assert doc["auths"]["helped.example"] == {} and doc["auths"]["plain.example"] == {"auth": _auth("p", "pw")}
    assert json.loads(helper.read_text()) == {"helped.example": ["h", SECRET]}
    assert cr.lookup("helped.example") == ("h", SECRET)
    assert cr.lookup("plain.example") == ("p", "pw")


def test_hub_goes_to_the_helper_under_docker_key(cfg, helper):
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"credsStore": "testhelper"}))
    cr.store("docker.io", "hubuser", SECRET)
    assert json.loads(helper.read_text()) == {"https://index.docker.io/v1/": ["hubuser", SECRET]}
    assert cr.lookup(None) == ("hubuser", SECRET)


def test_helper_failures_are_clear_and_hide_the_secret(cfg, helper):
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"credsStore": "testhelper"}))
    with pytest.raises(DockyardError) as e:
        cr.store("reg.example", "fail", SECRET)
    msg = str(e.value)
    assert "docker-credential-testhelper" in msg and "reg.example" in msg and SECRET not in msg
    assert "reg.example" not in json.loads(cfg.read_text()).get("auths", {})  # nothing half-kept

    cfg.write_text(json.dumps({"credsStore": "nosuchhelper"}))
    with pytest.raises(DockyardError) as e:
        cr.lookup("reg.example")
    assert "docker-credential-nosuchhelper not found" in str(e.value)
