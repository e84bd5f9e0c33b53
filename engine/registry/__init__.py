"""Registries: the distribution-spec client (pull, push), credentials, per-registry TLS and login."""
