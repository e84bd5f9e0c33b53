"""docker network connect / disconnect: a container's networks are in its
options (`networks`, what each start attaches); a running one is changed
live as well (engine/network/live.py)."""
from ..errors import Conflict, InvalidArgument
from ..store import Store
from .lifecycle import runtime_state
from .records import find, update_config


def _record(store: Store, ctr: str):
    rec = find(store, ctr)
    mode = rec.config["options"].get("network")
    if mode in (None, "none", "host"):
        raise Conflict(f"container {rec.name} uses --network {mode or 'none'}: it cannot be connected to or "
                       "disconnected from networks")
    return rec


def connect(store: Store, network: str, ctr: str, *, ip: str | None = None, aliases: list[str] = ()) -> None:
    from ..network import endpoint, networks
    if network in ("host", "none"):
        raise Conflict(f"container cannot be connected to the {network} network: it has a network namespace of its own")
    rec = _record(store, ctr)
    net = networks.find(store, network)
    if (ip or aliases) and net.name == "bridge":
        raise InvalidArgument("user specified IP addresses and aliases are supported on user defined networks only")
    if ip:
        import ipaddress
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise InvalidArgument(f"invalid --ip {ip!r}: an IPv4 address") from None
    opts = rec.config["options"]
    atts = list(endpoint.attachments(opts))
    if any(a["name"] == net.name for a in atts):
        raise Conflict(f"endpoint with name {rec.name} already exists in network {net.name}")
    att = {"name": net.name, "ip": ip, "aliases": list(aliases), "mac": None}
    st = runtime_state(rec)
    new_opts = dict(opts, networks=atts + [att])
    if st.get("status") in ("running", "paused") and st.get("pid"):
        from ..network import live
        live.connect(store, rec.id, rec.dir, st["pid"], new_opts, att)
    update_config(store, rec.id, dict(rec.config, options=new_opts))


def disconnect(store: Store, network: str, ctr: str, *, force: bool = False) -> None:
    from ..network import endpoint, networks
    rec = _record(store, ctr)
    net = networks.find(store, network)
    opts = rec.config["options"]
    atts = list(endpoint.attachments(opts))
    if not any(a["name"] == net.name for a in atts):
        raise InvalidArgument(f"container {rec.name} is not connected to network {net.name}")
    new_opts = dict(opts, networks=[a for a in atts if a["name"] != net.name])
    st = runtime_state(rec)
    if st.get("status") in ("running", "paused"):
        from ..network import live
        live.disconnect(store, rec.id, rec.dir, new_opts, net)
    update_config(store, rec.id, dict(rec.config, options=new_opts))
