"""Read an image's merged file tree straight from its unpacked layers (overlay
form: a 0:0 character device is a whiteout, trusted.overlay.opaque=y an opaque
directory), without mounting anything: for COPY --from and for the metadata
of directories a COPY or WORKDIR goes through."""
import os
import stat

from ..layers.overlaydir import is_opaque, is_whiteout


class MergedView:
    def __init__(self, layers_top_first: list[str]):
        self.layers = layers_top_first

    def lookup(self, rel: str):
        """(host path, stat) of the topmost version of `rel`, or None."""
        rel = rel.strip("/")
        if not rel:
            return (self.layers[0], os.lstat(self.layers[0])) if self.layers else None
        parts = rel.split("/")
        for layer in self.layers:
            # a whiteout or an opaque directory on the way hides what lies below
            hidden = False
            for k in range(1, len(parts)):
                p = os.path.join(layer, *parts[:k])
                try:
                    st = os.lstat(p)
                except OSError:
                    break
                if is_whiteout(st) or not stat.S_ISDIR(st.st_mode):
                    hidden = True
                    break
            p = os.path.join(layer, *parts)
            try:
                st = os.lstat(p)
            except OSError:
                st = None
            if st is not None:
                if is_whiteout(st):
                    return None
                return p, st
            if hidden:
                return None
            for k in range(1, len(parts)):
                if is_opaque(os.path.join(layer, *parts[:k])):
                    return None
        return None

    def listdir(self, rel: str) -> list[str]:
        rel = rel.strip("/")
        seen, names = set(), []
        for layer in self.layers:
            d = os.path.join(layer, rel) if rel else layer
            try:
                st = os.lstat(d)
            except OSError:
                continue
            if is_whiteout(st):
                break
            if not stat.S_ISDIR(st.st_mode):
                break
            for n in os.listdir(d):
                if n in seen:
                    continue
                seen.add(n)
                if not is_whiteout(os.lstat(os.path.join(d, n))):
                    names.append(n)
            if is_opaque(d):
                break
        return sorted(names)

    def walk(self, rel: str):
        """Yields (rel path, host path, stat) for `rel` and everything under it."""
        found = self.lookup(rel)
        if not found:
            return
        yield rel.strip("/"), found[0], found[1]
        if stat.S_ISDIR(found[1].st_mode):
            for n in self.listdir(rel):
                yield from self.walk(f"{rel.strip('/')}/{n}" if rel.strip("/") else n)
