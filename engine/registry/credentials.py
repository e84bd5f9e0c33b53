"""Registry credentials in docker's format: $DOCKER_CONFIG/config.json (else
~/.docker/config.json), shared with docker, podman and skopeo.

    {"auths": {"https://index.docker.io/v1/": {"auth": base64("user:password")},
               "127.0.0.1:5000": {"auth": "...", "identitytoken": "..."}},
     "credsStore": "pass",                       # every registry's secrets in docker-credential-pass
     "credHelpers": {"gcr.io": "gcloud"}}        # this registry's in docker-credential-gcloud

Keys as docker writes them: Docker Hub (no server, docker.io, index.docker.io,
registry-1.docker.io) is "https://index.docker.io/v1/", any other registry
its host[:port]; a lookup also finds entries written as URLs
("https://host:5000/v2/"), as docker does. A credential helper is run as
`docker-credential-NAME get|store|erase` with docker's protocol: the server on
stdin for get and erase, {"ServerURL", "Username", "Secret"} as JSON on stdin
for store and on stdout for get; "credentials not found in native keychain"
when it has none. With a helper, the file keeps an empty entry for the
registry (as docker does, so that `logout` knows it is logged in).

Secrets never appear in a message: errors name the file, the registry and the
helper, never what they hold. The file is rewritten atomically (temporary
file, fsync, rename), mode 0600, every other key in it kept as it was."""
from __future__ import annotations

import os

from ..errors import DockyardError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
IDENTITY_TOKEN_USER = "<token>"  # the helper protocol's username for an identity (refresh) token
NOT_FOUND = "credentials not found in native keychain"


class CredentialsError(DockyardError):
    """config.json cannot be read or written, or a credential helper failed."""


def config_dir() -> str:
    """$DOCKER_CONFIG, else ~/.docker (docker's rule)."""
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def convert_to_hostname(value: str) -> str:
    """docker's ConvertToHostname: "https://host:5000/v2/" -> "host:5000"."""
    for prefix in ("http://", "https://"):
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    return value.split("/", 1)[0]


def server_key(server: str | None) -> str:
    """The auths key docker uses for `server` (a host, host:port or URL; None: Docker Hub)."""
    if not server:
        return DOCKER_HUB_KEY
    host = convert_to_hostname(server.strip())
    if host.lower() in HUB_HOSTS:
        return DOCKER_HUB_KEY
    return host


def _is_hub(key: str) -> bool:
    return key == DOCKER_HUB_KEY


# -- the file ----------------------------------------------------------------

def load(path: str | None = None) -> dict:
    """config.json as a dict ({} when it does not exist)."""
    import json
    path = path or config_path()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise CredentialsError(f"cannot read {path}: {getattr(e, 'strerror', None) or type(e).__name__}") from None
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as e:
        # the position only: the text around it may be a secret
        raise CredentialsError(f"{path} is not valid JSON (line {getattr(e, 'lineno', '?')}, "
                               f"column {getattr(e, 'colno', '?')})") from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"{path} must hold a JSON object, not a {type(doc).__name__}")
    for name in ("auths", "credHelpers"):
        if name in doc and not isinstance(doc[name], dict):
            raise CredentialsError(f"{path}: {name} must be an object")
    return doc


def save(doc: dict, path: str | None = None) -> str:
    """Writes config.json atomically with mode 0600 (the directory made 0700
    if missing); a symlinked config.json is written where it points, as docker
    does. Returns the path written."""
    import json
    path = os.path.realpath(path or config_path())
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    data = (json.dumps(doc, indent="\t") + "\n").encode()
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an old leftover may have had another mode
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CredentialsError(f"cannot write {path}: {e.strerror or type(e).__name__}") from None
    return path


def helper_for(doc: dict, key: str) -> str | None:
    helpers = doc.get("credHelpers") or {}
    for name in (key, convert_to_hostname(key)) if not _is_hub(key) else (key, *HUB_HOSTS):
        if isinstance(helpers.get(name), str) and helpers[name]:
            return helpers[name]
    store = doc.get("credsStore")
    return store if isinstance(store, str) and store else None


def _file_entry(doc: dict, key: str) -> tuple[str, dict] | None:
    """(the key as written, the entry) for `key`: exact first, then any key
    naming the same host (docker's fallback for URLs written by old clients)."""
    auths = doc.get("auths") or {}
    if isinstance(auths.get(key), dict):
        return key, auths[key]
    for k, v in auths.items():
        if isinstance(v, dict) and server_key(k) == key:
            return k, v
    return None


def _decode_entry(entry: dict, key: str, path: str) -> tuple[str, str] | None:
    import base64
    import binascii
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return IDENTITY_TOKEN_USER, token
    auth = entry.get("auth")
    if not auth:
        user, password = entry.get("username"), entry.get("password")  # the long-gone plain form
        if isinstance(user, str) and user and isinstance(password, str):
            return user, password
        return None
    try:
        text = base64.b64decode(auth, validate=False).decode("utf-8")
    except (binascii.Error, ValueError, TypeError):
        raise CredentialsError(f"{path}: the auth of {key} is not base64 of user:password") from None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise CredentialsError(f"{path}: the auth of {key} is not base64 of user:password")
    return user, password.strip("\x00")


