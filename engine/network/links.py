"""The kernel's side of a bridge network, through pyroute2 (the only module
of dockyard that imports it, and only when a bridge is used: it costs ~200 ms
to import): the bridge, a container's veth pair, its eth0 inside a network
namespace made here, before the container exists."""
import os
import socket
import threading

from ..errors import DockyardError

ALIAS = "dockyard"   # ifalias prefix of the links we make: "dockyard ROOT" on a bridge


def preload() -> None:
    """For the zygote (engine.preload): pyroute2 imported once there instead of
    in each worker that starts a bridge container."""
    import pyroute2  # noqa: F401


def _iproute(sock=None):
    from pyroute2 import IPRoute
    return IPRoute(use_socket=sock) if sock is not None else IPRoute()


def _error(what: str, e: Exception) -> DockyardError:
    return DockyardError(f"{what}: {getattr(e, 'strerror', None) or e}")


def ensure_bridge(name: str, gateway: str, prefixlen: int, alias: str) -> int:
    """The bridge `name`, up, holding the gateway address; made if missing.
    Returns its ifindex."""
    with _iproute() as ipr:
        try:
            found = ipr.link_lookup(ifname=name)
            if found:
                idx = found[0]
            else:
                ipr.link("add", ifname=name, kind="bridge")
                idx = ipr.link_lookup(ifname=name)[0]
                ipr.link("set", index=idx, ifalias=alias)
            have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=socket.AF_INET)}
            if (gateway, prefixlen) not in have:
                ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
            ipr.link("set", index=idx, state="up")
        except Exception as e:
            raise _error(f"cannot set up the bridge {name}", e) from None
    return idx


def link_index(name: str) -> int | None:
    with _iproute() as ipr:
        found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def delete_link(name: str) -> bool:
    """Deletes a link (a veth's host end takes its peer along); False if there was none."""
    with _iproute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        try:
            ipr.link("del", index=found[0])
        except Exception as e:
            if getattr(e, "code", None) == 19:  # ENODEV: gone meanwhile
                return False
            raise _error(f"cannot delete the link {name}", e) from None
    return True


def links_with_alias(prefix: str) -> list[tuple[str, str]]:
    """(name, alias) of the host's links whose ifalias starts with `prefix`."""
    out = []
    with _iproute() as ipr:
        for link in ipr.get_links():
            alias = link.get("IFLA_IFALIAS") or ""
            if alias.startswith(prefix):
                out.append((link.get("IFLA_IFNAME"), alias))
    return out


def new_netns() -> tuple[int, socket.socket]:
    """A new network namespace: (an fd that holds it, a netlink socket inside
    it). Made by a short thread that unshares its own network namespace (that
    is per thread: the engine's other threads and process stay where they are)."""
    return _in_netns(None)


def enter_netns(path: str) -> tuple[int, socket.socket]:
    """(fd, netlink socket) of the existing network namespace at `path` (a
    running container's /proc/PID/ns/net): a socket made inside stays there."""
    return _in_netns(path)


def _in_netns(path: str | None) -> tuple[int, socket.socket]:
    from ..runtime import syscalls as sc
    out: dict = {}

    def run():
        try:
            if path is None:
                sc.unshare(sc.CLONE_NEWNET)
            else:
                target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    sc.setns(target, sc.CLONE_NEWNET)
                finally:
                    os.close(target)
            out["fd"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            out["sock"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)
        except OSError as e:
            out["error"] = e

    t = threading.Thread(target=run, name="dockyard-netns")
    t.start()
    t.join()
    if "error" in out:
        if "fd" in out:
            os.close(out["fd"])
        what = "create the container's network namespace" if path is None else f"enter the network namespace {path}"
        raise _error(f"cannot {what}", out["error"])
    return out["fd"], out["sock"]


def plug(ns_fd: int, ns_sock: socket.socket, *, host_name: str, bridge: str, ip: str, prefixlen: int,
         mac: str, gateway: str | None, alias: str, ifname: str = "eth0", mtu: int | None = None) -> None:
    """A veth pair: `host_name` on the bridge, its peer `ifname` in the
    namespace with `ip`/`mac`, up; a default route via `gateway` unless None
    (an internal network, or the container has one already)."""
    with _iproute() as ipr:
        try:
            br = ipr.link_lookup(ifname=bridge)
            if not br:
                raise DockyardError(f"the bridge {bridge} is gone")
            old = ipr.link_lookup(ifname=host_name)
            if old:  # a previous run's, its namespace not yet collected by the kernel
                ipr.link("del", index=old[0])
            peer = {"ifname": ifname, "net_ns_fd": ns_fd, "address": mac}
            if mtu:
                peer["mtu"] = mtu
            ipr.link("add", ifname=host_name, kind="veth", peer=peer)
            idx = ipr.link_lookup(ifname=host_name)[0]
            ipr.link("set", index=idx, master=br[0], ifalias=alias, state="up")
        except DockyardError:
            raise
        except Exception as e:
            raise _error(f"cannot create the veth pair {host_name}", e) from None
    with _iproute(ns_sock) as ns:
        try:
            names = {link.get("IFLA_IFNAME") for link in ns.get_links()}
            # never configure the host's links by mistake: a container's namespace holds lo and ethN only
            if ifname not in names or not all(n == "lo" or (n.startswith("eth") and n[3:].isdigit()) for n in names):
                raise DockyardError(f"the container's network namespace holds {sorted(names)}, not lo and ethN")
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            eth = ns.link_lookup(ifname=ifname)[0]
            ns.addr("add", index=eth, address=ip, prefixlen=prefixlen)
            ns.link("set", index=eth, state="up")
            if gateway:
                ns.route("add", dst="0.0.0.0/0", gateway=gateway)
        except DockyardError:
            raise
        except Exception as e:
            raise _error(f"cannot configure {ifname} in the container's network namespace", e) from None


def plug_loopback(ns_sock: socket.socket) -> None:
    """lo up in a namespace attached to no network (all of them disconnected)."""
    with _iproute(ns_sock) as ns:
        try:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        except Exception as e:
            raise _error("cannot set lo up in the container's network namespace", e) from None
