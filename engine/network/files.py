"""A container's /etc/hosts and /etc/resolv.conf, as docker writes them
(standard library only)."""
HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\n"
         "ff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
# docker's fallback when the host has only loopback nameservers (IPv4: no IPv6 on our bridge)
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def hosts(hostname: str | None = None, ip: str | None = None) -> str:
    """docker's /etc/hosts: the fixed lines, then the container's address and
    hostname once it has an address on a bridge."""
    return HOSTS + (f"{ip}\t{hostname}\n" if ip and hostname else "")


def _loopback(addr: str) -> bool:
    import ipaddress
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(host_file: str = "/etc/resolv.conf") -> str:
    """The host's resolv.conf without its loopback nameservers (127.0.0.0/8,
    ::1: they mean nothing in the container's network namespace); when none is
    left, docker's 8.8.8.8 and 8.8.4.4. search and options lines are kept."""
    try:
        with open(host_file) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    out = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and _loopback(fields[1]):
            continue
        out.append(line)
    if not any(line.split()[:1] == ["nameserver"] for line in out):
        out += [f"nameserver {ns}" for ns in DEFAULT_NAMESERVERS]
    return "\n".join(out) + "\n"
