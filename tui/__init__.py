"""dockyard's faces: the Textual app (tui.app) and the command line (tui.cli)."""
