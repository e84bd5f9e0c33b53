"""What the program asks of the terminal: OSC (titles, OSC 52 clipboard
sets) and device reports (DSR, DA1, DA2) queued for writing back."""
from __future__ import annotations

import base64
import binascii


class ReportsMixin:
    """OSC and device replies of Screen (composed in screen.py)."""

    # -- OSC ------------------------------------------------------------------------------

    def osc(self, payload: str) -> None:
        code, _, rest = payload.partition(";")
        if code in ("0", "2"):
            self.title = rest
            if code == "0":
                self.icon_title = rest
        elif code == "1":
            self.icon_title = rest
        elif code == "52":
            sel, _, data = rest.partition(";")
            if data == "?":
                return   # clipboard reads are never answered (a program could steal it)
            try:
                text = base64.b64decode(data, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return
            self.clipboard.append((sel or "s0", text))

    # -- reports -----------------------------------------------------------------------

    def report(self, what: str) -> None:
        if what == "status":
            self.responses.append(b"\x1b[0n")
        elif what == "cursor":
            y = self.y - self.top if self.origin else self.y
            self.responses.append(f"\x1b[{y + 1};{self.x + 1}R".encode())
        elif what == "da1":
            self.responses.append(b"\x1b[?62;22c")
        elif what == "da2":
            self.responses.append(b"\x1b[>1;10;0c")
