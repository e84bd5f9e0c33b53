"""Container commands of the docker-style command line."""
import json
import os
import re
import sys
import time

from engine import Engine, RunOptions
from engine.errors import DockyardError, InvalidArgument

from ..fmt import ago, human_duration, human_size, table

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(s: str) -> int:
    """docker's RAMInBytes: 512m, 1g, 1.5GB, 1024 (binary units)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", s.strip().lower())
    if not m:
        raise InvalidArgument(f"invalid size: {s!r}")
    return int(float(m[1]) * _UNITS[m[2]])


def add_run_flags(p) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the id")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--name")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("-h", "--hostname")
    p.add_argument("-v", "--volume", action="append", default=[], help="SRC:DST[:ro] host path or named volume")
    p.add_argument("--tmpfs", action="append", default=[])
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--init", action="store_true", help="run an init inside that forwards signals and reaps zombies")
    from .network import add_run_flags as network_flags
    network_flags(p)
    p.add_argument("-m", "--memory")
    p.add_argument("--cpus", type=float)
    p.add_argument("--pids-limit", type=int)
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--security-opt", action="append", default=[])
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--entrypoint")
    p.add_argument("--stop-signal")
    p.add_argument("--stop-timeout", type=int)
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--detach-keys", default=None)
    from .pull import add_run_flags as pull_flags
    pull_flags(p)
    p.add_argument("image")
    p.add_argument("command", nargs="...")


def options_from(args) -> RunOptions:
    from .network import run_options
    labels = {}
    for l in args.label:
        k, _, v = l.partition("=")
        labels[k] = v
    return RunOptions(
        image=args.image, command=args.command or None,
        entrypoint=None if args.entrypoint is None else ([args.entrypoint] if args.entrypoint else [""]),
        name=args.name, env=args.env, env_files=args.env_file, workdir=args.workdir, user=args.user,
        hostname=args.hostname, tty=args.tty, interactive=args.interactive, autoremove=args.rm,
        volumes=args.volume, tmpfs=args.tmpfs, read_only=args.read_only, init=args.init,
        memory=parse_bytes(args.memory) if args.memory else None, cpus=args.cpus, pids_limit=args.pids_limit,
        cap_add=args.cap_add, cap_drop=args.cap_drop, security_opt=args.security_opt, privileged=args.privileged,
        stop_signal=args.stop_signal, stop_timeout=args.stop_timeout, labels=labels, **run_options(args))


def _detach_keys(args) -> bytes:
    from ..terminal import parse_detach_keys
    return parse_detach_keys(args.detach_keys or os.environ.get("DOCKYARD_DETACH_KEYS") or "ctrl-p,ctrl-q")


def _tty_size():
    try:
        size = os.get_terminal_size(sys.stdin.fileno())
        return (size.lines, size.columns)
    except OSError:
        return None


def _pull(eng: Engine, args) -> None:
    from .pull import ensure_image
    ensure_image(eng, args.image, args.pull, args.platform)


def create(eng: Engine, args) -> int:
    opts = options_from(args)
    _pull(eng, args)
    print(eng.create_container(opts))
    return 0


def run(eng: Engine, args) -> int:
    opts = options_from(args)
    if args.tty and not args.detach and not sys.stdin.isatty():
        raise InvalidArgument("the input device is not a TTY")
    _pull(eng, args)
    cid = eng.create_container(opts)
    if args.detach:
        try:
            eng.start_container(cid)
        except DockyardError:
            if opts.autoremove:
                _quiet_remove(eng, cid)
            raise
        print(cid)
        return 0
    return _start_attached(eng, cid, tty=args.tty, stdin=args.interactive, keys=_detach_keys(args),
                           autoremove=opts.autoremove)


def _quiet_remove(eng: Engine, cid: str) -> None:
    try:
        eng.remove_container(cid, force=True)
    except DockyardError:
        pass


def _start_attached(eng: Engine, cid: str, *, tty: bool, stdin: bool, keys: bytes, autoremove: bool) -> int:
    from ..terminal import run_attached
    try:
        eng.start_container(cid, wait_attach=True, tty_size=_tty_size() if tty else None)
    except DockyardError:
        if autoremove:
            _quiet_remove(eng, cid)
        raise
    client = eng.attach(cid, just_started=True)
    try:
        code = run_attached(client, tty=tty, stdin=stdin, detach_keys=keys)
    finally:
        client.close()
    if code is None:
        return 0  # detached: the container goes on
    return code


def start(eng: Engine, args) -> int:
    rc = 0
    for ref in args.containers:
        try:
            if args.attach:
                info = eng.container(ref)
                return _start_attached(eng, info.id, tty=eng.inspect_container(ref)["Config"]["Tty"],
                                       stdin=args.interactive, keys=_detach_keys(args), autoremove=False)
            eng.start_container(ref)
            print(ref)
        except DockyardError as e:
            print(f"Error: {e}", file=sys.stderr)
            rc = e.exit_code if e.exit_code != 125 else 1
    return rc


def _each(eng: Engine, refs, fn) -> int:
    rc = 0
    for ref in refs:
        try:
            fn(ref)
            print(ref)
        except DockyardError as e:
            print(f"Error: {e}", file=sys.stderr)
            rc = 1
    return rc


def stop(eng: Engine, args) -> int:
    return _each(eng, args.containers, lambda r: eng.stop_container(r, args.time, args.signal))


def restart(eng: Engine, args) -> int:
    return _each(eng, args.containers, lambda r: eng.restart_container(r, args.time))


def kill(eng: Engine, args) -> int:
    return _each(eng, args.containers, lambda r: eng.kill_container(r, args.signal))


def pause(eng: Engine, args) -> int:
    return _each(eng, args.containers, eng.pause_container)


def unpause(eng: Engine, args) -> int:
    return _each(eng, args.containers, eng.unpause_container)


def wait(eng: Engine, args) -> int:
    rc = 0
    for ref in args.containers:
        try:
            print(eng.wait_container(ref))
        except DockyardError as e:
            print(f"Error: {e}", file=sys.stderr)
            rc = 1
    return rc


def rm(eng: Engine, args) -> int:
    return _each(eng, args.containers, lambda r: eng.remove_container(r, args.force, args.volumes))


def prune(eng: Engine, args) -> int:
    if not args.force and sys.stdin.isatty():
        ans = input("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ")
        if ans.strip().lower() not in ("y", "yes"):
            return 0
    removed = eng.prune_containers()
    if removed:
        print("Deleted Containers:")
        print("\n".join(removed))
        print()
    print("Total reclaimed space: 0B")
    return 0


def status_text(c) -> str:
    if c.status == "running":
        return f"Up {human_duration(time.time() - (c.started_at or time.time()))}"
    if c.status == "paused":
        return f"Up {human_duration(time.time() - (c.started_at or time.time()))} (Paused)"
    if c.status == "exited":
        return f"Exited ({c.exit_code if c.exit_code is not None else 0}) {ago(c.finished_at)}"
    return c.status.capitalize()


def docker_time(ts: float | None) -> str:
    """How docker's ps and images print CreatedAt: 2026-11-27 14:58:12 +0000 UTC."""
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


FILTERS = ("status", "name", "id", "ancestor", "exited", "before", "since")


def ps(eng: Engine, args) -> int:
    want = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        if k not in FILTERS:
            raise InvalidArgument(f"invalid filter {k!r}: use {', '.join(x + '=' for x in FILTERS)}")
        want.setdefault(k, []).append(v)
    shown = eng.containers(all=args.all or bool(want.get("status")) or bool(want.get("exited")), sizes=args.size)
    if "ancestor" in want:
        from engine.errors import NotFound
        ids = set()
        for a in want["ancestor"]:
            try:
                ids.add(eng.image(a).id)
            except NotFound:
                pass  # as docker: an unknown image matches nothing
        shown = [c for c in shown if c.image_id in ids]
    if "exited" in want:
        try:
            codes = {int(v) for v in want["exited"]}
        except ValueError:
            raise InvalidArgument("exited= takes an exit code") from None
        shown = [c for c in shown if c.status == "exited" and c.exit_code in codes]
    for k, keep in (("before", lambda c, t: c.created < t), ("since", lambda c, t: c.created > t)):
        for v in want.get(k, []):
            t = eng.container(v).created
            shown = [c for c in shown if keep(c, t)]
    if "status" in want:
        shown = [c for c in shown if c.status in want["status"]]
    if "name" in want:
        shown = [c for c in shown if any(n in c.name for n in want["name"])]
    if "id" in want:
        shown = [c for c in shown if any(c.id.startswith(i) for i in want["id"])]
    if args.quiet:
        if shown:
            print("\n".join(c.short_id if not args.no_trunc else c.id for c in shown))
        return 0
    from .format import PS_HEADERS, is_custom, print_objects
    if is_custom(args.format):
        print_objects([{"Command": json.dumps(c.command), "CreatedAt": docker_time(c.created),
                        "ID": c.id if args.no_trunc else c.short_id, "Image": c.image, "Labels": "", "Mounts": "",
                        "Names": c.name, "Networks": "", "Ports": "", "RunningFor": ago(c.created),
                        "Size": f"{human_size(c.size_rw)} (virtual {human_size(c.size_root_fs)})"
                        if args.size else "", "State": c.status, "Status": status_text(c)} for c in shown],
                      args.format, PS_HEADERS)
        return 0
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] + (["SIZE"] if args.size else [])
    rows = []
    for c in shown:
        cmd = c.command if args.no_trunc or len(c.command) <= 20 else c.command[:19] + "…"
        rows.append([c.id if args.no_trunc else c.short_id, c.image, json.dumps(cmd), ago(c.created), status_text(c), "",
                     c.name] + ([f"{human_size(c.size_rw)} (virtual {human_size(c.size_root_fs)})"] if args.size else []))
    print(table(headers, rows))
    return 0


def rename(eng: Engine, args) -> int:
    eng.rename_container(args.container, args.new_name)
    return 0


