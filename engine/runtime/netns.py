"""Network namespace set-up done from inside the container's init: bring the
loopback interface up (ioctl on a datagram socket; no pyroute2 here)."""
import _socket  # the C module: `socket` would pull in enum, selectors…
import fcntl
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def link_up(name: str = "lo") -> None:
    """Set IFF_UP on interface `name` of the current network namespace."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | getattr(_socket, "SOCK_CLOEXEC", 0), 0)
    try:
        ifreq = struct.pack("16sh22x", name.encode(), 0)
        try:
            res = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq)
            flags = struct.unpack("16sh22x", res)[1]
            if not flags & IFF_UP:
                fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh22x", name.encode(), flags | IFF_UP))
        except OSError as e:
            raise OSError(e.errno, f"bring {name} up: {e.strerror}") from None
    finally:
        s.close()


def loopback_up() -> None:
    link_up("lo")
