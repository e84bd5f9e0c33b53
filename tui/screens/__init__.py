"""Full screens of the TUI (the `?` help)."""
