"""The TUI's widgets: the resource tables (containers, images), the header
line, and the detail tabs (inspect, logs, stats, layer tree)."""
