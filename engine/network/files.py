"""A container's /etc/hosts and /etc/resolv.conf, as docker writes them
(standard library only)."""
HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\n"
         "ff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
# docker's fallback when the host has only loopback nameservers (IPv4: no IPv6 on our bridge)
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def hosts(hostname: str | None = None, ip: str | None = None, extra: list[tuple[str, str]] = ()) -> str:
    """docker's /etc/hosts: the fixed lines, --add-host's, then the container's
    address and hostname once it has an address on a bridge."""
    return HOSTS + "".join(f"{addr}\t{name}\n" for name, addr in extra) + \
        (f"{ip}\t{hostname}\n" if ip and hostname else "")


def parse_add_host(spec: str) -> tuple[str, str]:
    """--add-host HOST:IP (or HOST=IP, as docker 25) → (host, ip or "host-gateway")."""
    import ipaddress

    from ..errors import InvalidArgument
    sep = "=" if "=" in spec else ":"
    name, _, addr = spec.partition(sep)
    if not name or not addr:
        raise InvalidArgument(f"invalid --add-host {spec!r}: HOST:IP")
    if addr != "host-gateway":
        try:
            ipaddress.ip_address(addr.strip("[]"))
        except ValueError:
            raise InvalidArgument(f"invalid IP address in --add-host {spec!r}: {addr!r}") from None
    return name, addr.strip("[]")


def extra_hosts(specs: list[str], gateway: str | None) -> list[tuple[str, str]]:
    """--add-host's entries, host-gateway replaced by `gateway` (the host as the container reaches it)."""
    from ..errors import InvalidArgument
    out = []
    for spec in specs:
        name, addr = parse_add_host(spec)
        if addr == "host-gateway":
            if not gateway:
                raise InvalidArgument(f"--add-host {spec}: host-gateway needs a bridge network")
            addr = gateway
        out.append((name, addr))
    return out


def _loopback(addr: str) -> bool:
    import ipaddress
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def host_nameservers(host_file: str = "/etc/resolv.conf") -> list[str]:
    """Every nameserver of the host's resolv.conf (the embedded DNS forwards to
    them from the host's namespace, where loopback ones answer too)."""
    try:
        with open(host_file) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [f[1] for f in (line.split() for line in lines) if len(f) >= 2 and f[0] == "nameserver"]


def resolv_conf(host_file: str = "/etc/resolv.conf", *, dns: list[str] | None = None,
                search: list[str] | None = None, options: list[str] | None = None,
                embedded: str | None = None) -> str:
    """The host's resolv.conf without its loopback nameservers (127.0.0.0/8,
    ::1: they mean nothing in the container's network namespace); when none is
    left, docker's 8.8.8.8 and 8.8.4.4. search and options lines are kept.
    --dns, --dns-search and --dns-option replace the host's lines. With
    `embedded` (the embedded DNS's address, on a user network) that is the
    one nameserver, as docker's 127.0.0.11, and docker's ndots:0."""
    try:
        with open(host_file) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    out = []
    for line in lines:
        fields = line.split()
        key = fields[0] if fields else ""
        if key == "nameserver" and (dns is not None or embedded or (len(fields) >= 2 and _loopback(fields[1]))):
            continue
        if (key in ("search", "domain") and search is not None) or (key == "options" and (options is not None
                                                                                            or embedded)):
            continue
        out.append(line)
    if embedded:  # first, as docker's 127.0.0.11
        out.insert(0, f"nameserver {embedded}")
    elif dns is not None:
        out += [f"nameserver {ns}" for ns in dns]
    if search is not None and search != ["."]:
        out.append("search " + " ".join(search))
    if options is not None or embedded:
        opts = list(options or [])
        if embedded and not any(o.startswith("ndots:") for o in opts):
            opts.append("ndots:0")
        out.append("options " + " ".join(opts))
    if not any(line.split()[:1] == ["nameserver"] for line in out):
        out += [f"nameserver {ns}" for ns in DEFAULT_NAMESERVERS]
    if embedded:
        ext = dns if dns is not None else host_nameservers(host_file)
        out.append(f"# ExtServers: [{' '.join(ext)}] (the embedded DNS forwards other names there)")
    return "\n".join(out) + "\n"
