"""Image references in docker's grammar and normalisation, after
github.com/distribution/reference (v0.6):

    reference := name [":" tag] ["@" digest]
    name      := [domain "/"] path-component ["/" path-component]*

"busybox" means docker.io/library/busybox:latest. Errors name the input and the
reason, because "invalid reference format" alone leaves the user guessing.
"""
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .errors import AmbiguousReference, InvalidReference, NotFound

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
LOCALHOST = "localhost"
MAX_PATH_LENGTH = 255  # distribution >= 0.6 counts the path only, not the domain

# Explicit ASCII classes throughout: Python's \w and \d also match non-ASCII
# letters and digits, Go's RE2 (which docker uses) does not.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"(?:sha256:)?[0-9a-f]{1,64}")
_HEX = re.compile(r"[0-9a-f]{1,64}")


def _quote(s: str) -> str:
    # JSON quoting: double quotes like docker's messages, control characters escaped.
    return json.dumps(s, ensure_ascii=False)


def _invalid(s: str, reason: str) -> InvalidReference:
    return InvalidReference(f"invalid reference format: {reason}: {_quote(s)}")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def is_digest_only(self) -> bool:
        return self.digest is not None and self.tag is None

    def __str__(self) -> str:
        return self.name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag is not None else "") + (
            f"@{self.digest}" if self.digest is not None else "")

    def repository_familiar(self) -> str:
        """The name as docker displays it: docker.io and a lone library/ dropped."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        rest = self.path.removeprefix(OFFICIAL_PREFIX)
        # Only a single component under library/ shortens; "library/a/b" must stay
        # as is or it would parse back as docker.io/a/b.
        if rest != self.path and "/" not in rest:
            return rest
        return self.path

    def familiar(self) -> str:
        return self.repository_familiar() + self._suffix()

    def with_tag(self, tag: str) -> "Reference":
        """The same repository with this tag; a digest is kept, as distribution's
        WithTag does (use dataclasses.replace to drop it)."""
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise InvalidReference(f"invalid tag {_quote(str(tag))}: {_TAG_RULE}")
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> "Reference":
        """The same repository pinned to this digest; a tag is kept, as
        distribution's WithDigest does (docker_ref() drops it)."""
        return replace(self, digest=parse_digest(digest))

    def without_tag(self) -> "Reference":
        return replace(self, tag=None)

    def docker_ref(self) -> "Reference":
        """What docker looks up or pulls for this reference (ParseDockerRef): with
        both a tag and a digest, the digest alone decides, so the tag is dropped."""
        return replace(self, tag=None) if self.digest is not None and self.tag is not None else self


_TAG_RULE = "a tag is 1 to 128 of A-Z a-z 0-9 _ . - and cannot start with . or -"
_PATH_RULE = ("path components are lowercase letters and digits, separated by"
              " one of . _ __ or dashes")


def _digest_problem(d: str) -> str | None:
    """Why d is not a digest we support, or None if it is."""
    algorithm, sep, encoded = d.partition(":")
    if not sep or not _DIGEST_ALGORITHM.fullmatch(algorithm):
        return f"invalid digest {_quote(d)}: expected sha256:<64 hex digits>"
    if algorithm != "sha256":
        return f"unsupported digest algorithm {_quote(algorithm)} (only sha256 is supported)"
    if len(encoded) != 64:
        return f"invalid digest {_quote(d)}: sha256 needs 64 hex digits, got {len(encoded)}"
    if not _SHA256_HEX.fullmatch(encoded):
        return f"invalid digest {_quote(d)}: sha256 needs 64 lowercase hex digits"
    return None


def parse_digest(s: str) -> str:
    """s itself if it is sha256:<64 lowercase hex>, else InvalidReference."""
    problem = _digest_problem(s) if isinstance(s, str) else "not a string"
    if problem:
        raise InvalidReference(f"invalid digest: {problem}: {_quote(str(s))}")
    return s


def _split_domain(name: str) -> tuple[str, str, bool]:
    """(domain, path, explicit): distribution's splitDockerDomain, plus whether the
    input named its domain."""
    first, slash, rest = name.partition("/")
    # An uppercase first component counts as a host because paths cannot hold
    # uppercase: "LOCALDOMAIN/x" is a registry, as in docker.
    if slash and (first == LOCALHOST or any(c in first for c in ".:") or first.lower() != first):
        domain, path, explicit = first, rest, True
    else:
        domain, path, explicit = DEFAULT_DOMAIN, name, False
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path, explicit


