"""Unpacked layers: ROOT/layers/<chain-id hex>/, one directory per layer holding
just that layer's files (overlay whiteouts included), used as overlay lowerdirs
and shared by every image whose chain contains it."""
import os

from .fsutil import fsync_dir, remove_tree, staging_name


class LayerDirs:
    def __init__(self, root: str, tmp_dir: str):
        self.dir = os.path.join(root, "layers")
        self.tmp_dir = tmp_dir
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def path(self, chain_id: str) -> str:
        return os.path.join(self.dir, chain_id.split(":", 1)[-1])

    def exists(self, chain_id: str) -> bool:
        return os.path.isdir(self.path(chain_id))

    def stage(self) -> str:
        path = staging_name(self.tmp_dir, "layer")
        os.mkdir(path, 0o755)
        return path

    def commit(self, staged: str, chain_id: str) -> None:
        final = self.path(chain_id)
        try:
            os.rename(staged, final)
        except OSError:
            if not os.path.isdir(final):
                raise
            # Another process unpacked the same layer first: theirs is as good.
            remove_tree(staged, self.tmp_dir)
            return
        fsync_dir(self.dir)

    def remove(self, chain_id: str) -> None:
        remove_tree(self.path(chain_id), self.tmp_dir)

    def all(self) -> list[str]:
        return ["sha256:" + n for n in os.listdir(self.dir)]
