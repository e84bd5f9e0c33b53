"""Modal dialogs: run, commit, tag, confirm, paths (import, save)."""
