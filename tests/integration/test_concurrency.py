"""Two processes using one root at once must not corrupt it."""
import os
import subprocess
import sys

from engine import Engine
from tests.conftest import ROOT, need_root
from tests.integration.test_images import rootfs_tar

SCRIPT = """
import io, sys
from engine import Engine
from tests.integration.test_images import rootfs_tar
eng = Engine(sys.argv[1])
me = sys.argv[2]
shared = open(sys.argv[3], 'rb').read()
for i in range(8):
    eng.import_image(io.BytesIO(shared), f"shared:{me}{i}")
    data = rootfs_tar({f"own/{me}/{i}": (me * 5000).encode()})
    eng.import_image(io.BytesIO(data), f"own:{me}{i}")
    if i % 3 == 2:
        eng.remove_image(f"own:{me}{i-1}")
eng.close()
"""


def test_two_processes_import_and_remove_at_once(tmp_path):
    need_root()
    root = str(tmp_path / "root")
    Engine(root).close()
    shared = tmp_path / "shared.tar"
    shared.write_bytes(rootfs_tar({"common": b"c" * 100_000}))
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, root, me, str(shared)], env=env, cwd=ROOT,
                              stderr=subprocess.PIPE) for me in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    eng = Engine(root)
    try:
        tags = {t for i in eng.images() for t in i.tags}
        for me in ("a", "b"):
            assert {f"shared:{me}{i}" for i in range(8)} <= tags
            assert f"own:{me}1" not in tags and f"own:{me}0" in tags
        rep = eng.check()
        assert rep.ok, rep.problems
        assert not rep.notes, rep.notes
    finally:
        eng.close()
