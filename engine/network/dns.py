"""The embedded DNS of a store's user-defined networks, as docker's: one
process per store (python -m engine.network.dns ROOT), standard library only.

It answers on UDP port 53 of each user network's gateway address (the
containers' resolv.conf names it, as docker's names 127.0.0.11): A records of
the names, network aliases and short and full ids of the containers that hold
an address on that network (the endpoints table: only running ones, at once,
with no file to keep in step). AAAA of those names: no answer (IPv4 only).
Any other name is forwarded to the asking container's --dns servers or to
the host's nameservers (from the host's namespace, where loopback ones work
too), or NXDOMAIN when there is no upstream (DOCKYARD_DNS_UPSTREAM=none: what
the tests set, so that no query leaves the machine; or a comma list).

Control: an abstract unix socket named for the root (no path length limit,
gone with the process, and binding it is the one-per-store lock): `rescan`
(bind the gateways of networks made since), `stop`. The process leaves when a
rescan finds no user network left, or the store is gone."""
import hashlib
import json
import os
import select
import socket
import sqlite3
import struct
import sys
import threading

IP_FREEBIND = 15     # bind a gateway whose bridge is not up yet; packets arrive once it is
TTL = 600            # docker's
DEFAULT_NETWORK = "bridge"


def control_address(root: str) -> str:
    return "\0dockyard-dns-" + hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:24]


