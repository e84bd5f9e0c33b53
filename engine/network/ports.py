"""`-p/--publish` as docker reads it: [ip:][hostport:]containerport[/tcp|udp],
each port a number or a range (8000-8010); a missing host port is chosen by
the kernel (an ephemeral one) when the container starts. Standard library only."""
import ipaddress
import socket

from ..errors import InvalidArgument


def _range(text: str, spec: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise InvalidArgument(f"invalid port {text!r} in --publish {spec!r}") from None
    if not (0 < a <= b <= 65535):
        raise InvalidArgument(f"invalid port range {text!r} in --publish {spec!r}: 1-65535, low to high")
    return a, b


def parse(spec: str) -> list[dict]:
    """One --publish value → [{"host_ip", "host_port" (0: choose), "container_port", "proto"}]."""
    body, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp"):
        raise InvalidArgument(f"invalid protocol {proto!r} in --publish {spec!r}: tcp or udp")
    if body.startswith("["):  # [ipv6]:port
        raise InvalidArgument(f"--publish {spec!r}: IPv6 host addresses are not supported yet")
    parts = body.rsplit(":", 2)
    host_ip, host = "", ""
    if len(parts) == 3:
        host_ip, host, ctr = parts
    elif len(parts) == 2:
        host, ctr = parts
    else:
        ctr = parts[0]
    if host_ip:
        try:
            if ipaddress.ip_address(host_ip).version != 4:
                raise ValueError
        except ValueError:
            raise InvalidArgument(f"invalid host address {host_ip!r} in --publish {spec!r} (IPv4)") from None
    c_lo, c_hi = _range(ctr, spec)
    if host:
        h_lo, h_hi = _range(host, spec)
        if h_hi - h_lo != c_hi - c_lo:
            if c_lo != c_hi:
                raise InvalidArgument(f"--publish {spec!r}: the host and container port ranges differ in size")
            # docker: a host range for one container port takes one port of it; we take its first
            h_hi = h_lo
    else:
        h_lo = h_hi = 0
    out = []
    for i in range(c_hi - c_lo + 1):
        out.append({"host_ip": host_ip or "0.0.0.0", "host_port": h_lo + i if h_lo else 0,
                    "container_port": c_lo + i, "proto": proto})
    return out


def parse_all(specs: list[str]) -> list[dict]:
    out = []
    seen = set()
    for s in specs:
        for p in parse(s):
            key = (p["host_ip"], p["host_port"], p["proto"])
            if p["host_port"] and key in seen:
                raise InvalidArgument(f"--publish {s!r}: host port {p['host_port']}/{p['proto']} is published twice")
            seen.add(key)
            out.append(p)
    return out


def choose_free(p: dict) -> dict:
    """A host port for a mapping that named none: one the kernel hands out now."""
    if p["host_port"]:
        return p
    kind = socket.SOCK_STREAM if p["proto"] == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((p["host_ip"] if p["host_ip"] != "0.0.0.0" else "", 0))
        return dict(p, host_port=s.getsockname()[1])


def docker_view(ports: list[dict]) -> dict:
    """inspect's NetworkSettings.Ports: {"80/tcp": [{"HostIp", "HostPort"}]}."""
    out: dict = {}
    for p in ports:
        out.setdefault(f"{p['container_port']}/{p['proto']}", []).append(
            {"HostIp": p["host_ip"], "HostPort": str(p["host_port"])})
    return out
