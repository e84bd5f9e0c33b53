"""User-defined bridge networks as docker's `network` command sees them:
create, ls, inspect, rm, prune; the predefined bridge, host and none.
Rows and addresses are ipam's; a network's bridge and rules are made at the
first start of a container on it (endpoint.ensure) and removed with it."""
import hashlib
import ipaddress
import os

from ..errors import Conflict, InvalidArgument, NotFound
from . import ipam

PREDEFINED = ("bridge", "host", "none")
DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}


def _pseudo_id(store, name: str) -> str:
    """host and none have no row: an id stable for the store, as docker's are for its daemon."""
    return hashlib.sha256(f"{os.path.abspath(store.root)}\0{name}".encode()).hexdigest()


def check_name(name: str) -> None:
    if not name or not all(c.isascii() and (c.isalnum() or c in "_.-") for c in name) or not name[0].isalnum():
        raise InvalidArgument(f'invalid network name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')


def create(store, name: str, *, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
           driver: str = "bridge", labels: dict | None = None) -> ipam.Network:
    check_name(name)
    if driver != "bridge":
        raise InvalidArgument(f"network driver {driver!r} is not supported: bridge only")
    if name in PREDEFINED or ipam.get(store, name) is not None:
        raise Conflict(f"network with name {name} already exists")
    if gateway and not subnet:
        raise InvalidArgument("--gateway needs --subnet")
    with ipam.host_lock():
        ours = [n.net for n in ipam.all_networks(store)]
        if subnet:
            try:
                net = ipaddress.ip_network(subnet)
            except ValueError:
                raise InvalidArgument(f"invalid subnet {subnet!r}: a CIDR such as 10.90.0.0/16") from None
            if net.version != 4 or net.prefixlen > 30:
                raise InvalidArgument(f"invalid subnet {subnet}: IPv4, /30 or larger")
            if any(net.overlaps(o) for o in ours):
                raise Conflict(f"invalid pool request: Pool overlaps with other one on this address space ({net})")
        else:
            if ipam.get(store, ipam.DEFAULT_NETWORK) is None:  # the default bridge keeps its first pick
                ours.append(ipam.default_network(store).net)
            net = ipam.pick_subnet(ipam.host_routes() + ours)
        if gateway:
            try:
                ipaddress.ip_address(gateway)
            except ValueError:
                raise InvalidArgument(f"invalid gateway {gateway!r}: an IPv4 address") from None
        return ipam.add(store, name, net, bridge=ipam.bridge_name(store.root, name), gateway=gateway,
                        internal=internal, options={"labels": labels or {}})


def find(store, ref: str) -> ipam.Network:
    """A network by name, full id or unique id prefix (not host or none)."""
    if ref == ipam.DEFAULT_NETWORK:
        with ipam.host_lock():
            return ipam.default_network(store)
    net = ipam.get(store, ref)
    if net is not None:
        return net
    if ref and all(c in "0123456789abcdef" for c in ref):
        hits = [n for n in ipam.all_networks(store) if n.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
    raise NotFound(f"network {ref} not found")


def listing(store) -> list[dict]:
    """{id, name, driver, scope} of every network, the predefined ones first."""
    with ipam.host_lock():
        ipam.default_network(store)
    rows = [{"id": n.id, "name": n.name, "driver": "bridge", "scope": "local", "created": n.created,
             "internal": n.internal} for n in ipam.all_networks(store)]
    for name in ("host", "none"):
        rows.append({"id": _pseudo_id(store, name), "name": name, "driver": DRIVERS[name], "scope": "local",
                     "created": 0.0, "internal": False})
    rows.sort(key=lambda r: (r["name"] not in PREDEFINED, r["name"]))
    return rows


def _rfc3339(ts: float) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat().replace("+00:00", "Z")


def inspect(store, ref: str) -> dict:
    """docker network inspect's document."""
    if ref in ("host", "none"):
        return {"Name": ref, "Id": _pseudo_id(store, ref), "Created": _rfc3339(0), "Scope": "local",
                "Driver": DRIVERS[ref], "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None,
                                                                       "Config": []},
                "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {}}
    net = find(store, ref)
    containers = {}
    for r in store.db.query("SELECT e.container, e.ip, e.mac, c.name FROM endpoints e JOIN containers c "
                            "ON c.id = e.container WHERE e.network = ? ORDER BY e.ip", (net.id,)):
        containers[r["container"]] = {"Name": r["name"], "EndpointID": hashlib.sha256(
            f"{net.id}{r['container']}".encode()).hexdigest(), "MacAddress": r["mac"],
            "IPv4Address": f"{r['ip']}/{net.net.prefixlen}", "IPv6Address": ""}
    options = {"com.docker.network.bridge.name": net.bridge}
    if net.name == ipam.DEFAULT_NETWORK:
        options["com.docker.network.bridge.default_bridge"] = "true"
    return {"Name": net.name, "Id": net.id, "Created": _rfc3339(net.created), "Scope": "local", "Driver": "bridge",
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {},
                                          "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
            "Internal": net.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": containers, "Options": options,
            "Labels": net.options.get("labels") or {}}


def remove(store, ref: str) -> str:
    """docker network rm: refused for the predefined ones and while a container is attached."""
    if ref in PREDEFINED:
        raise Conflict(f"{ref} is a pre-defined network and cannot be removed")
    net = find(store, ref)
    if net.name in PREDEFINED:
        raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
    from . import iptables
    with ipam.host_lock():
        ipam.remove(store, net.id)   # refused while it has endpoints
        iptables.remove_tagged(iptables.net_tag(net.bridge))
        from . import links
        links.delete_link(net.bridge)
    from . import dnsctl
    dnsctl.refresh(store)
    return net.name


def prune(store) -> list[str]:
    """Every user-defined network no container is attached to."""
    gone = []
    for net in ipam.all_networks(store):
        if net.name in PREDEFINED or store.db.query("SELECT 1 FROM endpoints WHERE network = ?", (net.id,)):
            continue
        try:
            gone.append(remove(store, net.id))
        except Conflict:  # a container attached meanwhile
            pass
    return gone
