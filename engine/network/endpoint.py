"""A container on the default bridge: what a start does before and after the
monitor, and what its end undoes.

Before the monitor starts (`prepare`, in the engine's process): the network's
bridge and rules (once), an address from the database, a new network
namespace holding eth0 (veth peer, address, MAC, default route), bind-mounted
at ROOT/run/netns/<id>, the path the container's config.json names for its
network namespace (the init joins it, as runc joins a path); the DNAT rules
of its published ports; /etc/hosts with its address; network.json (what was
made, for `port`, inspect and the teardown). After the monitor has answered
(`started`): the bind mount goes; the namespace lives exactly as long as the
container's processes, and its veth pair with it.

When the container ends the monitor runs the rule deletions `prepare`
returned (monitor.json's poststop, plain iptables commands: the monitor
stays standard-library only) and frees the address (store/container_exit);
`teardown` does all of it from the engine (reconcile after a monitor died,
a start that failed)."""
import json
import os

from ..errors import Conflict, DockyardError, InvalidArgument, NotFound
from ..store.fsutil import atomic_write
from . import files, ipam, iptables
from . import ports as portsmod

NETWORK_JSON = "network.json"
MODES = ("none", "host", "bridge")
MAX_NETWORKS = 10   # eth0…eth9: a host veth's name is dy + 12 hex of the id + the digit


def uses_netns(mode: str | None) -> bool:
    """A network namespace made by engine/network (the default bridge or a user network)."""
    return mode not in (None, "none", "host")


def attachments(opts: dict) -> list[dict]:
    """The networks a container is attached to at its start: [{name, ip,
    aliases, mac}], the --network one first. Containers made before user
    networks have no list: the default bridge or nothing."""
    nets = opts.get("networks")
    if nets is not None:
        return nets
    return [{"name": "bridge", "ip": None, "aliases": [], "mac": None}] if opts.get("network") == "bridge" else []


def check_mode(store, opts) -> None:
    """A create's network flags, refused by name before anything is made."""
    mode = opts.network
    if mode not in MODES:
        from . import ipam
        if ipam.get(store, mode) is None:
            raise InvalidArgument(f"network {mode!r} not found: use --network none, host, bridge "
                                  "or a network made with `network create`")
    user = uses_netns(mode) and mode != "bridge"
    if opts.publish or opts.publish_all:
        if not uses_netns(mode):
            raise InvalidArgument(f"--publish needs --network bridge or a user network (the container's network is {mode})")
        portsmod.parse_all(opts.publish)
    if (opts.ip or opts.network_alias) and not user:
        what = "--ip" if opts.ip else "--network-alias"
        raise InvalidArgument(f"{what}: user specified IP addresses and aliases are supported on user defined "
                              "networks only (--network NAME)")
    if opts.mac_address:
        if not uses_netns(mode):
            raise InvalidArgument(f"--mac-address needs a bridge network (the container's network is {mode})")
        check_mac(opts.mac_address)
    if opts.ip:
        import ipaddress
        try:
            ipaddress.IPv4Address(opts.ip)
        except ValueError:
            raise InvalidArgument(f"invalid --ip {opts.ip!r}: an IPv4 address") from None


def check_mac(mac: str) -> None:
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise InvalidArgument(f"invalid --mac-address {mac!r}: six hex bytes such as 02:42:ac:11:00:02")
    if int(parts[0], 16) & 1:
        raise InvalidArgument(f"invalid --mac-address {mac}: a multicast address")


def netns_path(root: str, cid: str) -> str:
    return os.path.join(root, "run", "netns", cid)


def host_veth(cid: str, n: int = 0) -> str:
    return "dy" + cid[:12] + (str(n) if n else "")


