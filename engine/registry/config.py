"""How to reach a registry: TLS (CA files, client certificates), whether
plain HTTP may be used, and the mirrors of docker.io.

Per-registry certificates as docker reads them, from
/etc/docker/certs.d/HOST[:PORT]/: every *.crt is a CA (added to the system's),
every *.cert with the *.key of the same name a client certificate (a lone
*.cert or *.key is an error naming the file).

dockyard's own settings, in the `registries:` section of its config.yaml
($DOCKYARD_CONFIG, else $XDG_CONFIG_HOME/dockyard/config.yaml, else
~/.config/dockyard/config.yaml: the file the TUI reads):

    registries:
      insecure: [registry.lan:5000, 10.0.0.0/8]    # host[:port] or a CIDR of IPs
      mirrors: [https://mirror.example.com]        # tried before registry-1.docker.io, for docker.io only

The engine reads that section itself (`load_settings`): it never imports the
TUI, and the TUI's reader ignores the section. A face that already holds the
parsed YAML may pass the section to `parse_settings` instead.

Plain HTTP: only for loopback (localhost, 127.0.0.0/8, ::1) and the registries
listed as insecure. For loopback, HTTPS is tried first and verified (so a
test's CA in certs.d works), then HTTP; for an insecure registry, HTTPS without
verification (as docker does), then HTTP. Every other registry: HTTPS,
verified against the system's CAs and its certs.d CAs."""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InvalidArgument

CERTS_DIR = "/etc/docker/certs.d"
HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
HUB_ENDPOINT = "registry-1.docker.io"
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class Settings:
    """The registries section of config.yaml, checked."""
    insecure: tuple[str, ...] = ()       # host[:port] as written (lower-cased)
    insecure_nets: tuple = ()            # ipaddress networks
    mirrors: tuple[str, ...] = ()        # base URLs: scheme://host[:port]
    path: str | None = None              # the file they came from


@dataclass(frozen=True)
class Endpoint:
    """One way to reach a registry, in the order to try them."""
    scheme: str          # "https" or "http"
    host: str            # host[:port], as in the URL
    verify: bool = True  # https: check the certificate and the host name

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


@dataclass(frozen=True)
class HostConfig:
    """What host_config answers for a registry host."""
    host: str                                          # host[:port], normalised (docker.io -> registry-1.docker.io)
    endpoints: tuple[Endpoint, ...]                    # https first; http only where allowed
    ca_files: tuple[str, ...] = ()                     # certs.d/HOST/*.crt, added to the system CAs
    client_certs: tuple[tuple[str, str], ...] = ()     # (cert, key) pairs from certs.d/HOST
    mirrors: tuple[str, ...] = ()                      # docker.io only: base URLs to try first
    insecure: bool = False                             # listed as insecure (TLS not verified)
    loopback: bool = False

    @property
    def allows_http(self) -> bool:
        return any(e.scheme == "http" for e in self.endpoints)

    def ssl_context(self, verify: bool = True):
        """An ssl.SSLContext: the system CAs plus ca_files, the client
        certificates loaded; verify=False (an insecure registry) checks nothing."""
        import ssl
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        for ca in self.ca_files:
            try:
                ctx.load_verify_locations(cafile=ca)
            except (OSError, ssl.SSLError) as e:
                raise InvalidArgument(f"cannot load the CA certificate {ca}: {_why(e)}") from None
        for cert, key in self.client_certs:
            try:
                ctx.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as e:
                raise InvalidArgument(f"cannot load the client certificate {cert} (key {key}): {_why(e)}") from None
        return ctx


def _why(e: Exception) -> str:
    return getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e) or type(e).__name__


# -- host names --------------------------------------------------------------

def split_host(host: str) -> tuple[str, int | None]:
    """"[::1]:5000" -> ("::1", 5000); "registry:5000" -> ("registry", 5000); "::1" -> ("::1", None)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    if port and not port.isdigit():
        raise InvalidArgument(f"invalid registry host {host!r}: the port must be a number")
    return name.lower(), int(port) if port else None


def normalise_host(host: str) -> str:
    """The host[:port] a registry is reached at: docker.io's names become
    registry-1.docker.io; names are lower-cased."""
    if not host or "/" in host or any(c.isspace() for c in host):
        raise InvalidArgument(f"invalid registry host {host!r}: expected HOST or HOST:PORT")
    name, port = split_host(host)
    if not name:
        raise InvalidArgument(f"invalid registry host {host!r}: expected HOST or HOST:PORT")
    if name in HUB_HOSTS and port is None:
        return HUB_ENDPOINT
    shown = f"[{name}]" if ":" in name else name
    return f"{shown}:{port}" if port is not None else shown


def is_loopback(host: str) -> bool:
    import ipaddress
    name, _ = split_host(host)
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# -- settings ----------------------------------------------------------------

def settings_path() -> str:
    """The TUI's rule (tui/config.py config_path), repeated: the engine cannot import it."""
    explicit = os.environ.get("DOCKYARD_CONFIG")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "dockyard", "config.yaml")


def load_settings(path: str | None = None) -> Settings:
    """The registries section of config.yaml (defaults when the file or the
    section is missing). A file that is not YAML, or a wrong entry, is an
    error naming the file and the entry: a registry setting silently dropped
    could send credentials over plain HTTP or to the wrong mirror."""
    path = path or settings_path()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    import yaml
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InvalidArgument(f"{path} is not valid YAML{where}") from None
    if not isinstance(doc, dict):
        return Settings(path=path) if doc is None else _bad(path, "the file", "a mapping of settings", doc)
    return parse_settings(doc.get("registries"), path)


def _bad(path, name, want, value):
    raise InvalidArgument(f"{path or 'config.yaml'}: {name} must be {want}, not {value!r}")


