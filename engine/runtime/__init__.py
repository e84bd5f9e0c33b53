"""Container runtime: what runs inside and around a container's processes."""
