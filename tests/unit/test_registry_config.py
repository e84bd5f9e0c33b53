"""How a registry is reached: plain HTTP only for loopback and registries
listed as insecure, certs.d CA files and client certificates (a real PEM made
with openssl), docker.io mirrors from dockyard's config.yaml."""
import ssl
import subprocess

import pytest

from engine.errors import InvalidArgument
from engine.registry.config import Endpoint, host_config, load_settings, parse_settings, read_certs_dir
from tests.conftest import need_tool

NONE = parse_settings(None)


def make_ca(folder, name="ca"):
    """A self-signed CA certificate (and its key) in folder/NAME.crt, NAME.key."""
    need_tool("openssl")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=dockyard test CA", "-keyout", str(folder / f"{name}.key"),
                    "-out", str(folder / f"{name}.crt"),
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True)
    return folder / f"{name}.crt", folder / f"{name}.key"


def test_only_loopback_and_insecure_registries_may_use_http():
    for host in ("localhost:5000", "127.0.0.1:5000", "127.0.0.5", "[::1]:5000", "localhost"):
        c = host_config(host, NONE, certs_dir="/nonexistent")
        assert c.endpoints == (Endpoint("https", c.host, True), Endpoint("http", c.host, False)), host
        assert c.loopback and not c.insecure
    c = host_config("registry.example.com", NONE, certs_dir="/nonexistent")
    assert c.endpoints == (Endpoint("https", "registry.example.com", True),) and not c.allows_http
    c = host_config("10.1.2.3:5000", NONE, certs_dir="/nonexistent")
    assert not c.allows_http


def test_insecure_registries_by_name_and_by_cidr():
    s = parse_settings({"insecure": ["Registry.LAN:5000", "10.0.0.0/8", "http://plain.example/"]})
    c = host_config("registry.lan:5000", s, certs_dir="/nonexistent")
    assert c.insecure and c.endpoints == (Endpoint("https", "registry.lan:5000", False),
                                          Endpoint("http", "registry.lan:5000", False))
    assert not host_config("registry.lan:5001", s, certs_dir="/nonexistent").insecure  # host:port exactly, as docker
    assert host_config("10.9.8.7:443", s, certs_dir="/nonexistent").insecure
    assert not host_config("11.0.0.1", s, certs_dir="/nonexistent").insecure
    assert host_config("plain.example", s, certs_dir="/nonexistent").insecure


def test_mirrors_apply_to_docker_io_only():
    s = parse_settings({"mirrors": ["https://mirror.example.com/", "127.0.0.1:5001", "http://10.0.0.2:5000"]})
    assert s.mirrors == ("https://mirror.example.com", "https://127.0.0.1:5001", "http://10.0.0.2:5000")
    for hub in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        c = host_config(hub, s, certs_dir="/nonexistent")
        assert c.host == "registry-1.docker.io" and c.mirrors == s.mirrors
    assert host_config("quay.io", s, certs_dir="/nonexistent").mirrors == ()


@pytest.mark.parametrize("section, named", [
    ({"mirrors": ["ftp://m.example"]}, "registries.mirrors[0]"),
    ({"mirrors": ["https://m.example/path"]}, "registries.mirrors[0]"),
    ({"mirrors": [1]}, "registries.mirrors[0]"),
    ({"insecure": ["ok.example", "bad host"]}, "registries.insecure[1]"),
    ({"insecure": ["10.0.0.0/99"]}, "registries.insecure[0]"),
    ({"insecure": {"a": 1}}, "registries.insecure"),
    ({"mirror": []}, "registries.mirror"),
    (["x"], "registries"),
])
def test_bad_settings_name_the_entry(section, named):
    with pytest.raises(InvalidArgument) as e:
        parse_settings(section, "/etc/x/config.yaml")
    assert named in str(e.value) and "/etc/x/config.yaml" in str(e.value)


def test_settings_come_from_dockyards_config_yaml(tmp_path, monkeypatch):
    f = tmp_path / "config.yaml"
    f.write_text("theme: dockyard-dark\nregistries:\n  insecure: [reg.lan:5000]\n  mirrors: [https://m.example]\n")
    monkeypatch.setenv("DOCKYARD_CONFIG", str(f))
    s = load_settings()
    assert s.insecure == ("reg.lan:5000",) and s.mirrors == ("https://m.example",) and s.path == str(f)
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "missing.yaml"))
    assert load_settings().insecure == ()
    f.write_text("registries: [unclosed\n")
    with pytest.raises(InvalidArgument) as e:
        load_settings(str(f))
    assert str(f) in str(e.value) and "not valid YAML" in str(e.value)