def _sysctl(path: str, value: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() == value:
                return
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise DockyardError(f"cannot set {path[len('/proc/sys/'):].replace('/', '.')} = {value}: {e.strerror}") from None


def ensure_default(store) -> ipam.Network:
    """The default network, its bridge up with its gateway and its rules in place."""
    return ensure(store, ipam.DEFAULT_NETWORK)


def ensure(store, name: str) -> ipam.Network:
    """A network's bridge up with its gateway and its rules in place (made on
    its first use); the default network's row too."""
    from . import links
    with ipam.host_lock():
        net = ipam.default_network(store) if name == ipam.DEFAULT_NETWORK else ipam.get(store, name)
        if net is None:
            raise NotFound(f"network {name} not found")
        if links.link_index(net.bridge) is None and net.name == ipam.DEFAULT_NETWORK:
            # made anew (a reboot, a test's cleanup): its old subnet may clash now
            clash = [r for r in ipam.host_routes() if r.overlaps(net.net)]
            busy = store.db.query("SELECT 1 FROM endpoints WHERE network = ?", (net.id,))
            if clash and not busy:
                ours = [n.net for n in ipam.all_networks(store) if n.id != net.id]
                net = ipam.set_subnet(store, net, ipam.pick_subnet(ipam.host_routes() + ours))
        links.ensure_bridge(net.bridge, net.gateway, net.net.prefixlen, f"{links.ALIAS} {store.root}")
        _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
        # published ports reached from 127.0.0.1: DNAT to the bridge needs loopback sources routable there
        _sysctl(f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet", "1")
        iptables.ensure_network(net.bridge, net.subnet, net.internal)
    return net


def attach(store, cid: str, fd: int, sock, att: dict, n: int, route: bool) -> dict:
    """Plugs the container into one network as eth<n>: its bridge, an
    address, the veth pair; a default route through it when `route` and the
    network is not internal. Returns the endpoint (network.json's)."""
    from . import links
    if n >= MAX_NETWORKS:
        raise Conflict(f"a container can be attached to {MAX_NETWORKS} networks at most")
    net = ensure(store, att["name"])
    ip, mac = ipam.allocate(store, net, cid, att.get("ip"), att.get("mac"))
    gw = net.gateway if route and not net.internal else None
    try:
        # a dup each: the IPRoute that uses it closes it, and the next network needs one too
        links.plug(fd, sock.dup(), host_name=host_veth(cid, n), bridge=net.bridge, ip=ip, prefixlen=net.net.prefixlen,
                   mac=mac, gateway=gw, alias=f"{links.ALIAS} {cid}", ifname=f"eth{n}")
    except BaseException:
        ipam.release(store, cid, net.id)
        raise
    return {"network": net.name, "network_id": net.id, "bridge": net.bridge, "ip": ip, "mac": mac,
            "gateway": net.gateway, "prefixlen": net.net.prefixlen, "host_veth": host_veth(cid, n),
            "ifname": f"eth{n}", "internal": net.internal, "aliases": list(att.get("aliases") or []),
            "default_route": bool(gw)}


def prepare(store, cid: str, cdir: str, opts: dict) -> list[list[str]]:
    """Everything the container's network needs before its monitor starts;
    returns the commands its monitor runs when it ends."""
    from . import links
    publish = portsmod.parse_all(opts.get("publish") or [])
    path = netns_path(store.root, cid)
    rules: list[list[str]] = []
    eps: list[dict] = []
    fd = sock = None
    try:
        fd, sock = links.new_netns()
        _bind(fd, path)
        for n, att in enumerate(attachments(opts)):
            eps.append(attach(store, cid, fd, sock, att, n, route=not any(e["default_route"] for e in eps)))
        if not eps:  # every network disconnected: loopback only
            links.plug_loopback(sock.dup())
        outward = next((e for e in eps if not e["internal"]), None)
        published = [portsmod.choose_free(p) for p in publish] if outward else []
        rules = iptables.port_rules(cid, outward["ip"], published) if outward else []
        iptables.add_rules(rules)
        write_files(store, cdir, cid, opts, eps)
        doc = dict(eps[0] if eps else {}, endpoints=eps, ports=published, rules=rules)
        atomic_write(os.path.join(cdir, NETWORK_JSON), json.dumps(doc).encode(), cdir, durable=False)
        if any(e["network"] != ipam.DEFAULT_NETWORK for e in eps):
            from . import dnsctl
            dnsctl.ensure(store)
    except BaseException:
        _undo(store, cid, cdir, rules, len(eps))
        raise
    finally:
        if fd is not None:
            os.close(fd)
        if sock is not None:
            sock.close()
    return iptables.delete_argvs(rules)


def write_files(store, cdir: str, cid: str, opts: dict, eps: list[dict]) -> None:
    """/etc/hosts with the container's address and --add-host's; resolv.conf
    naming the embedded DNS (the gateway of its first user network) when it has one."""
    hostname = _read(os.path.join(cdir, "hostname")).strip() or cid[:12]
    extra = files.extra_hosts(opts.get("add_host") or [], host_gateway(store, eps))
    ip = eps[0]["ip"] if eps else None
    atomic_write(os.path.join(cdir, "hosts"), files.hosts(hostname, ip, extra).encode(), cdir, durable=False)
    dns = next((e["gateway"] for e in eps if e["network"] != ipam.DEFAULT_NETWORK), None)
    text = files.resolv_conf(dns=opts.get("dns") or None, search=opts.get("dns_search") or None,
                             options=opts.get("dns_option") or None, embedded=dns)
    atomic_write(os.path.join(cdir, "resolv.conf"), text.encode(), cdir, durable=False)


def host_gateway(store, eps: list[dict]) -> str | None:
    """--add-host's host-gateway: docker's is the default bridge's gateway; the
    container's own first gateway is the one it can reach."""
    if eps:
        return eps[0]["gateway"]
    net = ipam.get(store, ipam.DEFAULT_NETWORK)
    return net.gateway if net else None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _bind(fd: int, path: str) -> None:
    from ..runtime import syscalls as sc
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    _unbind(path)
    open(path, "w").close()
    try:
        sc.mount(f"/proc/self/fd/{fd}", path, None, sc.MS_BIND)
    except OSError as e:
        os.unlink(path)
        raise DockyardError(f"cannot bind the container's network namespace at {path}: {e.strerror}") from None


def _unbind(path: str) -> None:
    from ..runtime import syscalls as sc
    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def started(store, cid: str) -> None:
    """The monitor holds the namespace now (it opened the path before its
    fork): the bind mount has done its work."""
    _unbind(netns_path(store.root, cid))


def info(cdir: str) -> dict | None:
    """network.json of the container's last start, or None."""
    text = _read(os.path.join(cdir, NETWORK_JSON))
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _undo(store, cid: str, cdir: str, rules: list[list[str]], n: int = 1) -> None:
    from . import links
    for argv in iptables.delete_argvs(rules):
        try:
            iptables._run(argv)
        except DockyardError:
            pass
    for i in range(max(n, 1)):
        try:
            links.delete_link(host_veth(cid, i))
        except DockyardError:
            pass
    _unbind(netns_path(store.root, cid))
    ipam.release(store, cid)


def teardown(store, cid: str, cdir: str) -> None:
    """All of a stopped container's network that is left: its rules (found by
    their comment, whatever network.json says), its veth, the bind mount, its address."""
    from . import links
    if not os.path.exists(os.path.join(cdir, NETWORK_JSON)) and not ipam.endpoints_of(store, cid):
        return
    try:
        iptables.remove_tagged(iptables.ctr_tag(cid))
    except DockyardError:
        pass
    doc = info(cdir) or {}
    for veth in {host_veth(cid)} | {e["host_veth"] for e in doc.get("endpoints") or ()}:
        try:
            links.delete_link(veth)
        except DockyardError:
            pass
    _unbind(netns_path(store.root, cid))
    ipam.release(store, cid)
    try:
        os.unlink(os.path.join(cdir, NETWORK_JSON))
    except FileNotFoundError:
        pass


def remove_root_networks(store) -> list[str]:
    """Every bridge of this store and its rules (a test's cleanup, a store
    being thrown away); their rows go too. Returns the bridges removed."""
    gone = []
    nets = ipam.all_networks(store)
    from . import dnsctl, links
    dnsctl.stop(store)
    if not nets:
        return gone
    for net in nets:
        iptables.remove_tagged(iptables.net_tag(net.bridge))
        if links.delete_link(net.bridge):
            gone.append(net.bridge)
        with store.db.tx() as c:
            c.execute("DELETE FROM endpoints WHERE network = ?", (net.id,))
            c.execute("DELETE FROM networks WHERE id = ?", (net.id,))
    return gone
