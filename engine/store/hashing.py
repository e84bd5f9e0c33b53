"""sha256 objects, chosen by how much will be hashed: Python's own
implementation for small inputs (configs, manifests: no OpenSSL to load,
which costs every command start 3 ms), OpenSSL's for big ones (it is several
times faster per byte)."""
SMALL = 1 << 20


def sha256(size_hint: int | None = None):
    if size_hint is not None and size_hint < SMALL:
        try:
            from _sha256 import sha256 as builtin  # Python 3.11
        except ImportError:
            try:
                from _sha2 import sha256 as builtin  # Python 3.12 and later
            except ImportError:
                builtin = None
        if builtin is not None:
            return builtin()
    import hashlib
    return hashlib.sha256()
