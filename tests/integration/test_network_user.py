"""User-defined bridge networks, for real: `network` commands, containers
reaching each other by name through the embedded DNS, --internal, connect and
disconnect of running and stopped containers, run's network flags, -P and
build --network. Traffic only to 127.0.0.1, the host's own addresses and the
tests' containers; the DNS forwards to no one (DOCKYARD_DNS_UPSTREAM=none)."""
import http.server
import json
import os
import sqlite3
import subprocess
import threading

import pytest

from tests.conftest import need_tool, run_cli, wait_for

pytestmark = pytest.mark.usefixtures("as_root")

IMAGE = "localhost/busybox"


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    need_tool("iptables")
    monkeypatch.setenv("DOCKYARD_DNS_UPSTREAM", "none")   # no query leaves the machine


def _out(*args, root, **kw) -> str:
    return run_cli(*args, root=root, **kw).stdout.decode()


def _endpoints(root: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{os.path.join(root, 'db.sqlite3')}?mode=ro", uri=True)
    try:
        return db.execute("SELECT e.container, n.name, e.ip FROM endpoints e JOIN networks n ON n.id = e.network "
                          "ORDER BY e.ip").fetchall()
    finally:
        db.close()


def _httpd(root: str, www: str, *flags: str) -> str:
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("hello from web\n")
    return _out("run", "-d", *flags, "-v", f"{www}:/www", IMAGE, "httpd", "-f", "-p", "80", "-h", "/www",
                root=root).strip()


def _wait_http(root: str, network: str, url: str) -> None:
    """Until the container's httpd answers `url` from another container on `network`."""
    wait_for(lambda: run_cli("run", "--rm", "--network", network, IMAGE, "wget", "-qO-", url, root=root,
                             check=False).stdout == b"hello from web\n", f"{url} on {network}")


@pytest.fixture
def host_listener():
    """An HTTP server of the test on every host address, port chosen by the kernel."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from the host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _host_address() -> str:
    """An IPv4 address of the host that is on none of our bridges (nor loopback)."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f[1] != "lo" and not f[1].startswith(("dockyard", "dy")):
            return f[3].split("/")[0]
    pytest.fail("the host has no IPv4 address beyond loopback")


def test_network_create_ls_inspect_rm_prune(root):
    nid = _out("network", "create", "--subnet", "10.201.0.0/24", "--gateway", "10.201.0.254", "front",
               root=root).strip()
    assert len(nid) == 64
    _out("network", "create", "--internal", "back", root=root)
    lines = _out("network", "ls", root=root).splitlines()
    assert lines[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {"bridge", "host", "none", "front", "back"}
    assert rows["front"] == [nid[:12], "front", "bridge", "local"] and rows["none"][2] == "null"
    assert _out("network", "ls", "-q", "--filter", "name=fro", root=root).split() == [nid[:12]]
    [doc] = json.loads(_out("network", "inspect", "front", root=root))
    assert doc["Name"] == "front" and doc["Id"] == nid and doc["Driver"] == "bridge" and doc["Scope"] == "local"
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.201.0.0/24", "Gateway": "10.201.0.254"}]
    assert doc["Internal"] is False and doc["Containers"] == {} and doc["Created"].endswith("Z")
    assert json.loads(_out("network", "inspect", "back", root=root))[0]["Internal"] is True

    for name in ("bridge", "host", "none"):
        p = run_cli("network", "rm", name, root=root, check=False)
        assert p.returncode == 1 and f"{name} is a pre-defined network and cannot be removed".encode() in p.stderr
    p = run_cli("network", "create", "front", root=root, check=False)
    assert p.returncode == 125 and b"network with name front already exists" in p.stderr
    p = run_cli("network", "create", "--subnet", "10.201.0.128/25", "other", root=root, check=False)
    assert p.returncode == 125 and b"Pool overlaps" in p.stderr
    p = run_cli("network", "create", "--subnet", "nonsense", "other", root=root, check=False)
    assert p.returncode == 125 and b"invalid subnet 'nonsense'" in p.stderr

    cid = _out("run", "-d", "--network", "front", IMAGE, "sleep", "60", root=root).strip()
    [doc] = json.loads(_out("network", "inspect", "front", root=root))
    assert list(doc["Containers"]) == [cid]
    assert doc["Containers"][cid]["IPv4Address"] == "10.201.0.1/24"     # lowest free (the gateway is .254)
    p = run_cli("network", "rm", "front", root=root, check=False)
    assert p.returncode == 1 and b"network front id " in p.stderr and b"has active endpoints" in p.stderr
    assert _out("network", "prune", "-f", root=root) == "Deleted Networks:\nback\n"
    run_cli("rm", "-f", cid, root=root)
    assert _out("network", "rm", "front", root=root) == "front\n"
    assert {line.split()[1] for line in _out("network", "ls", root=root).splitlines()[1:]} == {"bridge", "host", "none"}
    p = run_cli("run", "--rm", "--network", "front", IMAGE, "true", root=root, check=False)
    assert p.returncode == 125 and b"network 'front' not found" in p.stderr


def test_containers_reach_each_other_by_name_alias_and_short_id(root, tmp_path):
    _out("network", "create", "appnet", root=root)
    web = _httpd(root, str(tmp_path / "www"), "--name", "web", "--network", "appnet", "--network-alias", "www.alias")
    _wait_http(root, "appnet", "http://web/")
    script = (f"wget -qO- http://web/; wget -qO- http://www.alias/; wget -qO- http://{web[:12]}/; "
              "nslookup nosuchname >/dev/null 2>&1 && echo resolved || echo nxdomain; cat /etc/resolv.conf")
    out = _out("run", "--rm", "--network", "appnet", IMAGE, "sh", "-c", script, root=root)
    assert out.splitlines()[:4] == ["hello from web"] * 3 + ["nxdomain"]
    [doc] = json.loads(_out("network", "inspect", "appnet", root=root))
    gateway = doc["IPAM"]["Config"][0]["Gateway"]
    assert f"nameserver {gateway}" in out.splitlines() and "options ndots:0" in out.splitlines()
    # the default bridge has no name resolution (as docker's): its resolv.conf names no embedded DNS
    plain = _out("run", "--rm", "--network", "bridge", IMAGE, "cat", "/etc/resolv.conf", root=root)
    assert "ndots:0" not in plain and f"nameserver {gateway}" not in plain
    run_cli("rm", "-f", web, root=root)
    run_cli("network", "rm", "appnet", root=root)


def test_internal_network_has_no_way_out_but_reaches_its_peers(root, tmp_path, host_listener):
    host = _host_address()
    _out("network", "create", "--internal", "inside", root=root)
    _out("network", "create", "outside", root=root)
    # (no -T: busybox 1.35's wget crashes with it)
    fetch = f"wget -qO- http://{host}:{host_listener}/ && echo reached || echo unreachable; ip route"
    # the control: a normal user network reaches the host's address
    assert _out("run", "--rm", "--network", "outside", IMAGE, "sh", "-c", fetch,
                root=root).splitlines()[:2] == ["hello from the host", "reached"]
    web = _httpd(root, str(tmp_path / "www"), "--name", "peer", "--network", "inside")
    _wait_http(root, "inside", "http://peer/")
    out = _out("run", "--rm", "--network", "inside", IMAGE, "sh", "-c", fetch + "; wget -qO- http://peer/",
               root=root).splitlines()
    assert out[0] == "unreachable"
    assert not any(line.startswith("default") for line in out)          # no default route out
    assert out[-1] == "hello from web"                                   # its peer, by name
    [doc] = json.loads(_out("network", "inspect", "inside", root=root))
    subnet = doc["IPAM"]["Config"][0]["Subnet"]
    nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in nat.splitlines() if f"-s {subnet}" in line]  # no NAT for it
    run_cli("rm", "-f", web, root=root)


def test_connect_and_disconnect_running_and_stopped_containers(root, tmp_path):
    _out("network", "create", "--subnet", "10.202.0.0/24", "neta", root=root)
    _out("network", "create", "--subnet", "10.203.0.0/24", "netb", root=root)
    web = _httpd(root, str(tmp_path / "www"), "--name", "web", "--network", "neta")
    _wait_http(root, "neta", "http://web/")
    run_cli("network", "connect", "--ip", "10.203.0.77", "--alias", "site", "netb", "web", root=root)
    addrs = _out("exec", web, "ip", "-o", "-4", "addr", root=root)
    assert "eth0    inet 10.202.0.2/24" in addrs and "eth1    inet 10.203.0.77/24" in addrs
    got = _out("run", "--rm", "--network", "netb", IMAGE, "wget", "-qO-", "http://site/", root=root)
    assert got == "hello from web\n"
    p = run_cli("network", "connect", "netb", "web", root=root, check=False)
    assert p.returncode == 125 and b"endpoint with name web already exists in network netb" in p.stderr
    ns = json.loads(_out("inspect", web, root=root))[0]["NetworkSettings"]
    assert ns["Networks"]["netb"]["IPAddress"] == "10.203.0.77" and ns["Networks"]["netb"]["Aliases"] == ["site"]

    run_cli("network", "disconnect", "netb", "web", root=root)
    assert "eth1" not in _out("exec", web, "ip", "-o", "addr", root=root)
    assert [(e[1], e[2]) for e in _endpoints(root)] == [("neta", "10.202.0.2")]
    p = run_cli("network", "disconnect", "netb", "web", root=root, check=False)
    assert p.returncode == 125 and b"container web is not connected to network netb" in p.stderr

    # a stopped container: recorded, attached at its next start
    run_cli("stop", "-t", "1", web, root=root)
    run_cli("network", "connect", "netb", "web", root=root)
    assert _endpoints(root) == []
    run_cli("start", web, root=root)
    addrs = _out("exec", web, "ip", "-o", "-4", "addr", root=root)
    assert "eth0    inet 10.202.0.2/24" in addrs and "eth1    inet 10.203.0.2/24" in addrs
    p = run_cli("network", "connect", "netb", "nosuch", root=root, check=False)
    assert p.returncode == 125 and b"no such container: nosuch" in p.stderr
    run_cli("rm", "-f", web, root=root)
    none = _out("create", IMAGE, "true", root=root).strip()
    p = run_cli("network", "connect", "neta", none, root=root, check=False)
    assert p.returncode == 125 and b"uses --network none" in p.stderr
    run_cli("rm", none, root=root)


def test_run_network_flags_write_hosts_resolv_conf_and_the_link(root):
    _out("network", "create", "--subnet", "10.204.0.0/24", "flags", root=root)
    script = "ip -o -4 addr show eth0; ip -o link show eth0; echo ---; hostname; uname -n; echo ---; " \
             "cat /etc/hosts; echo ---; cat /etc/resolv.conf"
    out = _out("run", "--rm", "--network", "flags", "--ip", "10.204.0.9", "--mac-address", "02:aa:bb:cc:dd:ee",
               "--hostname", "box", "--add-host", "db.test:192.0.2.10", "--add-host", "gw:host-gateway",
               "--dns-search", "example.test", "--dns-option", "timeout:1", IMAGE, "sh", "-c", script,
               root=root)
    link, names, hosts, resolv = out.split("---\n")
    assert "inet 10.204.0.9/24" in link and "link/ether 02:aa:bb:cc:dd:ee " in link
    assert names == "box\nbox\n"
    assert hosts.splitlines()[-3:] == ["192.0.2.10\tdb.test", "10.204.0.1\tgw", "10.204.0.9\tbox"]
    assert resolv.splitlines()[:3] == ["nameserver 10.204.0.1", "search example.test", "options timeout:1 ndots:0"]
    # on the default bridge --dns replaces the host's nameservers (a file only: nothing is asked)
    resolv = _out("run", "--rm", "--network", "bridge", "--dns", "192.0.2.53", "--dns", "192.0.2.54", IMAGE,
                  "cat", "/etc/resolv.conf", root=root)
    assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == [
        "nameserver 192.0.2.53", "nameserver 192.0.2.54"]
    for flags, message in ((["--network", "bridge", "--ip", "10.88.0.9"], b"user defined networks only"),
                           (["--network", "flags", "--ip", "10.9.9.9"], b"is not a host address of network flags"),
                           (["--network", "flags", "--mac-address", "zz"], b"invalid --mac-address 'zz'"),
                           (["--add-host", "nocolon"], b"invalid --add-host 'nocolon'"),
                           (["--add-host", "h:not-an-ip"], b"invalid IP address in --add-host"),
                           (["--network-alias", "x"], b"user defined networks only")):
        p = run_cli("run", "--rm", *flags, IMAGE, "true", root=root, check=False)
        assert p.returncode == 125 and message in p.stderr, (flags, p.stderr)
    cid = _out("run", "-d", "--network", "flags", "--ip", "10.204.0.9", IMAGE, "sleep", "60", root=root).strip()
    p = run_cli("run", "--rm", "--network", "flags", "--ip", "10.204.0.9", IMAGE, "true", root=root, check=False)
    assert p.returncode == 125 and b"address 10.204.0.9 is already in use on network flags" in p.stderr
    run_cli("rm", "-f", cid, root=root)
    assert run_cli("ps", "-aq", root=root).stdout == b""


def test_publish_all_maps_every_exposed_port(root, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM localhost/busybox\nEXPOSE 80 9000/udp\n")
    run_cli("build", "-q", "-t", "localhost/exposing", str(ctx), root=root)
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("published\n")
    cid = _out("run", "-d", "--network", "bridge", "-P", "-v", f"{www}:/www", "localhost/exposing",
               "httpd", "-f", "-p", "80", "-h", "/www", root=root).strip()
    lines = _out("port", cid, root=root).splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["80/tcp", "9000/udp"]
    port = int(lines[0].rsplit(":", 1)[1])
    assert port > 0
    import urllib.request

    def get():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.read()
        except OSError:
            return None
    assert wait_for(get, "httpd behind the -P port") == b"published\n"
    run_cli("rm", "-f", cid, root=root)


def test_build_network_bridge_reaches_the_host_through_the_gateway(root, tmp_path, host_listener):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM localhost/busybox\n"
        f"RUN wget -qO /got http://$(ip route | awk '/^default/ {{print $3}}'):{host_listener}/\n")
    p = run_cli("build", "-t", "localhost/fetched", str(ctx), root=root, check=False)
    assert p.returncode != 0                                             # default: no network, as before
    run_cli("build", "--network", "bridge", "-t", "localhost/fetched", str(ctx), root=root)
    assert _out("run", "--rm", "localhost/fetched", "cat", "/got", root=root) == "hello from the host\n"
    p = run_cli("build", "--network", "nosuch", str(ctx), root=root, check=False)
    assert p.returncode != 0 and b"nosuch" in p.stderr
