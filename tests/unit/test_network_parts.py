"""The network's pure parts: -p parsing, docker's MAC, resolv.conf, subnets."""
import ipaddress

import pytest

from engine.errors import InvalidArgument
from engine.network import files, ipam, ports


def test_publish_forms_as_docker_reads_them():
    assert ports.parse("8080:80") == [{"host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80, "proto": "tcp"}]
    assert ports.parse("127.0.0.1:53:53/udp")[0] == {"host_ip": "127.0.0.1", "host_port": 53,
                                                     "container_port": 53, "proto": "udp"}
    assert [p["host_port"] for p in ports.parse("80")] == [0]            # chosen at start
    assert [(p["host_port"], p["container_port"]) for p in ports.parse("9000-9002:7000-7002")] == \
        [(9000, 7000), (9001, 7001), (9002, 7002)]


@pytest.mark.parametrize("spec, words", [("0:80", "invalid port range '0'"), ("a:80", "invalid port 'a'"),
                                         ("80/sctp", "invalid protocol 'sctp'"),
                                         ("1-3:1-2", "ranges differ in size"),
                                         ("300.1.1.1:80:80", "invalid host address '300.1.1.1'")])
def test_bad_publish_is_named(spec, words):
    with pytest.raises(InvalidArgument, match=words):
        ports.parse(spec)


def test_the_same_host_port_twice_is_refused():
    with pytest.raises(InvalidArgument, match="published twice"):
        ports.parse_all(["8080:80", "8080:81"])


def test_mac_is_docker_s():
    assert ipam.mac_for("10.88.0.2") == "02:42:0a:58:00:02"


def test_resolv_conf_drops_loopback_nameservers_and_falls_back_to_docker_s(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nnameserver ::1\noptions edns0\nsearch example.org\n")
    assert files.resolv_conf(str(host)) == \
        "options edns0\nsearch example.org\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    host.write_text("nameserver 127.0.0.11\nnameserver 192.0.2.53\n")
    assert files.resolv_conf(str(host)) == "nameserver 192.0.2.53\n"


def test_subnet_is_the_first_that_clashes_with_no_route():
    taken = [ipaddress.ip_network("10.88.0.0/24"), ipaddress.ip_network("10.0.0.0/15")]
    assert str(ipam.pick_subnet(taken)) == "10.89.0.0/16"
    assert str(ipam.pick_subnet([ipaddress.ip_network("10.64.0.0/10")])) == "172.17.0.0/16"


def test_hosts_file_ends_with_the_address_and_hostname():
    assert files.hosts("web", "10.88.0.5").endswith("ff02::2\tip6-allrouters\n10.88.0.5\tweb\n")
    assert "10.88" not in files.hosts()