def test_the_tui_does_not_warn_about_the_registries_section(tmp_path):
    from tui.config import load_config
    f = tmp_path / "config.yaml"
    f.write_text("registries:\n  insecure: [reg.lan:5000]\n")
    _, problems = load_config(str(f))
    assert problems == []


def test_certs_dir_as_docker_reads_it(tmp_path):
    d = tmp_path / "certs.d" / "reg.example:5000"
    d.mkdir(parents=True)
    for n in ("ca.crt", "extra.crt", "client.cert", "client.key", "README"):
        (d / n).write_text("x")
    cas, pairs = read_certs_dir(str(tmp_path / "certs.d"), "reg.example:5000")
    assert cas == (str(d / "ca.crt"), str(d / "extra.crt"))
    assert pairs == ((str(d / "client.cert"), str(d / "client.key")),)
    assert read_certs_dir(str(tmp_path / "certs.d"), "other.example") == ((), ())
    (d / "lone.cert").write_text("x")
    with pytest.raises(InvalidArgument) as e:
        read_certs_dir(str(tmp_path / "certs.d"), "reg.example:5000")
    assert "missing key lone.key" in str(e.value) and "lone.cert" in str(e.value)


def test_a_real_ca_is_loaded_into_the_context(tmp_path):
    certs = tmp_path / "certs.d"
    make_ca(certs / "127.0.0.1:5443")
    (certs / "127.0.0.1:5443" / "ca.key").unlink()  # a lone key is docker's error; the CA's key is not needed
    c = host_config("127.0.0.1:5443", NONE, certs_dir=str(certs))
    assert c.ca_files == (str(certs / "127.0.0.1:5443" / "ca.crt"),)
    ctx = c.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    subjects = [dict(x[0] for x in ca["subject"]) for ca in ctx.get_ca_certs()]
    assert {"commonName": "dockyard test CA"} in subjects
    insecure = c.ssl_context(verify=False)
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname


def test_a_broken_ca_file_is_named(tmp_path):
    d = tmp_path / "certs.d" / "reg.example"
    d.mkdir(parents=True)
    (d / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(InvalidArgument) as e:
        host_config("reg.example", NONE, certs_dir=str(tmp_path / "certs.d")).ssl_context()
    assert str(d / "ca.crt") in str(e.value)


def test_client_certificates_are_loaded(tmp_path):
    d = tmp_path / "certs.d" / "reg.example"
    cert, key = make_ca(d, "client")
    cert.rename(d / "client.cert")
    c = host_config("reg.example", NONE, certs_dir=str(tmp_path / "certs.d"))
    assert c.client_certs == ((str(d / "client.cert"), str(key)),)
    c.ssl_context()  # loads the pair without error
    (d / "client.key").write_text("garbage\n")
    with pytest.raises(InvalidArgument) as e:
        c.ssl_context()
    assert "client.cert" in str(e.value)


def test_bad_hosts_are_named():
    for bad in ("", "a b", "reg.example:port"):
        with pytest.raises(InvalidArgument) as e:
            host_config(bad, NONE, certs_dir="/nonexistent")
        assert repr(bad) in str(e.value)


def test_tls_for_gives_the_clients_pool_kwargs_once_per_host(tmp_path):
    from engine.registry.config import TlsFor
    certs = tmp_path / "certs.d"
    make_ca(certs / "reg.example")
    (certs / "reg.example" / "ca.key").unlink()
    tls = TlsFor(parse_settings({"insecure": ["lan.example:5000"]}), certs_dir=str(certs))
    got = tls("reg.example")
    assert set(got) == {"ssl_context"} and tls("reg.example") is got  # the same pool each time
    assert {"commonName": "dockyard test CA"} in [dict(x[0] for x in c["subject"])
                                                  for c in got["ssl_context"].get_ca_certs()]
    lan = tls("lan.example:5000")
    assert lan["cert_reqs"] == "CERT_NONE" and lan["assert_hostname"] is False
    assert lan["ssl_context"].verify_mode == ssl.CERT_NONE