def parse_settings(section, path: str | None = None) -> Settings:
    """The `registries:` mapping (None: the defaults) checked into Settings."""
    import ipaddress
    if section is None:
        return Settings(path=path)
    if not isinstance(section, dict):
        _bad(path, "registries", "a mapping (insecure:, mirrors:)", section)
    unknown = [k for k in section if k not in ("insecure", "mirrors")]
    if unknown:
        raise InvalidArgument(f"{path or 'config.yaml'}: unknown setting registries.{unknown[0]} "
                              "(known: insecure, mirrors)")
    insecure, nets, mirrors = [], [], []
    for i, v in enumerate(_list(section.get("insecure"), path, "registries.insecure")):
        name = f"registries.insecure[{i}]"
        if not isinstance(v, str) or not v.strip():
            _bad(path, name, "a registry host[:port] or a CIDR", v)
        v = v.strip().lower()
        if "://" in v:  # a URL written for a host: its host
            v = v.split("://", 1)[1].rstrip("/")
        if "/" in v:
            try:
                nets.append(ipaddress.ip_network(v, strict=False))
            except ValueError:
                _bad(path, name, "a registry host[:port] or a CIDR", v)
            continue
        try:
            insecure.append(normalise_host(v))
        except InvalidArgument:
            _bad(path, name, "a registry host[:port] or a CIDR", v)
    for i, v in enumerate(_list(section.get("mirrors"), path, "registries.mirrors")):
        mirrors.append(_mirror(v, path, f"registries.mirrors[{i}]"))
    return Settings(tuple(insecure), tuple(nets), tuple(mirrors), path)


def _list(v, path, name) -> list:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list):
        _bad(path, name, "a list", v)
    return v


def _mirror(v, path, name) -> str:
    """docker's registry-mirrors rule: scheme://host[:port], nothing after it
    (a missing scheme means https)."""
    want = "a mirror's URL: https://HOST[:PORT]"
    if not isinstance(v, str) or not v.strip():
        _bad(path, name, want, v)
    url = v.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "https", url
    if scheme.lower() not in ("http", "https"):
        _bad(path, name, want, v)
    rest = rest.rstrip("/")
    if not rest or any(c in rest for c in "/?#@"):
        _bad(path, name, want, v)
    try:
        host = normalise_host(rest)
    except InvalidArgument:
        _bad(path, name, want, v)
    return f"{scheme.lower()}://{host}"


def is_insecure(host: str, settings: Settings) -> bool:
    import ipaddress
    host = normalise_host(host)
    if host in settings.insecure:  # host:port exactly, as docker
        return True
    if settings.insecure_nets:
        try:
            ip = ipaddress.ip_address(split_host(host)[0])
        except ValueError:
            return False
        return any(ip in net for net in settings.insecure_nets)
    return False


# -- the answer for one host ---------------------------------------------------

def host_config(host: str, settings: Settings | None = None, certs_dir: str = CERTS_DIR) -> HostConfig:
    """How to reach `host` (host[:port]; docker.io's names mean Docker Hub):
    the endpoints to try in order, the CA files and client certificates of
    certs.d, docker.io's mirrors."""
    settings = settings if settings is not None else load_settings()
    norm = normalise_host(host)
    loop = is_loopback(norm)
    insecure = is_insecure(norm, settings)
    endpoints = [Endpoint("https", norm, verify=not insecure)]
    if loop or insecure:
        endpoints.append(Endpoint("http", norm, verify=False))
    ca_files, pairs = read_certs_dir(certs_dir, norm)
    mirrors = settings.mirrors if norm == HUB_ENDPOINT else ()
    return HostConfig(norm, tuple(endpoints), ca_files, pairs, mirrors, insecure, loop)


def read_certs_dir(certs_dir: str, host: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(CA files, (cert, key) pairs) in certs_dir/HOST, as docker's
    ReadCertsDirectory: *.crt are CAs, NAME.cert goes with NAME.key."""
    folder = os.path.join(certs_dir, host)
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return (), ()
    except OSError as e:
        raise InvalidArgument(f"cannot read {folder}: {e.strerror}") from None
    cas, pairs = [], []
    for n in names:
        p = os.path.join(folder, n)
        if n.endswith(".crt"):
            cas.append(p)
        elif n.endswith(".cert"):
            key = n[:-len(".cert")] + ".key"
            if key not in names:
                raise InvalidArgument(f"missing key {key} for client certificate {p}. "
                                      "CA certificates must use the extension .crt")
            pairs.append((p, os.path.join(folder, key)))
        elif n.endswith(".key"):
            cert = n[:-len(".key")] + ".cert"
            if cert not in names:
                raise InvalidArgument(f"missing client certificate {cert} for key {p}")
    return tuple(cas), tuple(pairs)


class TlsFor:
    """`host -> urllib3 pool kwargs` for the registry client's Transport
    (its `tls_for`): an ssl_context with the system CAs, certs.d's CAs and
    client certificates; for an insecure registry, no verification. One
    context per host, kept: urllib3 keys its pools by these kwargs, so a new
    context per request would open a new pool (and connection) each time."""

    def __init__(self, settings: Settings | None = None, certs_dir: str = CERTS_DIR):
        self.settings = settings if settings is not None else load_settings()
        self.certs_dir = certs_dir
        self._made: dict[str, dict] = {}

    def __call__(self, host: str) -> dict:
        got = self._made.get(host)
        if got is None:
            cfg = host_config(host, self.settings, self.certs_dir)
            https = next(e for e in cfg.endpoints if e.scheme == "https")
            got = {"ssl_context": cfg.ssl_context(verify=https.verify)}
            if not https.verify:
                got.update(cert_reqs="CERT_NONE", assert_hostname=False)
            self._made[host] = got  # a race makes two equal answers: harmless
        return got
