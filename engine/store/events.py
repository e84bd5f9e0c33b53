"""The events table: what happened to images and containers, in order (the
TUI's refresh and `docker events`-style readers use it). Its own module so
that container commands do not load the image-ingest code to write a row."""
import json
import time


def record_event(c, kind: str, action: str, obj_id: str, attrs: dict | None = None) -> None:
    """One row, written on the caller's transaction `c`."""
    c.execute("INSERT INTO events(time, type, action, id, attrs) VALUES (?,?,?,?,?)",
              (time.time(), kind, action, obj_id, json.dumps(attrs or {})))


def read_events(db, *, since: float | None = None, until: float | None = None, follow: bool = False,
                poll: float = 0.2, stop=None):
    """Yields the events (dicts: seq, time, type, action, id, attrs) from
    `since` (seconds; the start when None), oldest first; with `follow`, then
    the new ones as they are written, until `until` passes or `stop()` says
    so. A plain poll of the table: writers are other processes."""
    import time as _time
    last = 0
    if since is not None:
        row = db.query("SELECT MAX(seq) AS s FROM events WHERE time < ?", (since,))
        last = (row[0]["s"] or 0) if row else 0
    while True:
        rows = db.query("SELECT seq, time, type, action, id, attrs FROM events WHERE seq > ? ORDER BY seq", (last,))
        for r in rows:
            last = r["seq"]
            if until is not None and r["time"] > until:
                return
            try:
                attrs = json.loads(r["attrs"] or "{}")
            except ValueError:
                attrs = {}
            yield {"seq": r["seq"], "time": r["time"], "type": r["type"], "action": r["action"], "id": r["id"],
                   "attrs": attrs}
        if not follow or (until is not None and _time.time() > until) or (stop is not None and stop()):
            return
        _time.sleep(poll)