# -- the three operations ----------------------------------------------------------

def lookup(host: str | None, *, path: str | None = None) -> tuple[str, str] | None:
    """(username, secret) for a registry, or None when there are none. A
    username of "<token>" (IDENTITY_TOKEN_USER) means the secret is an
    identity token (an OAuth refresh token), as in the helpers' protocol."""
    path = path or config_path()
    doc = load(path)
    key = server_key(host)
    helper = helper_for(doc, key)
    if helper:
        got = helper_get(helper, key)
        if got is not None:
            return got
    found = _file_entry(doc, key)  # docker falls back to the file when the helper has nothing
    return _decode_entry(found[1], key, path) if found else None


def store(host: str | None, user: str, secret: str, *, identity_token: str | None = None,
          path: str | None = None) -> str:
    """Keeps the credentials for a registry: in its helper when one is
    configured (the file then holds an empty entry), else base64 in the file.
    Returns the key it was stored under."""
    if not user:
        raise CredentialsError("a username is required")
    path = path or config_path()
    doc = load(path)
    key = server_key(host)
    helper = helper_for(doc, key)
    auths = doc.setdefault("auths", {})
    if helper:
        if identity_token:
            helper_store(helper, key, IDENTITY_TOKEN_USER, identity_token)
        else:
            helper_store(helper, key, user, secret)
        auths[key] = {}
    else:
        import base64
        entry = {"auth": base64.b64encode(f"{user}:{'' if identity_token else secret}".encode()).decode()}
        if identity_token:
            entry["identitytoken"] = identity_token
        auths[key] = entry
    save(doc, path)
    return key


def erase(host: str | None, *, path: str | None = None) -> bool:
    """Forgets a registry's credentials, in its helper and in the file (every
    key naming the same host). False when there was nothing to forget."""
    path = path or config_path()
    doc = load(path)
    key = server_key(host)
    auths = doc.get("auths") or {}
    keys = [k for k in auths if k == key or server_key(k) == key]
    helper = helper_for(doc, key)
    had = bool(keys)
    if helper:
        had = helper_erase(helper, key) or had
    if keys:
        for k in keys:
            del auths[k]
        save(doc, path)
    return had


# -- credential helpers ----------------------------------------------------------

def _run_helper(name: str, action: str, data: bytes, secret: str | None = None):
    import shutil
    import subprocess
    program = f"docker-credential-{name}"
    exe = shutil.which(program)
    if exe is None:
        raise CredentialsError(f"credential helper {program} not found in PATH (named by credsStore or "
                               f"credHelpers in {config_path()})")
    try:
        return subprocess.run([exe, action], input=data, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"credential helper {program} {action} did not answer in 60 s") from None
    except OSError as e:
        raise CredentialsError(f"cannot run credential helper {program}: {e.strerror or type(e).__name__}") from None


def _helper_failed(name: str, action: str, key: str, p, secrets: tuple[str, ...]) -> CredentialsError:
    said = (p.stdout or p.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    said = said[0][:200] if said else f"exit status {p.returncode}"
    for s in secrets:  # a helper may echo what it was given: never pass a secret on
        if s:
            said = said.replace(s, "****")
    return CredentialsError(f"credential helper docker-credential-{name} could not {action} the credentials "
                            f"for {key}: {said}")


def helper_get(name: str, key: str) -> tuple[str, str] | None:
    import json
    p = _run_helper(name, "get", key.encode())
    if p.returncode != 0:
        if p.stdout.decode("utf-8", "replace").strip() == NOT_FOUND:
            return None
        raise _helper_failed(name, "get", key, p, ())
    try:
        doc = json.loads(p.stdout)
        user, secret = doc.get("Username") or "", doc.get("Secret") or ""
    except (ValueError, AttributeError):
        raise CredentialsError(f"credential helper docker-credential-{name} answered get for {key} "
                               "with something that is not its JSON") from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise CredentialsError(f"credential helper docker-credential-{name} answered get for {key} "
                               "with something that is not its JSON")
    if not user and not secret:
        return None
    return user, secret


def helper_store(name: str, key: str, user: str, secret: str) -> None:
    import json
    data = json.dumps({"ServerURL": key, "Username": user, "Secret": secret}).encode()
    p = _run_helper(name, "store", data)
    if p.returncode != 0:
        raise _helper_failed(name, "store", key, p, (secret,))


def helper_erase(name: str, key: str) -> bool:
    """False when the helper had nothing for `key`."""
    p = _run_helper(name, "erase", key.encode())
    if p.returncode != 0:
        if p.stdout.decode("utf-8", "replace").strip() == NOT_FOUND:
            return False
        raise _helper_failed(name, "erase", key, p, ())
    return True
