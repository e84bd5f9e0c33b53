"""engine.reference: docker's reference grammar. Many cases come from
distribution/reference's own tables (reference_test.go, normalize_test.go)."""
import dataclasses

import pytest

from engine.errors import AmbiguousReference, DockyardError, InvalidReference, NotFound
from engine.reference import (
    Reference,
    looks_like_id,
    parse,
    parse_digest,
    resolve_id_prefix,
    short_name_candidates,
)

D = "sha256:" + "f" * 64
D2 = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

# input -> (domain, path, tag, digest, str(), familiar())
NORMALISE = {
    "busybox": ("docker.io", "library/busybox", "latest", None,
                "docker.io/library/busybox:latest", "busybox:latest"),
    "busybox:1.36": ("docker.io", "library/busybox", "1.36", None,
                     "docker.io/library/busybox:1.36", "busybox:1.36"),
    "library/busybox": ("docker.io", "library/busybox", "latest", None,
                        "docker.io/library/busybox:latest", "busybox:latest"),
    "docker.io/busybox": ("docker.io", "library/busybox", "latest", None,
                          "docker.io/library/busybox:latest", "busybox:latest"),
    "docker.io/library/busybox:latest": ("docker.io", "library/busybox", "latest", None,
                                         "docker.io/library/busybox:latest", "busybox:latest"),
    "index.docker.io/library/busybox": ("docker.io", "library/busybox", "latest", None,
                                        "docker.io/library/busybox:latest", "busybox:latest"),
    "index.docker.io/busybox": ("docker.io", "library/busybox", "latest", None,
                                "docker.io/library/busybox:latest", "busybox:latest"),
    "user/repo": ("docker.io", "user/repo", "latest", None,
                  "docker.io/user/repo:latest", "user/repo:latest"),
    "docker.io/library/a/b": ("docker.io", "library/a/b", "latest", None,
                              "docker.io/library/a/b:latest", "library/a/b:latest"),
    "other/library": ("docker.io", "other/library", "latest", None,
                      "docker.io/other/library:latest", "other/library:latest"),
    "localhost/x": ("localhost", "x", "latest", None, "localhost/x:latest", "localhost/x:latest"),
    "localhost/library/debian": ("localhost", "library/debian", "latest", None,
                                 "localhost/library/debian:latest",
                                 "localhost/library/debian:latest"),
    "localhost:5000/a/b:t": ("localhost:5000", "a/b", "t", None,
                             "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
    "host.example/x": ("host.example", "x", "latest", None,
                       "host.example/x:latest", "host.example/x:latest"),
    "myreg:5000/ns/r:tag": ("myreg:5000", "ns/r", "tag", None,
                            "myreg:5000/ns/r:tag", "myreg:5000/ns/r:tag"),
    f"127.0.0.1:5000/x@{D}": ("127.0.0.1:5000", "x", None, D,
                              f"127.0.0.1:5000/x@{D}", f"127.0.0.1:5000/x@{D}"),
    f"busybox@{D2}": ("docker.io", "library/busybox", None, D2,
                      f"docker.io/library/busybox@{D2}", f"busybox@{D2}"),
    f"name:tag@{D}": ("docker.io", "library/name", "tag", D,
                      f"docker.io/library/name:tag@{D}", f"name:tag@{D}"),
    f"gcr.io/library/busybox:latest@{D2}": ("gcr.io", "library/busybox", "latest", D2,
                                           f"gcr.io/library/busybox:latest@{D2}",
                                           f"gcr.io/library/busybox:latest@{D2}"),
    # distribution/reference: a tag or a port is told apart by the "/" after it.
    "test.com:5000": ("docker.io", "library/test.com", "5000", None,
                      "docker.io/library/test.com:5000", "test.com:5000"),
    "test:5000/repo": ("test:5000", "repo", "latest", None,
                       "test:5000/repo:latest", "test:5000/repo:latest"),
    "192.168.1.1": ("docker.io", "library/192.168.1.1", "latest", None,
                    "docker.io/library/192.168.1.1:latest", "192.168.1.1:latest"),
    "192.168.1.1:5000/repo:5050": ("192.168.1.1:5000", "repo", "5050", None,
                                   "192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"),
    "foo/foo_bar.com:8080": ("docker.io", "foo/foo_bar.com", "8080", None,
                             "docker.io/foo/foo_bar.com:8080", "foo/foo_bar.com:8080"),
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag": (
        "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None,
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    "b.gcr.io/test.example.com/my-app:test.example.com": (
        "b.gcr.io", "test.example.com/my-app", "test.example.com", None,
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app:test.example.com"),
    f"xn--7o8h.com/myimage:xn--7o8h.com@{D}": (
        "xn--7o8h.com", "myimage", "xn--7o8h.com", D,
        f"xn--7o8h.com/myimage:xn--7o8h.com@{D}", f"xn--7o8h.com/myimage:xn--7o8h.com@{D}"),
    f"[2001:db8::1]:5000/repo:tag@{D}": (
        "[2001:db8::1]:5000", "repo", "tag", D,
        f"[2001:db8::1]:5000/repo:tag@{D}", f"[2001:db8::1]:5000/repo:tag@{D}"),
    "[::1]:5000/repo": ("[::1]:5000", "repo", "latest", None,
                        "[::1]:5000/repo:latest", "[::1]:5000/repo:latest"),
    "lowercase:Uppercase": ("docker.io", "library/lowercase", "Uppercase", None,
                            "docker.io/library/lowercase:Uppercase", "lowercase:Uppercase"),
    # Uppercase in the domain is fine; an uppercase first component is a domain.
    "LOCALDOMAIN/fooo/bar": ("LOCALDOMAIN", "fooo/bar", "latest", None,
                             "LOCALDOMAIN/fooo/bar:latest", "LOCALDOMAIN/fooo/bar:latest"),
    "Example.COM:5000/app": ("Example.COM:5000", "app", "latest", None,
                             "Example.COM:5000/app:latest", "Example.COM:5000/app:latest"),
    # A 64-hex path component is fine once a domain makes it unambiguous.
    f"docker.io/{HEX64}": ("docker.io", f"library/{HEX64}", "latest", None,
                           f"docker.io/library/{HEX64}:latest", f"{HEX64}:latest"),
    "dock__er/docker---rules": ("docker.io", "dock__er/docker---rules", "latest", None,
                                "docker.io/dock__er/docker---rules:latest",
                                "dock__er/docker---rules:latest"),
    "d/t": ("docker.io", "d/t", "latest", None, "docker.io/d/t:latest", "d/t:latest"),
    "busybox:" + "a" * 128: ("docker.io", "library/busybox", "a" * 128, None,
                             "docker.io/library/busybox:" + "a" * 128, "busybox:" + "a" * 128),
    "example.com/" + "a" * 255 + ":tag": ("example.com", "a" * 255, "tag", None,
                                          "example.com/" + "a" * 255 + ":tag",
                                          "example.com/" + "a" * 255 + ":tag"),
    # The length limit is on the path; the domain does not count (distribution 0.6).
    "a" * 200 + ".example.com/" + "a" * 255: (
        "a" * 200 + ".example.com", "a" * 255, "latest", None,
        "a" * 200 + ".example.com/" + "a" * 255 + ":latest",
        "a" * 200 + ".example.com/" + "a" * 255 + ":latest"),
}


@pytest.mark.parametrize("text", NORMALISE, ids=lambda s: s[:60])
def test_normalise(text):
    domain, path, tag, digest, full, familiar = NORMALISE[text]
    ref = parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert str(ref) == full
    assert ref.name == f"{domain}/{path}"
    assert ref.familiar() == familiar
    # Both printed forms parse back to the same reference.
    assert parse(full) == ref
    assert parse(familiar) == ref


@pytest.mark.parametrize("text,repo", [
    ("busybox", "busybox"),
    ("docker.io/library/busybox:1", "busybox"),
    ("localhost/busybox", "localhost/busybox"),
    ("user/repo:x", "user/repo"),
    ("library/a/b", "library/a/b"),
    ("myreg:5000/ns/r:tag", "myreg:5000/ns/r"),
    (f"busybox@{D}", "busybox"),
])
def test_repository_familiar(text, repo):
    assert parse(text).repository_familiar() == repo


def test_digest_only():
    ref = parse(f"x@{D}")
    assert ref.tag is None and ref.digest == D
    assert ref.is_digest_only
    assert str(ref) == f"docker.io/library/x@{D}"
    assert ref.familiar() == f"x@{D}"
    both = parse(f"x:1@{D}")
    assert not both.is_digest_only and both.tag == "1"
    assert not parse("x").is_digest_only


def test_default_tag():
    assert parse("x", default_tag="edge").tag == "edge"
    assert parse("x:1", default_tag="edge").tag == "1"
    assert parse("x", default_tag=None).tag is None
    assert str(parse("x", default_tag=None)) == "docker.io/library/x"
    assert parse(f"x@{D}", default_tag="edge").tag is None
    with pytest.raises(InvalidReference):
        parse("x", default_tag="-bad")


def test_with_tag_and_frozen():
    ref = parse("localhost/x:1")
    assert str(ref.with_tag("2")) == "localhost/x:2"
    assert ref.tag == "1"
    assert str(parse(f"x@{D}").with_tag("t")) == f"docker.io/library/x:t@{D}"
    with pytest.raises(InvalidReference, match="invalid tag"):
        ref.with_tag(".bad")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "3"
    assert Reference("docker.io", "library/x", "1") == parse("x:1")


def _fmt(reason, text):
    return f'invalid reference format: {reason}: "{text}"'


# input -> exact message
ERRORS = {
    "BusyBox": _fmt("repository name must be lowercase", "BusyBox"),
    "Uppercase:tag": _fmt("repository name must be lowercase", "Uppercase:tag"),
    "docker/Docker": _fmt("repository name must be lowercase", "docker/Docker"),
    "docker.io/docker/Docker": _fmt("repository name must be lowercase",
                                    "docker.io/docker/Docker"),
    "test:5000/Uppercase/lowercase:tag": _fmt("repository name must be lowercase",
                                              "test:5000/Uppercase/lowercase:tag"),
    "Foo/Bar": _fmt("repository name must be lowercase", "Foo/Bar"),
    "": _fmt("repository name must have at least one component", ""),
    HEX64: _fmt("cannot specify 64-byte hexadecimal strings as a repository name", HEX64),
    "busybox:-bad": _fmt('invalid tag "-bad" (a tag is 1 to 128 of A-Z a-z 0-9 _ . - and'
                         ' cannot start with . or -)', "busybox:-bad"),
    "busybox:": _fmt('invalid tag "" (a tag is 1 to 128 of A-Z a-z 0-9 _ . - and'
                     ' cannot start with . or -)', "busybox:"),
    f"x@sha512:{'f' * 128}": _fmt(
        'unsupported digest algorithm "sha512" (only sha256 is supported)',
        f"x@sha512:{'f' * 128}"),
    f"validname@invaliddigest:{'f' * 64}": _fmt(
        'unsupported digest algorithm "invaliddigest" (only sha256 is supported)',
        f"validname@invaliddigest:{'f' * 64}"),
    "repo@sha256:" + "f" * 34: _fmt(
        'invalid digest "sha256:' + "f" * 34 + '": sha256 needs 64 hex digits, got 34',
        "repo@sha256:" + "f" * 34),
    "repo@sha256:" + "F" * 64: _fmt(
        'invalid digest "sha256:' + "F" * 64 + '": sha256 needs 64 lowercase hex digits',
        "repo@sha256:" + "F" * 64),
    "repo@latest": _fmt('invalid digest "latest": expected sha256:<64 hex digits>',
                        "repo@latest"),
    "repo@": _fmt('invalid digest "": expected sha256:<64 hex digits>', "repo@"),
    ":justtag": _fmt("missing repository name", ":justtag"),
    f"@{D}": _fmt("missing repository name", f"@{D}"),
    "domain/" + "a" * 256 + ":tag": _fmt("repository name must not be more than 255 characters",
                                         "domain/" + "a" * 256 + ":tag"),
    # "library/" is added before the check, as in docker.
    "a" * 250: _fmt("repository name must not be more than 255 characters", "a" * 250),
    "docker///docker": _fmt(
        'invalid repository name "docker///docker" (path components are lowercase letters'
        ' and digits, separated by one of . _ __ or dashes)', "docker///docker"),
    "https://github.com/docker/docker": _fmt('invalid registry host "https:"',
                                             "https://github.com/docker/docker"),
    "-docker.io/docker/docker": _fmt('invalid registry host "-docker.io"',
                                     "-docker.io/docker/docker"),
    "fc00::1:5000/debian": _fmt('invalid registry host "fc00::1:5000"', "fc00::1:5000/debian"),
    "a\nb": 'invalid reference format: invalid repository name "library/a\\nb" (path components'
            ' are lowercase letters and digits, separated by one of . _ __ or dashes):'
            ' "a\\nb"',
}


@pytest.mark.parametrize("text", ERRORS, ids=lambda s: repr(s[:50]))
def test_error_messages(text):
    with pytest.raises(InvalidReference) as err:
        parse(text)
    assert str(err.value) == ERRORS[text]
    assert isinstance(err.value, DockyardError)


@pytest.mark.parametrize("text", [
    # From distribution/reference's invalid tables.
    "-docker", "-docker/docker", "docker-/docker", "-docker-/docker", "____/____",
    "_docker/_docker", "dock..er/docker", "dock_.er/docker", "dock-.er/docker", "docker/",
    "docker.io/docker///docker", "aa/asdf$$^/aa", "[fc00::1]", "[fc00::1]:5000",
    "[2001:db8::1]:tag", "[fe80::1%eth0]:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "[fe80::1%@invalidzone]:5000/repo",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
    # Ours.
    "busybox:" + "a" * 129, "busybox:a:b", "busybox:1@x@y", "busybox ", " busybox",
    "busy box", "localhost/", "x:t@sha256:" + "g" * 64, "bu\u0301sybox", "busybox:t\u00e9",
    f"busybox:{'a' * 64}\n", "host:port/x",
])
def test_invalid(text):
    with pytest.raises(InvalidReference, match="^invalid reference format: "):
        parse(text)


@pytest.mark.parametrize("text", [
    # distribution/reference's valid tables.
    "docker/docker", "library/debian", "debian", "localhost/library/debian", "localhost/debian",
    "LOCALDOMAIN/library/debian", "LOCALDOMAIN/debian", "docker.io/docker/docker",
    "docker.io/library/debian", "docker.io/debian", "index.docker.io/docker/docker",
    "index.docker.io/library/debian", "index.docker.io/debian", "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian", "127.0.0.1:5000/debian", "192.168.0.1", "192.168.0.1:80",
    "192.168.0.1:8/debian", "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker", "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian", "Docker/docker", "DOCKER/docker",
    "docker-rules/docker", "doc/docker", "jess/t", "test_com", "foo_bar.com:8080",
    "a/" * 127 + "a:tag-puts-this-over-max", f"{HEX64}:latest", "localhost:5000",
    "sha256:" + "a" * 64,  # the name "sha256" with a tag: why callers try ids first
])
def test_valid(text):
    parse(text)


def test_uppercase_domain_ok_path_not():
    assert parse("REG.example/ns/x").domain == "REG.example"
    with pytest.raises(InvalidReference, match="must be lowercase"):
        parse("reg.example/NS/x")


def test_too_long_path_counts_normalised_path():
    assert parse("a" * 247).path == "library/" + "a" * 247  # exactly 255
    with pytest.raises(InvalidReference, match="more than 255"):
        parse("a" * 248)


@pytest.mark.parametrize("text", ["busybox", "docker.io/library/busybox:1", "localhost/x:y",
                                  f"reg:5000/a/b:c@{D}", "LOCALDOMAIN/x"])
def test_str_round_trip(text):
    ref = parse(text)
    assert parse(str(ref)) == ref
    assert parse(ref.familiar()) == ref


def test_parse_digest():
    assert parse_digest(D) == D
    for bad, why in [
        ("sha256:" + "f" * 63, "got 63"),
        ("sha256:" + "F" * 64, "lowercase"),
        ("sha512:" + "f" * 128, 'unsupported digest algorithm "sha512"'),
        ("SHA256:" + "f" * 64, 'unsupported digest algorithm "SHA256"'),
        ("f" * 64, "expected sha256:"),
        ("", "expected sha256:"),
        ("sha256:" + "f" * 64 + "\n", "got 65"),
    ]:
        with pytest.raises(InvalidReference, match=why) as err:
            parse_digest(bad)
        assert str(err.value).startswith("invalid digest: ")


@pytest.mark.parametrize("text,expected", [
    ("a", True), ("abc123", True), (HEX64, True), ("sha256:" + HEX64, True), ("sha256:ab", True),
    ("", False), ("sha256:", False), (HEX64 + "0", False), ("ABC", False), ("xyz", False),
    ("busybox", False), ("sha512:ab", False), ("ab\n", False),
])
def test_looks_like_id(text, expected):
    assert looks_like_id(text) is expected


@pytest.mark.parametrize("text,expected", [
    ("busybox", ["docker.io/library/busybox:latest", "localhost/busybox:latest"]),
    ("busybox:1", ["docker.io/library/busybox:1", "localhost/busybox:1"]),
    ("user/x", ["docker.io/user/x:latest", "localhost/user/x:latest"]),
    ("library/busybox", ["docker.io/library/busybox:latest", "localhost/library/busybox:latest"]),
    (f"x@{D}", [f"docker.io/library/x@{D}", f"localhost/x@{D}"]),
    ("docker.io/busybox", ["docker.io/library/busybox:latest"]),
    ("index.docker.io/busybox", ["docker.io/library/busybox:latest"]),
    ("localhost/x", ["localhost/x:latest"]),
    ("quay.io/a/b:c", ["quay.io/a/b:c"]),
    ("host:5000/a", ["host:5000/a:latest"]),
    ("LOCALDOMAIN/x", ["LOCALDOMAIN/x:latest"]),
])
def test_short_name_candidates(text, expected):
    assert [str(r) for r in short_name_candidates(text)] == expected


def test_short_name_candidates_rejects_bad_input():
    with pytest.raises(InvalidReference):
        short_name_candidates("BusyBox")
    assert short_name_candidates("x", default_tag=None)[1] == Reference("localhost", "x")


A = "sha256:ab12" + "0" * 60
B = "sha256:ab34" + "1" * 60
C = "cd56" + "2" * 60  # bare hex is accepted too


@pytest.mark.parametrize("prefix,expected", [
    ("ab1", A), ("sha256:ab3", B), ("c", C), ("sha256:cd5", C), (A, A), (A[7:], A), (C, C),
])
def test_resolve_id_prefix_unique(prefix, expected):
    assert resolve_id_prefix(prefix, [A, B, C]) == expected


def test_resolve_id_prefix_ambiguous():
    with pytest.raises(AmbiguousReference) as err:
        resolve_id_prefix("ab", iter([B, A, C]))
    assert str(err.value) == 'short id "ab" is ambiguous: matches images ab1200000000, ab3411111111'
    with pytest.raises(AmbiguousReference, match="matches containers"):
        resolve_id_prefix("sha256:ab", [A, B], kind="container")


def test_resolve_id_prefix_ambiguous_caps_the_list():
    ids = [f"{i:02x}" + "0" * 62 for i in range(16)]
    with pytest.raises(AmbiguousReference, match=r", 090000000000 and 6 more$"):
        resolve_id_prefix("0", ids)


def test_resolve_id_prefix_same_id_twice_is_one_match():
    assert resolve_id_prefix("ab1", [A, A[7:]]) == A


@pytest.mark.parametrize("prefix,kind", [("ef", "image"), ("sha256:ef", "container"),
                                         ("ab13" + "0" * 60, "image")])
def test_resolve_id_prefix_none(prefix, kind):
    with pytest.raises(NotFound) as err:
        resolve_id_prefix(prefix, [A, B, C], kind=kind)
    assert str(err.value) == f"no such {kind}: {prefix}"


@pytest.mark.parametrize("prefix", ["", "sha256:", "xyz", "AB", "ab\n", "0" * 65])
def test_resolve_id_prefix_rejects_non_hex(prefix):
    with pytest.raises(InvalidReference, match="invalid id prefix"):
        resolve_id_prefix(prefix, [A, B, C])


def test_docker_ref_drops_a_tag_beside_a_digest():
    # docker's ParseDockerRef: the digest decides what is pulled or run.
    from engine.reference import parse_docker_ref
    ref = parse_docker_ref(f"busybox:latest@{D}")
    assert (ref.tag, ref.digest) == (None, D)
    assert str(ref) == f"docker.io/library/busybox@{D}"
    assert ref.familiar() == f"busybox@{D}"
    assert str(parse_docker_ref("busybox")) == "docker.io/library/busybox:latest"
    assert str(parse_docker_ref(f"busybox@{D}")) == f"docker.io/library/busybox@{D}"
    # What the store looks up is the digest alone.
    from engine.reference import short_name_candidates
    assert [str(c) for c in short_name_candidates(f"localhost/x:1@{D}")] == [f"localhost/x@{D}"]


def test_with_digest_keeps_the_tag_as_distribution():
    ref = parse("x:1").with_digest(D)
    assert str(ref) == f"docker.io/library/x:1@{D}"
    assert ref.docker_ref() == parse(f"x@{D}")
    assert parse(f"x@{D}").with_digest(D2).digest == D2
    with pytest.raises(InvalidReference, match="invalid digest"):
        parse("x").with_digest("sha256:abc")
