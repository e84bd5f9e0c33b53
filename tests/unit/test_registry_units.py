"""The registry client's pure parts: platform matching by containerd's rules,
WWW-Authenticate challenges, and that urllib3 is loaded only by registry work."""
import subprocess
import sys

import pytest

from engine.errors import InvalidArgument, NotFound
from engine.registry import platforms
from engine.registry.auth import parse_challenge
from engine.registry.transport import schemes_for
from tests.conftest import ROOT


def _d(plat: dict | None, n: int) -> dict:
    d = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + f"{n:x}" * 64, "size": 1}
    return d | ({"platform": plat} if plat else {})


INDEX = [_d({"os": "linux", "architecture": "amd64"}, 1),
         _d({"os": "linux", "architecture": "arm", "variant": "v6"}, 2),
         _d({"os": "linux", "architecture": "arm64", "variant": "v8"}, 3),
         _d({"os": "unknown", "architecture": "unknown"}, 4),   # an attestation manifest
         _d(None, 5)]


@pytest.mark.parametrize("want, pick", [
    ("linux/amd64", 1), ("linux/x86_64", 1), ("amd64", 1), ("linux/arm64", 3), ("linux/aarch64", 3),
    ("linux/arm64/v8", 3), ("linux/arm/v7", 2), ("linux/armhf", 2), ("linux/arm/v6", 2)])
def test_platform_selection_follows_containerd(want, pick):
    assert platforms.select(INDEX, platforms.parse(want), "x") is INDEX[pick - 1]


def test_no_matching_platform_lists_what_the_index_has():
    with pytest.raises(NotFound, match=r"no image for linux/s390x in x: it has linux/amd64, linux/arm/v6, "
                                       r"linux/arm64/v8 \(choose one with --platform\)"):
        platforms.select(INDEX, platforms.parse("linux/s390x"), "x")
    with pytest.raises(NotFound, match="linux/arm/v5"):
        platforms.select(INDEX, platforms.parse("linux/arm/v5"), "x")   # v5 cannot run v6
    with pytest.raises(InvalidArgument, match="invalid platform 'linux/'"):
        platforms.parse("linux/")
    with pytest.raises(InvalidArgument, match="invalid platform 'sparc'"):
        platforms.parse("sparc")
    assert platforms.parse("linux") == platforms.host()


def test_amd64_variants_run_older_ones():
    index = [_d({"os": "linux", "architecture": "amd64", "variant": "v2"}, 1)]
    assert platforms.select(index, platforms.parse("linux/amd64/v3"), "x") is index[0]
    with pytest.raises(NotFound):
        platforms.select(index, platforms.parse("linux/amd64"), "x")


def test_challenges_parse():
    assert parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/busybox:pull"') == (
        "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                   "scope": "repository:library/busybox:pull"})
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
    assert parse_challenge('Bearer realm="a\\"b", error=insufficient_scope') == (
        "bearer", {"realm": 'a"b', "error": "insufficient_scope"})


def test_plain_http_only_for_loopback_and_insecure_hosts():
    both, tls = ("https", "http"), ("https",)
    assert schemes_for("127.0.0.1:5000") == both
    assert schemes_for("127.1.2.3:5000") == both
    assert schemes_for("localhost:5000") == both
    assert schemes_for("[::1]:5000") == both
    assert schemes_for("registry-1.docker.io") == tls
    assert schemes_for("registry.example:5000") == tls
    assert schemes_for("registry.example:5000", ("registry.example:5000",)) == both


def test_urllib3_is_loaded_only_for_registry_work(tmp_path):
    code = ("import sys, engine, engine.images.pull, tui.cli.pull\n"
            f"e = engine.Engine({str(tmp_path / 'r')!r}); e.images()\n"
            "print(' '.join(m for m in sys.modules if m.startswith('urllib3')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == []
