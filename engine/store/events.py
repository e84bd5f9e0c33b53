"""The events table: what happened to images and containers, in order (the
TUI's refresh and `docker events`-style readers use it). Its own module so
that container commands do not load the image-ingest code to write a row."""
import json
import time


def record_event(c, kind: str, action: str, obj_id: str, attrs: dict | None = None) -> None:
    """One row, written on the caller's transaction `c`."""
    c.execute("INSERT INTO events(time, type, action, id, attrs) VALUES (?,?,?,?,?)",
              (time.time(), kind, action, obj_id, json.dumps(attrs or {})))
