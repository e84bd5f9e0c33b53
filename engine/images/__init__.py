"""Images: ingest, archives (docker/OCI), import, catalog, inspect, layer trees, check."""
