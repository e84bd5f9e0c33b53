"""Image actions: run (a container from the image), tag, remove, prune, import, save."""
from __future__ import annotations

import os

from textual import work

from ..widgets.format import human_size


class ImageActions:
    """DockyardApp's image actions (a mixin: `self` is the app)."""

    def _images(self) -> list[tuple]:
        t = self.images_table
        return [t.items[k] for k in t.targets() if k in t.items]

    def action_run_image(self) -> None:
        item = self.images_table.cursor_item
        if item is None:
            self.notify("run: select an image", severity="warning", timeout=3)
            return
        img, name = item
        ref = name or img.id
        from ..dialogs.run import RunDialog

        def go(r):
            if r:
                self._run_container(r["options"], r["attach"])
        self.push_screen(RunDialog(ref), go)

    @work(thread=True, group="actions")
    def _run_container(self, opts, attach: bool) -> None:
        eng = self.engine
        try:
            cid = eng.create_container(opts)
        except Exception as e:
            self.call_from_thread(self.notify, f"run {opts.image}: {e}", severity="error", timeout=8)
            return
        self._select_after = ("container", cid)
        try:
            if attach and self._can_suspend():
                import shutil
                size = shutil.get_terminal_size()
                eng.start_container(cid, wait_attach=True, tty_size=(size.lines, size.columns))
                client = eng.attach(cid, just_started=True)
            else:
                eng.start_container(cid)
                client = None
        except Exception as e:
            if opts.autoremove:
                try:
                    eng.remove_container(cid, force=True)
                except Exception:
                    pass
            self.call_from_thread(self.notify, f"run {opts.image}: {e}", severity="error", timeout=8)
            self.call_from_thread(self.refresh_now)
            return
        name = eng.container(cid).name if not opts.name else opts.name
        if client is None:
            note = " (detached: this terminal cannot hand over)" if attach else ""
            self.call_from_thread(self.notify, f"started {name}{note}", timeout=4)
            self.call_from_thread(self.refresh_now)
            return
        from ..terminal import parse_detach_keys, run_attached
        keys = parse_detach_keys(self.config.detach_keys)
        banner = f"dockyard: {name} started; {self.config.detach_keys} detaches (the container goes on)"
        self.call_from_thread(self._suspended_session, name, banner,
                              lambda: run_attached(client, tty=True, stdin=True, detach_keys=keys), client.close)

    def _can_suspend(self) -> bool:
        d = self._driver
        return bool(d is not None and getattr(d, "can_suspend", False) and not self.is_headless)

    def action_tag_image(self) -> None:
        item = self.images_table.cursor_item
        if item is None:
            self.notify("tag: select an image", severity="warning", timeout=3)
            return
        img, name = item
        source = name or img.id
        from ..dialogs.tag import TagDialog

        def go(target):
            if target:
                self.run_engine(f"tag {source}", lambda: self.engine.tag(source, target),
                                lambda _: self.notify(f"tagged {target}", timeout=3))
        self.push_screen(TagDialog(source), go)

    def action_remove_image(self) -> None:
        items = self._images()
        if not items:
            self.notify("remove: select an image", severity="warning", timeout=3)
            return
        refs = [name or img.id for img, name in items]
        users = [c for c in self.containers_table.items.values() if c.image_id in {img.id for img, _ in items}]
        lines = [f"Remove {len(refs)} image{'s' if len(refs) != 1 else ''}?", ", ".join(refs)]
        warn = []
        if users:
            warn.append(f"used by {len(users)} container{'s' if len(users) != 1 else ''}: "
                        + ", ".join(f"{c.name} ({c.status})" for c in users[:10]) + (" …" if len(users) > 10 else ""))
            warn.append("they keep working only if you leave force off; with force the image goes anyway")
        from ..dialogs.confirm import ConfirmDialog

        def go(r):
            if not r:
                return
            force = bool(r.get("option")) if isinstance(r, dict) else False

            def remove_all():
                out = []
                for ref in refs:
                    out += self.engine.remove_image(ref, force=force)
                return out

            self.run_engine("remove image", remove_all,
                            lambda out: self.notify(f"removed {', '.join(refs)}"
                                                    f" ({sum(1 for k, _ in out if k == 'Deleted')} deleted)", timeout=4))
        self.push_screen(ConfirmDialog("Remove images", lines, ok="Remove", warn=warn,
                                       option="force (-f): also when used or tagged more than once"), go)

    def action_prune_images(self) -> None:
        from ..dialogs.confirm import ConfirmDialog
        dangling = sum(1 for img, name in self.images_table.items.values() if name is None)

        def go(r):
            if not r:
                return
            every = bool(r.get("option"))
            self.run_engine("prune images", lambda: self.engine.prune_images(all_unused=every),
                            lambda out: self.notify(f"removed {sum(1 for k, _ in out[0] if k == 'Deleted')} images, "
                                                    f"reclaimed {human_size(out[1])}", timeout=5))
        self.push_screen(ConfirmDialog("Prune images", [f"Remove the dangling images ({dangling} now)?"], ok="Prune",
                                       option="all unused images (-a), not only dangling ones"), go)

    def action_import_image(self) -> None:
        from ..dialogs.paths import ImportDialog

        def go(r):
            if not r:
                return
            path = r["path"]
            if r["how"] == "load":
                def fn():
                    return self.engine.load(path)
                done = lambda out: self.notify("loaded " + ", ".join(", ".join(t) or i[7:19] for i, t in out), timeout=5)
            else:
                def fn():
                    with open(path, "rb") as f:
                        return self.engine.import_image(f, r["ref"], source_name=path)
                done = lambda iid: self.notify(f"imported {r['ref'] or iid[7:19]}", timeout=5)
            self.run_engine(f"import {path}", fn, done)
        self.push_screen(ImportDialog(), go)

    def action_save_image(self) -> None:
        items = self._images()
        if not items:
            self.notify("save: select an image", severity="warning", timeout=3)
            return
        refs = [name or img.id for img, name in items]
        from ..dialogs.paths import SaveDialog

        def go(r):
            if not r:
                return
            path, fmt = r["path"], r["format"]

            def fn():
                tmp = f"{path}.dockyard-tmp"
                try:
                    with open(tmp, "wb") as f:
                        self.engine.save(refs, f, fmt)
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            self.run_engine(f"save {', '.join(refs)}", fn,
                            lambda _: self.notify(f"saved {', '.join(refs)} to {path}", timeout=5))
        self.push_screen(SaveDialog(refs), go)

