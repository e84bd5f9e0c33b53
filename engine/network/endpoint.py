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

from ..errors import DockyardError, InvalidArgument
from ..store.fsutil import atomic_write
from . import files, ipam, iptables
from . import ports as portsmod

NETWORK_JSON = "network.json"
MODES = ("none", "host", "bridge")


def check_mode(mode: str, publish: list[str]) -> None:
    if mode not in MODES:
        raise InvalidArgument(f"network {mode!r} not found: use --network none, host or bridge")
    if publish:
        if mode != "bridge":
            raise InvalidArgument(f"--publish needs --network bridge (the container's network is {mode})")
        portsmod.parse_all(publish)


def netns_path(root: str, cid: str) -> str:
    return os.path.join(root, "run", "netns", cid)


def host_veth(cid: str) -> str:
    return "dy" + cid[:12]


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
    from . import links
    with ipam.host_lock():
        net = ipam.default_network(store)
        if links.link_index(net.bridge) is None:
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


def prepare(store, cid: str, cdir: str, opts: dict) -> list[list[str]]:
    """Everything the container's network needs before its monitor starts;
    returns the commands its monitor runs when it ends."""
    from . import links
    publish = portsmod.parse_all(opts.get("publish") or [])
    net = ensure_default(store)
    ip, mac = ipam.allocate(store, net, cid)
    path = netns_path(store.root, cid)
    rules: list[list[str]] = []
    fd = sock = None
    try:
        fd, sock = links.new_netns()
        _bind(fd, path)
        links.plug(fd, sock, host_name=host_veth(cid), bridge=net.bridge, ip=ip, prefixlen=net.net.prefixlen,
                   mac=mac, gateway=net.gateway, alias=f"{links.ALIAS} {cid}")
        sock = None  # closed with its IPRoute
        published = [portsmod.choose_free(p) for p in publish]
        rules = iptables.port_rules(cid, ip, published)
        iptables.add_rules(rules)
        hostname = _read(os.path.join(cdir, "hostname")).strip() or cid[:12]
        atomic_write(os.path.join(cdir, "hosts"), files.hosts(hostname, ip).encode(), cdir, durable=False)
        doc = {"network": net.name, "network_id": net.id, "bridge": net.bridge, "ip": ip, "mac": mac,
               "gateway": net.gateway, "prefixlen": net.net.prefixlen, "host_veth": host_veth(cid),
               "ports": published, "rules": rules}
        atomic_write(os.path.join(cdir, NETWORK_JSON), json.dumps(doc).encode(), cdir, durable=False)
    except BaseException:
        _undo(store, cid, cdir, rules)
        raise
    finally:
        if fd is not None:
            os.close(fd)
        if sock is not None:
            sock.close()
    return iptables.delete_argvs(rules)


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


def _undo(store, cid: str, cdir: str, rules: list[list[str]]) -> None:
    from . import links
    for argv in iptables.delete_argvs(rules):
        try:
            iptables._run(argv)
        except DockyardError:
            pass
    try:
        links.delete_link(host_veth(cid))
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
    try:
        links.delete_link(host_veth(cid))
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
    if not nets:
        return gone
    from . import links
    for net in nets:
        iptables.remove_tagged(iptables.net_tag(net.bridge))
        if links.delete_link(net.bridge):
            gone.append(net.bridge)
        with store.db.tx() as c:
            c.execute("DELETE FROM endpoints WHERE network = ?", (net.id,))
            c.execute("DELETE FROM networks WHERE id = ?", (net.id,))
    return gone