def _parse(s: str, default_tag: str | None) -> tuple[Reference, str | None]:
    """The reference, and the path as typed when the input named no domain
    (short-name resolution needs it), else None."""
    if not isinstance(s, str):
        raise InvalidReference(f"invalid reference format: not a string: {s!r}")
    if not s:
        raise _invalid(s, "repository name must have at least one component")
    if _SHA256_HEX.fullmatch(s):
        # Docker refuses these so that a full image id is never taken for a name.
        raise _invalid(s, "cannot specify 64-byte hexadecimal strings as a repository name")

    rest, at, digest = s.partition("@")
    # Path components cannot hold ":", so a ":" after the last "/" starts the tag;
    # with no "/" at all that makes "host:5000" the name "host" with tag "5000",
    # as in docker.
    colon = rest.find(":", rest.rfind("/") + 1)
    name, tag = (rest[:colon], rest[colon + 1:]) if colon >= 0 else (rest, None)
    if not name:
        raise _invalid(s, "missing repository name")

    domain, path, explicit = _split_domain(name)
    if explicit and not _DOMAIN.fullmatch(domain):
        raise _invalid(s, f"invalid registry host {_quote(domain)}")
    components = path.split("/")
    if not all(_PATH_COMPONENT.fullmatch(c) for c in components):
        if all(_PATH_COMPONENT.fullmatch(c) for c in path.lower().split("/")):
            raise _invalid(s, "repository name must be lowercase")
        raise _invalid(s, f"invalid repository name {_quote(path)} ({_PATH_RULE})")
    if len(path) > MAX_PATH_LENGTH:
        raise _invalid(s, f"repository name must not be more than {MAX_PATH_LENGTH} characters")

    if tag is not None and not _TAG.fullmatch(tag):
        raise _invalid(s, f"invalid tag {_quote(tag)} ({_TAG_RULE})")
    if at:
        problem = _digest_problem(digest)
        if problem:
            raise _invalid(s, problem)
    else:
        digest = None
        # A digest pins the image, so only a bare name gets the default tag.
        if tag is None and default_tag is not None:
            if not _TAG.fullmatch(default_tag):
                raise InvalidReference(f"invalid default tag {_quote(default_tag)}: {_TAG_RULE}")
            tag = default_tag
    return Reference(domain, path, tag, digest), None if explicit else name


def parse(s: str, *, default_tag: str | None = "latest") -> Reference:
    """Parse and normalise an image reference. Note that "sha256:<hex>" parses as
    the name "sha256" with a tag; callers check looks_like_id first."""
    return _parse(s, default_tag)[0]


def parse_docker_ref(s: str) -> Reference:
    """docker's ParseDockerRef: parse, normalise, and drop the tag of a reference
    that also names a digest ("busybox:latest@sha256:..." is
    "docker.io/library/busybox@sha256:..."); a bare name gets :latest."""
    return parse(s).docker_ref()


def looks_like_id(s: str) -> bool:
    """Whether s could be a (prefix of an) image or container id."""
    return isinstance(s, str) and _ID.fullmatch(s) is not None


def short_name_candidates(s: str, *, default_tag: str | None = "latest") -> list[Reference]:
    """Where a short name may live, in the order to try it: Docker Hub, then
    localhost (podman's name for locally built images). No registry is consulted."""
    ref, typed_path = _parse(s, default_tag)
    ref = ref.docker_ref()  # a digest decides; a tag beside it is not looked at, as docker
    if typed_path is None:
        return [ref]
    # The path as typed: "busybox" is localhost/busybox, not localhost/library/busybox.
    return [ref, replace(ref, domain=LOCALHOST, path=typed_path)]


def resolve_id_prefix(prefix: str, ids: Iterable[str], kind: str = "image") -> str:
    """The one id in ids (as given there) that starts with prefix.

    ids and prefix may each carry "sha256:". Several matches raise
    AmbiguousReference, none raises NotFound."""
    hex_prefix = prefix.removeprefix("sha256:") if isinstance(prefix, str) else ""
    if not _HEX.fullmatch(hex_prefix):
        raise InvalidReference(
            f"invalid id prefix {_quote(str(prefix))}: expected 1 to 64 lowercase hex"
            " digits, optionally after sha256:")
    matches: dict[str, str] = {}  # hex -> id as given; one id listed twice is one match
    for id_ in ids:
        hex_id = id_.removeprefix("sha256:")
        if hex_id.startswith(hex_prefix):
            matches.setdefault(hex_id, id_)
    if not matches:
        raise NotFound(f"no such {kind}: {prefix}")
    if len(matches) > 1:
        shown = sorted(h[:12] for h in matches)
        more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
        raise AmbiguousReference(
            f"short id {_quote(prefix)} is ambiguous: matches {kind}s "
            f"{', '.join(shown[:10])}{more}")
    return next(iter(matches.values()))
