"""Builds from the TUI: the dialog, a build in a worker, its log screen."""
from __future__ import annotations

import os

from textual import work


class BuildActions:
    """DockyardApp's builds (a mixin: `self` is the app)."""

    def action_build_image(self) -> None:
        """b: the build dialog; while a build runs, its log again."""
        if not hasattr(self.engine, "build"):
            self.notify("this engine cannot build", severity="error")
            return
        if self.build_run is not None and self.build_run.state == "building":
            self.action_build_log()
            return
        from ..dialogs.build import BuildDialog
        last = self._build_last or {}

        def go(r):
            if r:
                self._build_last = r
                self._start_build(r)
        self.push_screen(BuildDialog(last.get("context") or os.getcwd(), last.get("dockerfile") or "",
                                     ", ".join(last.get("tags") or ())), go)

    def action_build_log(self) -> None:
        from ..screens.build_log import BuildLogScreen
        if self.build_run is None:
            self.notify("no build yet: b on the images pane", severity="warning", timeout=3)
            return
        if isinstance(self.screen, BuildLogScreen):
            return
        self.push_screen(BuildLogScreen(self.build_run))

    def _start_build(self, r: dict) -> None:
        from ..screens.build_log import BuildRun
        self.build_run = BuildRun(r["context"], r["tags"])
        self.action_build_log()
        self._build(self.build_run, r)

    @work(thread=True, group="build")
    def _build(self, run, r: dict) -> None:
        from engine import BuildError
        try:
            iid = self.engine.build(r["context"], dockerfile=r["dockerfile"], tags=r["tags"],
                                    build_args=r["build_args"], no_cache=r["no_cache"], network=r["network"],
                                    progress=run.event)
        except BuildError as e:
            run.finish(error=str(e), exit_code=e.exit_code)
            self.call_from_thread(self._build_finished, run)
            return
        except Exception as e:
            run.finish(error=str(e) or type(e).__name__)
            self.call_from_thread(self._build_finished, run)
            return
        run.finish(image_id=iid)
        self.call_from_thread(self._build_finished, run)

    def _build_finished(self, run) -> None:
        what = ", ".join(run.tags) or "an untagged image"
        if run.state == "done":
            self.notify(f"built {what} ({run.image_id[7:19]}) in {run.elapsed:.1f}s", timeout=5)
            self._select_after = ("image", run.image_id)
        else:
            step = run.steps.get(run.step, "")
            head = "build failed" + (f" at #{run.step} {step}" if step else "")
            code = f" (exit code {run.exit_code})" if run.exit_code is not None else ""
            self.notify(f"{head}{code}: {run.error}", title="build", severity="error", timeout=15)
        self.refresh_now()

