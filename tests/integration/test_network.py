"""Bridge networking, for real: the default bridge, veth pairs in the
containers' network namespaces, NAT and published ports through iptables,
addresses from the store's database. Traffic goes only to 127.0.0.1, the
host's own address and the tests' containers."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT, need_tool, run_cli, wait_for

pytestmark = pytest.mark.usefixtures("as_root")

IMAGE = "localhost/busybox"


@pytest.fixture(autouse=True)
def _iptables():
    need_tool("iptables")


def _endpoints(root: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{os.path.join(root, 'db.sqlite3')}?mode=ro", uri=True)
    try:
        return db.execute("SELECT container, ip, mac FROM endpoints ORDER BY ip").fetchall()
    finally:
        db.close()


def _rules_of(cid: str) -> list[str]:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if f"dockyard ctr {cid}" in line]


def _link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read()
    except OSError:
        return None


def _httpd(root: str, www: str, *flags: str) -> str:
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("hello from the container\n")
    return run_cli("run", "-d", "--network", "bridge", *flags, "-v", f"{www}:/www", IMAGE,
                   "httpd", "-f", "-p", "80", "-h", "/www", root=root).stdout.decode().strip()


def test_bridge_container_has_eth0_route_hosts_and_resolv_conf(root):
    from engine.network.files import resolv_conf
    script = "ip -o addr show eth0; ip -o link show eth0; ip route; echo ---; cat /etc/hosts; echo ---; " \
             "cat /etc/resolv.conf; echo ---; hostname"
    out = run_cli("run", "--rm", "--network", "bridge", IMAGE, "sh", "-c", script, root=root).stdout.decode()
    addrs, hosts, resolv, hostname = out.split("---\n")
    ip_line = next(line for line in addrs.splitlines() if " inet " in line)
    ip, prefix = ip_line.split(" inet ")[1].split()[0].split("/")
    assert prefix == "16"
    mac = "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert f"link/ether {mac} " in addrs                      # docker's MAC: 02:42 + the address
    gateway = ip.rsplit(".", 2)[0] + ".0.1"
    assert f"default via {gateway} dev eth0" in addrs
    assert hosts.splitlines()[0] == "127.0.0.1\tlocalhost"
    assert hosts.splitlines()[-1] == f"{ip}\t{hostname.strip()}"
    assert resolv == resolv_conf()
    assert _endpoints(root) == []                               # --rm: its address is free again


def test_published_port_answers_on_loopback_and_host_address_and_port_lists_it(root, tmp_path):
    www = str(tmp_path / "www")
    os.mkdir(www)
    cid = _httpd(root, www, "-p", "18080:80")
    body = wait_for(lambda: _get("http://127.0.0.1:18080/"), "httpd behind 127.0.0.1:18080")
    assert body == b"hello from the container\n"
    assert run_cli("port", cid, root=root).stdout.decode() == "80/tcp -> 0.0.0.0:18080\n"
    assert run_cli("port", cid, "80", root=root).stdout.decode() == "0.0.0.0:18080\n"
    bad = run_cli("port", cid, "81/tcp", root=root, check=False)
    assert bad.returncode != 0 and b"no public port '81/tcp'" in bad.stderr
    [(_, ip, _)] = _endpoints(root)
    assert _get(f"http://{ip}:80/") == body                      # the container itself, on our bridge
    assert len(_rules_of(cid)) == 1
    run_cli("stop", "-t", "1", cid, root=root)
    # the monitor's exit path: rule deleted, address free, veth gone with the namespace
    assert _rules_of(cid) == []
    assert _endpoints(root) == []
    wait_for(lambda: not _link_exists("dy" + cid[:12]), "the veth to go with the container")
    assert _get("http://127.0.0.1:18080/") is None
    run_cli("start", cid, root=root)                             # a new start sets it all up again
    assert wait_for(lambda: _get("http://127.0.0.1:18080/"), "httpd after a restart") == body
    run_cli("rm", "-f", cid, root=root)
    assert _rules_of(cid) == []


def test_port_ranges_and_a_chosen_host_port(root, tmp_path):
    cid = run_cli("run", "-d", "--network", "bridge", "-p", "18090-18091:7000-7001", "-p", "127.0.0.1::7002/udp",
                  IMAGE, "sleep", "60", root=root).stdout.decode().strip()
    lines = run_cli("port", cid, root=root).stdout.decode().splitlines()
    assert lines[:2] == ["7000/tcp -> 0.0.0.0:18090", "7001/tcp -> 0.0.0.0:18091"]
    assert lines[2].startswith("7002/udp -> 127.0.0.1:") and int(lines[2].rsplit(":", 1)[1]) > 0
    assert len(_rules_of(cid)) == 3
    run_cli("rm", "-f", cid, root=root)
    assert _rules_of(cid) == []


def test_twenty_parallel_runs_get_twenty_distinct_addresses(root):
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-m", "tui.cli", "run", "-d", "--network", "bridge", IMAGE,
                               "sleep", "60"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(20)]
    results = [(p.wait(), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0] * 20, [r[2].decode()[-300:] for r in results if r[0]]
    ids = {r[1].decode().strip() for r in results}
    eps = _endpoints(root)
    assert {e[0] for e in eps} == ids
    assert len({e[1] for e in eps}) == 20 and len({e[2] for e in eps}) == 20
    inside = {run_cli("exec", cid, "sh", "-c", "ip -o -4 addr show eth0", root=root).stdout.decode().split()[3]
              for cid in list(ids)[:3]}
    assert inside <= {f"{e[1]}/16" for e in eps} and len(inside) == 3


def test_kill9_of_the_monitor_leaves_nothing_after_reconcile(root, tmp_path):
    www = str(tmp_path / "www")
    os.mkdir(www)
    cid = _httpd(root, www, "-p", "18082:80")
    wait_for(lambda: _get("http://127.0.0.1:18082/"), "httpd behind 127.0.0.1:18082")
    cdir = os.path.join(root, "containers", cid)
    with open(os.path.join(cdir, "state.json")) as f:
        monitor = json.load(f)["monitor_pid"]
    os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{monitor}"), "the monitor to die")
    assert _rules_of(cid) and _endpoints(root)                   # nobody cleaned up yet
    ps = run_cli("ps", "-a", "--format", "{{.Status}}", root=root).stdout.decode()  # an engine start: reconcile
    assert ps.startswith("Exited")
    assert _rules_of(cid) == []
    assert _endpoints(root) == []
    assert not _link_exists("dy" + cid[:12])
    assert not os.path.exists(os.path.join(root, "run", "netns", cid))
    assert _get("http://127.0.0.1:18082/") is None


def test_bad_network_and_publish_are_refused_by_name(root):
    p = run_cli("run", "--rm", "--network", "nosuchnet", IMAGE, "true", root=root, check=False)
    assert p.returncode == 125 and b"network 'nosuchnet' not found" in p.stderr
    p = run_cli("run", "--rm", "-p", "80", IMAGE, "true", root=root, check=False)
    assert p.returncode == 125 and b"--publish needs --network bridge" in p.stderr
    p = run_cli("run", "--rm", "--network", "bridge", "-p", "99999:80", IMAGE, "true", root=root, check=False)
    assert p.returncode == 125 and b"invalid port range '99999'" in p.stderr
    assert run_cli("ps", "-aq", root=root).stdout == b""


def test_inspect_shows_the_address_and_ports_as_docker(root):
    cid = run_cli("run", "-d", "--network", "bridge", "-p", "18093:80", IMAGE, "sleep", "60",
                  root=root).stdout.decode().strip()
    [(_, ip, mac)] = _endpoints(root)
    ns = json.loads(run_cli("inspect", cid, root=root).stdout)[0]["NetworkSettings"]
    assert ns["IPAddress"] == ns["Networks"]["bridge"]["IPAddress"] == ip
    assert ns["MacAddress"] == mac and ns["IPPrefixLen"] == 16 and ns["Gateway"].endswith(".0.1")
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18093"}]}
    assert run_cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid, root=root).stdout.decode().strip() == ip
    run_cli("rm", "-f", cid, root=root)
