"""Registries: the distribution-spec client (pull, push), credentials, per-registry TLS and login.
The pull side: HTTP transport, auth challenges (Basic, Bearer tokens),
manifests and platform selection, blob streams. Below engine.images in the
layers: it knows nothing of the store's ingest; engine/images/pull.py drives
it (docs/registry.md)."""
