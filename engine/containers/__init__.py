"""Containers: their configuration (an OCI runtime spec), records and lifecycle."""