def parse_query(data: bytes) -> tuple[int, int, str, int, int] | None:
    """(id, flags, name, qtype, end of the question) of a standard query, or None."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if flags & 0x8000 or qd != 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0:
            return None
        labels.append(data[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(data):
        return None
    qtype, _ = struct.unpack("!HH", data[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def answer(data: bytes, q: tuple, addrs: list[str] | None) -> bytes:
    """The reply: A records of `addrs`, NOERROR and empty for [] (a known name
    of another type), NXDOMAIN for None."""
    qid, flags, _, qtype, end = q
    rcode = 3 if addrs is None else 0
    records = b""
    if addrs and qtype in (1, 255):
        for a in addrs:
            records += struct.pack("!HHHIH", 0xC00C, 1, 1, TTL, 4) + socket.inet_aton(a)
    count = len(addrs) if addrs and qtype in (1, 255) else 0
    head = struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7900) | 0x0080 | 0x0400 | rcode, 1, count, 0, 0)
    return head + data[12:end] + records


def servfail(data: bytes, q: tuple) -> bytes:
    qid, flags, _, _, end = q
    return struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7900) | 0x0080 | 2, 1, 0, 0, 0) + data[12:end]


class Resolver:
    def __init__(self, root: str, upstream: list[str]):
        self.root = root
        self.upstream = upstream
        self.db = sqlite3.connect(os.path.join(root, "db.sqlite3"), timeout=10, isolation_level=None,
                                  check_same_thread=False)
        self.lock = threading.Lock()
        self.socks: dict[socket.socket, tuple[str, str]] = {}   # socket → (network id, gateway)

    def networks(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(r[0], r[1]) for r in self.db.execute("SELECT id, gateway FROM networks WHERE name != ?",
                                                          (DEFAULT_NETWORK,))]

    def rescan(self) -> bool:
        """Binds the gateways of the user networks; False when there is none."""
        want = dict(self.networks())
        for s, (nid, gw) in list(self.socks.items()):
            if want.get(nid) != gw:
                s.close()
                del self.socks[s]
        have = {nid for nid, _ in self.socks.values()}
        for nid, gw in want.items():
            if nid in have:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            try:
                s.bind((gw, 53))
            except OSError as e:
                print(f"dockyard dns: cannot bind {gw}:53: {e}", file=sys.stderr)
                s.close()
                continue
            self.socks[s] = (nid, gw)
        return bool(want)

    def lookup(self, nid: str, name: str, client_ip: str) -> tuple[list[str] | None, list[str]]:
        """(addresses of `name` on the network or None, the asking container's --dns)."""
        found, dns = [], None
        with self.lock:
            rows = self.db.execute("SELECT c.id, c.name, c.config, e.ip FROM endpoints e JOIN containers c "
                                   "ON c.id = e.container WHERE e.network = ?", (nid,)).fetchall()
            net_name = self.db.execute("SELECT name FROM networks WHERE id = ?", (nid,)).fetchone()
        net_name = net_name[0] if net_name else ""
        for cid, cname, config, ip in rows:
            try:
                opts = json.loads(config).get("options") or {}
            except ValueError:
                opts = {}
            aliases = {a.lower() for n in opts.get("networks") or () if n.get("name") == net_name
                       for a in n.get("aliases") or ()}
            names = {cname.lower(), cid[:12], cid} | aliases
            if name in names or (name.endswith("." + net_name.lower()) and name[:-len(net_name) - 1] in names):
                found.append(ip)
            if ip == client_ip:
                dns = opts.get("dns") or None
        return (found or None), (dns if dns is not None else self.upstream)

    def handle(self, s: socket.socket, data: bytes, client) -> None:
        q = parse_query(data)
        if q is None:
            return
        nid, _ = self.socks.get(s, (None, None))
        if nid is None:
            return
        addrs, upstream = self.lookup(nid, q[2], client[0])
        if addrs is not None or not upstream:   # a container's name (A records only), or no one to ask
            s.sendto(answer(data, q, addrs), client)
            return
        threading.Thread(target=self.forward, args=(s, data, client, q, upstream), daemon=True).start()

    def forward(self, s, data: bytes, client, q, upstream: list[str]) -> None:
        for server in upstream:
            try:
                with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.settimeout(3)
                    u.sendto(data, (server, 53))
                    reply, _ = u.recvfrom(65535)
                s.sendto(reply, client)
                return
            except OSError:
                continue
        try:
            s.sendto(servfail(data, q), client)
        except OSError:
            pass


def upstream_servers() -> list[str]:
    env = os.environ.get("DOCKYARD_DNS_UPSTREAM")
    if env is not None:
        return [] if env.strip() in ("", "none") else [a.strip() for a in env.split(",") if a.strip()]
    try:
        with open("/etc/resolv.conf") as f:
            return [f[1] for f in (line.split() for line in f) if len(f) >= 2 and f[0] == "nameserver"]
    except OSError:
        return []


def serve(root: str, ctl: socket.socket) -> None:
    res = Resolver(root, upstream_servers())
    if not res.rescan():
        return
    with open(os.path.join(root, "run", "dns.pid.tmp"), "w") as f:
        f.write(str(os.getpid()))
    os.replace(os.path.join(root, "run", "dns.pid.tmp"), os.path.join(root, "run", "dns.pid"))
    while True:
        ready, _, _ = select.select([ctl, *res.socks], [], [], 5)
        if not ready:
            if not os.path.exists(os.path.join(root, "db.sqlite3")) or not res.rescan():
                return
            continue
        for s in ready:
            if s is ctl:
                try:
                    conn, _ = ctl.accept()
                    with conn:
                        conn.settimeout(5)
                        cmd = conn.recv(64).strip()
                        if cmd == b"stop":
                            conn.sendall(b"ok\n")
                            return
                        alive = res.rescan()
                        conn.sendall(b"ok\n")
                        if not alive:
                            return
                except OSError:
                    pass
                continue
            try:
                data, client = s.recvfrom(4096)
            except OSError:
                continue
            try:
                res.handle(s, data, client)
            except (OSError, sqlite3.Error) as e:
                print(f"dockyard dns: {e}", file=sys.stderr)


def main(argv: list[str]) -> int:
    root = os.path.abspath(argv[0])
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        ctl.bind(control_address(root))
    except OSError:
        return 0     # another one serves this store
    ctl.listen(16)
    if os.fork():    # the engine waits for this first process: the server is no child of it
        os._exit(0)
    os.setsid()
    try:
        serve(root, ctl)
    finally:
        try:
            os.unlink(os.path.join(root, "run", "dns.pid"))
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
