"""dockyard's faces: the Textual app (tui.app) and the command line (tui.cli)."""

# The module the store's zygote forks command workers of (tui/cli/worker.py): the
# CLI hands its commands to them, and the TUI names it too, so that both faces on
# one store share one zygote (its fingerprint holds what it serves).
CLI_WORKER = "tui.cli.worker"