def logs(eng: Engine, args) -> int:
    since = _since(args.since) if args.since else None
    until = _since(args.until) if getattr(args, "until", None) else None
    tail = None if args.tail in (None, "all") else int(args.tail)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for stream, _ts, data in eng.logs(args.container, tail=tail, since=since, until=until, follow=args.follow,
                                     timestamps=args.timestamps):
        target = err if stream == "stderr" else out
        target.write(data)  # with timestamps, read_logs has put the time in front
        target.flush()
    return 0


def _since(s: str) -> float:
    """docker's --since: a duration (10m, 1h30m) back from now, a unix time, or RFC 3339."""
    m = re.fullmatch(r"((\d+(\.\d+)?)(ns|us|ms|s|m|h))+", s)
    if m:
        total = 0.0
        for num, _, unit in re.findall(r"(\d+(\.\d+)?)(ns|us|ms|s|m|h)", s):
            total += float(num) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
        return time.time() - total
    try:
        return float(s)
    except ValueError:
        pass
    from engine import parse_time_arg  # to the nanosecond, as the log's own stamps
    try:
        return parse_time_arg(s if s.endswith(("Z", "z")) or "+" in s else s + "Z")
    except (ValueError, InvalidArgument):
        raise InvalidArgument(f"invalid time {s!r}: use an RFC3339 time, a unix timestamp or a duration "
                              "such as 10m") from None


def attach(eng: Engine, args) -> int:
    from ..terminal import run_attached
    tty = eng.inspect_container(args.container)["Config"]["Tty"]
    client = eng.attach(args.container)
    try:
        code = run_attached(client, tty=tty, stdin=not args.no_stdin, detach_keys=_detach_keys(args))
    finally:
        client.close()
    return 0 if code is None else code


def exec_(eng: Engine, args) -> int:
    from ..terminal import run_exec
    if args.tty and not args.detach and not sys.stdin.isatty():
        raise InvalidArgument("the input device is not a TTY")
    process = eng.exec_spec(args.container, [args.cmd] + args.args, env=args.env, workdir=args.workdir,
                            user=args.user, tty=args.tty, privileged=args.privileged)
    client = eng.attach(args.container)
    try:
        return run_exec(client, process, tty=args.tty, stdin=args.interactive, detach=args.detach,
                        size=_tty_size() if args.tty else None)
    finally:
        client.close()


def inspect(eng: Engine, args) -> int:
    from engine.errors import NotFound

    from .format import print_inspect
    docs = []
    for ref in args.names:
        kind = getattr(args, "type", None)
        try:
            if kind in (None, "container"):
                try:
                    docs.append(eng.inspect_container(ref))
                    continue
                except NotFound:
                    if kind == "container":
                        raise
            docs.append(eng.inspect_image(ref))
        except NotFound:
            print_inspect(docs, args.format)
            raise NotFound(f"no such object: {ref}") from None
    print_inspect(docs, args.format)
    return 0


def volume_create(eng: Engine, args) -> int:
    print(eng.volume_create(args.name))
    return 0


def volume_ls(eng: Engine, args) -> int:
    vols = eng.volumes()
    if args.quiet:
        if vols:
            print("\n".join(v["Name"] for v in vols))
        return 0
    print(table(["DRIVER", "VOLUME NAME"], [[v["Driver"], v["Name"]] for v in vols]))
    return 0


def volume_rm(eng: Engine, args) -> int:
    return _each(eng, args.names, lambda n: eng.volume_remove(n, args.force))


def top(eng: Engine, args) -> int:
    headers, rows = eng.top(args.container)
    print(table(headers, rows))
    return 0


def port(eng: Engine, args) -> int:
    """docker port: `80/tcp -> 0.0.0.0:18080` per published port of a running container."""
    want = args.private
    if want and "/" not in want:
        want += "/tcp"
    maps = eng.container_ports(args.container)
    lines = [f"{m['container_port']}/{m['proto']} -> {m['host_ip']}:{m['host_port']}" for m in maps
             if not want or f"{m['container_port']}/{m['proto']}" == want]
    if want and not lines:
        raise InvalidArgument(f"no public port '{want}' published for {args.container}")
    for line in lines:
        print(line if not want else line.split(" -> ", 1)[1])
    return 0


def stats(eng: Engine, args) -> int:
    refs = args.containers or [c.id for c in eng.containers(all=args.all)]
    if not args.no_stream:
        raise InvalidArgument("only --no-stream is supported on the command line; the TUI shows live stats")
    first = {r: eng.stats(r) for r in refs}
    time.sleep(0.5)  # CPU % needs two samples, as docker takes
    rows = []
    for r in refs:
        s = eng.stats(r, first[r])
        pct = 100.0 * s.memory_usage / s.memory_limit if s.memory_limit else 0.0
        rows.append([s.id[:12], s.name, f"{s.cpu_percent:.2f}%",
                     f"{_iec(s.memory_usage)} / {_iec(s.memory_limit)}", f"{pct:.2f}%",
                     f"{human_size(s.net_rx)} / {human_size(s.net_tx)}",
                     f"{human_size(s.block_read)} / {human_size(s.block_write)}", str(s.pids)])
    print(table(["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"], rows))
    return 0


def _iec(n: float) -> str:
    """docker stats shows memory in binary units: 1.5MiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n}B"
