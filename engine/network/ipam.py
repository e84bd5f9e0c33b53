"""Networks and addresses in the store's database (standard library only).

A network row names its Linux bridge and subnet; an endpoint row is a
running container's address on it. Addresses are handed out in one write
transaction (BEGIN IMMEDIATE) under UNIQUE(network, ip), so that 20 `run -d`
at once get 20 addresses and a race can only fail, never share one."""
import fcntl
import hashlib
import ipaddress
import json
import os
import time
from contextlib import contextmanager

from ..errors import Conflict, InvalidArgument, NotFound
from ..store import DEFAULT_ROOT

DEFAULT_NETWORK = "bridge"        # docker's name for the default network
DEFAULT_BRIDGE = "dockyard0"      # the Linux bridge of the default root's default network
# /16s tried in order for the default network (podman's first, then docker's);
# the first that overlaps no host route and no other network of ours is taken
CANDIDATES = [f"10.{n}.0.0/16" for n in range(88, 100)] + [f"172.{n}.0.0/16" for n in range(17, 32)]
HOST_LOCK = "/run/dockyard-network.lock"


class Network:
    __slots__ = ("id", "name", "driver", "bridge", "subnet", "gateway", "internal", "created", "options")

    def __init__(self, row):
        for k in self.__slots__:
            setattr(self, k, row[k])
        self.internal = bool(self.internal)
        self.options = json.loads(self.options or "{}")

    @property
    def net(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(self.subnet)


def bridge_name(root: str, name: str = DEFAULT_NETWORK) -> str:
    """dockyard0 for the default root's default network; for another root (a
    test's, a second store) a name of its own, so that two roots never share a
    bridge whose addresses only one of them knows."""
    if name == DEFAULT_NETWORK and os.path.abspath(root) == DEFAULT_ROOT:
        return DEFAULT_BRIDGE
    return "dockyard" + hashlib.sha256(f"{os.path.abspath(root)}\0{name}".encode()).hexdigest()[:7]


def host_routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes but the default one (/proc/net/route: the main table)."""
    out = []
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest = int(fields[1], 16).to_bytes(4, "little")
        mask = int(fields[7], 16).to_bytes(4, "little")
        net = ipaddress.ip_network(f"{ipaddress.IPv4Address(dest)}/{ipaddress.IPv4Address(mask)}", strict=False)
        if net.prefixlen:
            out.append(net)
    return out


def pick_subnet(taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    for cand in CANDIDATES:
        net = ipaddress.ip_network(cand)
        if not any(net.overlaps(t) for t in taken):
            return net
    raise Conflict("no free subnet for the default network: every one of "
                   f"{CANDIDATES[0]}…{CANDIDATES[-1]} overlaps a route of this host")


@contextmanager
def host_lock():
    """Held while a network's subnet is chosen and its bridge made: two roots
    choosing at once would take the same free subnet."""
    fd = os.open(HOST_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def get(store, name: str) -> Network | None:
    rows = store.db.query("SELECT * FROM networks WHERE name = ? OR id = ?", (name, name))
    return Network(rows[0]) if rows else None


def all_networks(store) -> list[Network]:
    return [Network(r) for r in store.db.query("SELECT * FROM networks ORDER BY created")]


def default_network(store) -> Network:
    """The default network's row, made on first use with the first free subnet
    (call with host_lock held)."""
    net = get(store, DEFAULT_NETWORK)
    if net is not None:
        return net
    ours = [ipaddress.ip_network(n.subnet) for n in all_networks(store)]
    subnet = pick_subnet(host_routes() + ours)
    return add(store, DEFAULT_NETWORK, subnet, bridge=bridge_name(store.root))


def add(store, name: str, subnet, *, bridge: str, gateway: str | None = None, internal: bool = False,
        options: dict | None = None) -> Network:
    subnet = ipaddress.ip_network(subnet)
    gw = ipaddress.ip_address(gateway) if gateway else subnet.network_address + 1
    if gw not in subnet:
        raise InvalidArgument(f"gateway {gw} is not in subnet {subnet}")
    nid = os.urandom(32).hex()
    with store.db.tx() as c:
        if c.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone():
            raise Conflict(f"network with name {name} already exists")
        c.execute("INSERT INTO networks(id, name, driver, bridge, subnet, gateway, internal, created, options) "
                  "VALUES (?,?,?,?,?,?,?,?,?)", (nid, name, "bridge", bridge, str(subnet), str(gw), int(internal),
                                                 time.time(), json.dumps(options or {})))
    return get(store, nid)


def set_subnet(store, net: Network, subnet) -> Network:
    """A new subnet for a network with no endpoint (its old one clashes with a route now)."""
    subnet = ipaddress.ip_network(subnet)
    with store.db.tx() as c:
        c.execute("UPDATE networks SET subnet = ?, gateway = ? WHERE id = ?",
                  (str(subnet), str(subnet.network_address + 1), net.id))
    return get(store, net.id)


def mac_for(ip: str) -> str:
    """docker's: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(ip).packed)


def allocate(store, net: Network, container: str, ip: str | None = None, mac: str | None = None) -> tuple[str, str]:
    """(ip, mac) for `container` on `net`: the one asked for, or the lowest free
    host address after the gateway; the MAC asked for or docker's from the
    address. One transaction; UNIQUE(network, ip) backs it."""
    subnet = net.net
    with store.db.tx() as c:
        row = c.execute("SELECT ip, mac FROM endpoints WHERE container = ? AND network = ?",
                        (container, net.id)).fetchone()
        if row:
            return row["ip"], row["mac"]
        used = {r[0] for r in c.execute("SELECT ip FROM endpoints WHERE network = ?", (net.id,))}
        used.add(net.gateway)
        if ip is not None:
            addr = ipaddress.ip_address(ip)
            if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
                raise InvalidArgument(f"address {ip} is not a host address of network {net.name} ({subnet})")
            if str(addr) in used:
                raise Conflict(f"address {ip} is already in use on network {net.name}")
            chosen = str(addr)
        else:
            chosen = None
            for addr in subnet.hosts():
                if str(addr) not in used:
                    chosen = str(addr)
                    break
            if chosen is None:
                raise Conflict(f"no free address left on network {net.name} ({subnet})")
        mac = mac or mac_for(chosen)
        c.execute("INSERT INTO endpoints(container, network, ip, mac, created) VALUES (?,?,?,?,?)",
                  (container, net.id, chosen, mac, time.time()))
    return chosen, mac


def release(store, container: str, network: str | None = None) -> None:
    """Frees the container's addresses (on `network`, an id, only when given)."""
    with store.db.tx() as c:
        if network is None:
            c.execute("DELETE FROM endpoints WHERE container = ?", (container,))
        else:
            c.execute("DELETE FROM endpoints WHERE container = ? AND network = ?", (container, network))


def endpoints_of(store, container: str) -> list[dict]:
    rows = store.db.query("SELECT e.ip, e.mac, n.name, n.id, n.gateway, n.subnet, n.bridge FROM endpoints e "
                          "JOIN networks n ON n.id = e.network WHERE e.container = ?", (container,))
    return [dict(r) for r in rows]


def remove(store, name: str) -> Network:
    net = get(store, name)
    if net is None:
        raise NotFound(f"network {name} not found")
    with store.db.tx() as c:
        users = c.execute("SELECT container FROM endpoints WHERE network = ?", (net.id,)).fetchall()
        if users:
            raise Conflict(f"error while removing network: network {net.name} id {net.id} has active endpoints")
        c.execute("DELETE FROM networks WHERE id = ?", (net.id,))
    return net
