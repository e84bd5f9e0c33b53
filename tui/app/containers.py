"""Container actions: start/stop/… on the marked rows, attach and a shell with
the app suspended (the real terminal handed over), commit."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from textual import work
from textual.widgets import TabbedContent

from .panes import TABS

BULK_WORKERS = 8


class ContainerActions:
    """DockyardApp's container actions (a mixin: `self` is the app)."""

    @work(thread=True, group="actions")
    def _bulk(self, verb: str, past: str, calls: list[tuple[str, str, Callable]]) -> None:
        """Several engine calls at once (marked rows): a few threads, one
        notification for what worked and one per failure."""
        ct = self.containers_table

        def mark(keys, state):
            for k in keys:
                if state:
                    ct.pending[k] = state
                else:
                    ct.pending.pop(k, None)
            ct.refresh_cells()

        keys = [k for k, _, _ in calls]
        self.call_from_thread(mark, keys, verb + "…")
        ok, failed = [], []
        try:
            with ThreadPoolExecutor(max_workers=min(BULK_WORKERS, max(1, len(calls)))) as ex:
                futs = [(name, ex.submit(fn)) for _, name, fn in calls]
                for name, fut in futs:
                    try:
                        fut.result()
                        ok.append(name)
                    except Exception as e:
                        failed.append((name, str(e) or type(e).__name__))
        finally:
            self.call_from_thread(mark, keys, None)
        for name, msg in failed:
            self.call_from_thread(self.notify, f"{verb} {name}: {msg}", severity="error", timeout=8)
        if ok:
            what = ok[0] if len(ok) == 1 else f"{len(ok)} containers"
            self.call_from_thread(self.notify, f"{past} {what}", timeout=3)
        self.call_from_thread(self.refresh_now)


    # -- container actions ---------------------------------------------------------
    def _containers(self) -> list:
        t = self.containers_table
        return [t.items[k] for k in t.targets() if k in t.items]

    def action_container(self, what: str) -> None:
        eng = self.engine
        if what == "prune":
            stopped = [c for c in self.containers_table.items.values() if c.status in ("exited", "created")]
            if not stopped:
                self.notify("no stopped containers to prune", timeout=3)
                return
            names = ", ".join(c.name for c in stopped[:10]) + (" …" if len(stopped) > 10 else "")

            def go(ok):
                if ok:
                    self.run_engine("prune", eng.prune_containers,
                                    lambda r: self.notify(f"removed {len(r)} stopped container"
                                                          f"{'s' if len(r) != 1 else ''}", timeout=4))
            from ..dialogs.confirm import ConfirmDialog
            self.push_screen(ConfirmDialog("Prune containers", [f"Remove the {len(stopped)} stopped containers?",
                                                                names], ok="Prune"), go)
            return
        targets = self._containers()
        if not targets:
            self.notify("no container selected", severity="warning", timeout=3)
            return
        if what == "remove":
            running = [c for c in targets if c.status in ("running", "paused")]
            from ..dialogs.confirm import ConfirmDialog
            lines = [f"Remove {len(targets)} container{'s' if len(targets) != 1 else ''}?",
                     ", ".join(c.name for c in targets[:12]) + (" …" if len(targets) > 12 else "")]
            warn = [f"{len(running)} running: they are killed first"] if running else []

            def go(ok):
                if ok:
                    self._bulk("removing", "removed",
                               [(c.id, c.name, lambda c=c: eng.remove_container(c.id, force=True)) for c in targets])
            self.push_screen(ConfirmDialog("Remove containers", lines, ok="Remove", warn=warn), go)
            return
        if what == "pause":
            calls = []
            for c in targets:
                if c.status == "paused":
                    calls.append((c.id, c.name, lambda c=c: eng.unpause_container(c.id)))
                else:
                    calls.append((c.id, c.name, lambda c=c: eng.pause_container(c.id)))
            verb = "unpausing" if all(c.status == "paused" for c in targets) else "pausing"
            self._bulk(verb, "unpaused" if verb == "unpausing" else "paused", calls)
            return
        fn, verb, past = {
            "start": (eng.start_container, "starting", "started"),
            "stop": (eng.stop_container, "stopping", "stopped"),
            "restart": (eng.restart_container, "restarting", "restarted"),
            "kill": (eng.kill_container, "killing", "killed"),
        }[what]
        self._bulk(verb, past, [(c.id, c.name, lambda c=c: fn(c.id)) for c in targets])

    def action_attach(self) -> None:
        c = self.containers_table.cursor_item
        if c is None or c.status != "running":
            self.notify("attach: select a running container", severity="warning", timeout=3)
            return
        self._prepare_attach(c.id, c.name)

    @work(thread=True, group="attach")
    def _prepare_attach(self, cid: str, name: str) -> None:
        from ..terminal import parse_detach_keys, run_attached
        try:
            cfg = self.engine.inspect_container(cid)["Config"]
            if not cfg.get("OpenStdin"):
                raise RuntimeError("it was not started with -i (nothing to type into): use e for a shell, "
                                   "or the logs tab")
            keys = parse_detach_keys(self.config.detach_keys)
            client = self.engine.attach(cid)
        except Exception as e:
            self.call_from_thread(self.notify, f"attach {name}: {e}", severity="error", timeout=8)
            return
        tty = bool(cfg.get("Tty"))
        banner = f"dockyard: attached to {name}; {self.config.detach_keys} detaches (the container goes on)"
        self.call_from_thread(self._suspended_session, name, banner,
                              lambda: run_attached(client, tty=tty, stdin=True, detach_keys=keys), client.close)

    def action_shell(self) -> None:
        c = self.containers_table.cursor_item
        if c is None or c.status != "running":
            self.notify("shell: select a running container", severity="warning", timeout=3)
            return
        self._prepare_shell(c.id, c.name)

    @work(thread=True, group="attach")
    def _prepare_shell(self, cid: str, name: str) -> None:
        from ..terminal import run_exec
        try:
            process = self.engine.exec_spec(cid, list(self.config.shell), tty=True)
            client = self.engine.attach(cid)
        except Exception as e:
            self.call_from_thread(self.notify, f"shell in {name}: {e}", severity="error", timeout=8)
            return
        banner = f"dockyard: a shell in {name}; exit it to come back"
        self.call_from_thread(self._suspended_session, name, banner,
                              lambda: run_exec(client, process, tty=True, stdin=True), client.close)

    def _suspended_session(self, name: str, banner: str, fn: Callable, cleanup: Callable) -> None:
        """Hands the real terminal to `fn` (attach or exec) with the app suspended."""
        from textual.app import SuspendNotSupported
        code = None
        self._suspended = True
        try:
            with self.suspend():
                import sys
                sys.stdout.write(f"\r\n{banner}\r\n")
                sys.stdout.flush()
                code = fn()
        except SuspendNotSupported:
            self.notify("this terminal cannot hand over (suspend is not supported here)", severity="error")
            return
        except Exception as e:
            self.notify(f"{name}: {e or type(e).__name__}", severity="error", timeout=8)
            return
        finally:
            self._suspended = False
            try:
                cleanup()
            except Exception:
                pass
        self.notify(f"back from {name}" + (f" (exit code {code})" if code is not None else " (detached)"), timeout=4)
        self._detail_loaded = {t: None for t in TABS}
        self.refresh_now()
        self._load_detail()

    def action_commit(self) -> None:
        eng = self.engine
        if not hasattr(eng, "commit"):
            self.notify("this engine cannot commit", severity="error")
            return
        c = self.containers_table.cursor_item
        if c is None:
            self.notify("commit: select a container", severity="warning", timeout=3)
            return
        self._commit_dialog(c)

    def _commit_dialog(self, c) -> None:
        """The commit dialog for container c, prefilled; after the commit the
        images pane selects the new image and the layer tree shows its top layer."""
        eng = self.engine
        from ..dialogs.commit import CommitDialog
        ref = f"localhost/{c.name}:latest"
        message = f"committed from {c.name} ({c.short_id}), image {c.image}"

        def go(r):
            if not r:
                return

            def done(iid):
                self.notify(f"committed {r['ref'] or 'an untagged image'} ({iid[7:19]})", timeout=5)
                self._select_after = ("image", iid)
                self.main.query_one(TabbedContent).active = "layers"
            self.run_engine(f"commit {c.name}", lambda: eng.commit(c.id, r["ref"], message=r["message"],
                                                                    author=r["author"], changes=r["changes"],
                                                                    pause=r["pause"]), done)
        self.push_screen(CommitDialog(c.name, ref, message, [], c.status == "running"), go)

