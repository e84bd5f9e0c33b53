"""Image configs as Docker writes them: the fields, the time format, the platform."""
import datetime
import platform

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def host_arch() -> str:
    m = platform.machine()
    return _ARCH.get(m, m)


def timestamp(t: float | None = None) -> str:
    """RFC 3339 in UTC with nanoseconds, as Go's time.Time marshals."""
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC) if t is not None else \
        datetime.datetime.now(datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


def parse_time(s: str | None) -> float | None:
    if not s:
        return None
    try:
        # Go writes up to nine fractional digits; Python takes six.
        head, _, tail = s.partition(".")
        if tail:
            frac = "".join(ch for ch in tail if ch.isdigit())
            zone = tail[len(frac):]
            s = f"{head}.{frac[:6]}{zone}"
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def with_env(env: list[str] | None, pairs) -> list[str]:
    """An image config's Env after ENV k=v...: a name already there keeps its
    place with the new value, a new one goes at the end."""
    out = list(env or [])
    for k, v in pairs:
        item = f"{k}={v}"
        for i, e in enumerate(out):
            if e.partition("=")[0] == k:
                out[i] = item
                break
        else:
            out.append(item)
    return out


def new_config(diff_ids: list[str], history: list[dict], created: str, container_config: dict | None = None,
               extra: dict | None = None) -> dict:
    doc = {
        "architecture": host_arch(),
        "config": container_config if container_config is not None else {"Env": [DEFAULT_PATH]},
        "created": created,
        "history": history,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if extra:
        doc.update(extra)
    return doc
