"""The embedded DNS's wire format and the files docker writes for user
networks (standard library, no root)."""
import socket
import struct

import pytest

from engine.errors import InvalidArgument
from engine.network import dns, files


def _query(name: str, qtype: int = 1, qid: int = 0x1234) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def test_a_query_is_answered_with_the_addresses():
    data = _query("Web.Net")
    q = dns.parse_query(data)
    assert q[0] == 0x1234 and q[2] == "web.net" and q[3] == 1
    reply = dns.answer(data, q, ["10.89.0.2", "10.89.0.3"])
    qid, flags, qd, an = struct.unpack("!HHHH", reply[:8])
    assert qid == 0x1234 and flags & 0x8000 and flags & 0x0100 and flags & 0xF == 0 and (qd, an) == (1, 2)
    assert reply[-4:] == socket.inet_aton("10.89.0.3")
    assert struct.unpack("!HHHIH", reply[len(data):len(data) + 12]) == (0xC00C, 1, 1, dns.TTL, 4)


def test_unknown_is_nxdomain_and_a_known_name_has_no_aaaa():
    data = _query("nosuch")
    reply = dns.answer(data, dns.parse_query(data), None)
    assert struct.unpack("!H", reply[2:4])[0] & 0xF == 3 and struct.unpack("!H", reply[6:8])[0] == 0
    data = _query("web", qtype=28)
    reply = dns.answer(data, dns.parse_query(data), ["10.89.0.2"])
    assert struct.unpack("!H", reply[2:4])[0] & 0xF == 0 and struct.unpack("!H", reply[6:8])[0] == 0


def test_malformed_queries_are_ignored():
    assert dns.parse_query(b"\0" * 5) is None
    assert dns.parse_query(_query("web")[:-3]) is None
    reply = dns.answer(_query("web"), dns.parse_query(_query("web")), ["10.0.0.1"])
    assert dns.parse_query(reply) is None   # a response is no query


def test_add_host_and_hosts_order():
    assert files.parse_add_host("db:192.0.2.1") == ("db", "192.0.2.1")
    assert files.parse_add_host("db=192.0.2.1") == ("db", "192.0.2.1")
    assert files.extra_hosts(["gw:host-gateway"], "10.89.0.1") == [("gw", "10.89.0.1")]
    with pytest.raises(InvalidArgument, match="invalid IP address in --add-host 'db:x'"):
        files.parse_add_host("db:x")
    with pytest.raises(InvalidArgument, match="host-gateway needs a bridge network"):
        files.extra_hosts(["gw:host-gateway"], None)
    text = files.hosts("box", "10.89.0.5", [("db", "192.0.2.1")])
    assert text.splitlines()[-2:] == ["192.0.2.1\tdb", "10.89.0.5\tbox"]


def test_resolv_conf_flags_and_the_embedded_dns(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.test\noptions edns0\n")
    assert files.resolv_conf(str(host), dns=["192.0.2.9"], search=["a.test"], options=["timeout:1"]) == \
        "nameserver 192.0.2.9\nsearch a.test\noptions timeout:1\n"
    text = files.resolv_conf(str(host), embedded="10.90.0.1")
    assert text.splitlines()[:3] == ["nameserver 10.90.0.1", "search corp.test", "options ndots:0"]
    assert "127.0.0.53 192.0.2.53" in text.splitlines()[-1]   # forwarded from the host's namespace
