"""Signal names as docker accepts them: KILL, SIGKILL, 9."""
import signal

from ..errors import InvalidArgument


def parse(sig: str | int | None, default: int = signal.SIGTERM) -> int:
    if sig is None or sig == "":
        return int(default)
    if isinstance(sig, int):
        return sig
    s = str(sig).strip().upper()
    if s.isdigit():
        n = int(s)
        if 0 < n < 65:
            return n
    else:
        name = s if s.startswith("SIG") else "SIG" + s
        if hasattr(signal.Signals, name):
            return int(signal.Signals[name])
        if name.startswith("SIGRTMIN+") and name[9:].isdigit():
            return int(signal.SIGRTMIN) + int(name[9:])
    raise InvalidArgument(f"invalid signal: {sig}")
