"""`network connect` and `disconnect` of a running container: a veth pair
added to (or taken from) its network namespace while it runs, its address,
network.json, /etc/hosts; the DNS sees the endpoint rows at once."""
import json
import os

from ..errors import DockyardError
from ..store.fsutil import atomic_write
from . import endpoint, ipam


def _save(cdir: str, doc: dict) -> None:
    eps = doc.get("endpoints") or []
    doc = dict(eps[0] if eps else {}, endpoints=eps, ports=doc.get("ports") or [], rules=doc.get("rules") or [])
    atomic_write(os.path.join(cdir, endpoint.NETWORK_JSON), json.dumps(doc).encode(), cdir, durable=False)


def connect(store, cid: str, cdir: str, pid: int, opts: dict, att: dict) -> dict:
    """Adds eth<N> on `att`'s network inside the running container (pid)."""
    from . import links
    doc = endpoint.info(cdir) or {}
    eps = list(doc.get("endpoints") or [])
    used = {int(e["ifname"][3:]) for e in eps}
    n = next(i for i in range(endpoint.MAX_NETWORKS + 1) if i not in used)
    fd, sock = links.enter_netns(f"/proc/{pid}/ns/net")
    try:
        ep = endpoint.attach(store, cid, fd, sock, att, n, route=not any(e.get("default_route") for e in eps))
    finally:
        os.close(fd)
        sock.close()
    eps.append(ep)
    doc["endpoints"] = eps
    _save(cdir, doc)
    endpoint.write_files(store, cdir, cid, opts, eps)
    if ep["network"] != ipam.DEFAULT_NETWORK:
        from . import dnsctl
        dnsctl.ensure(store)
    return ep


def disconnect(store, cid: str, cdir: str, opts: dict, net: ipam.Network) -> None:
    """Takes the container's veth on `net` away (its peer goes with it) and frees the address."""
    from . import links
    doc = endpoint.info(cdir) or {}
    eps = list(doc.get("endpoints") or [])
    mine = [e for e in eps if e["network_id"] == net.id]
    for e in mine:
        try:
            links.delete_link(e["host_veth"])
        except DockyardError:
            pass
    ipam.release(store, cid, net.id)
    doc["endpoints"] = [e for e in eps if e["network_id"] != net.id]
    _save(cdir, doc)
    endpoint.write_files(store, cdir, cid, opts, doc["endpoints"])
