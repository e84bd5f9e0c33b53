"""Image commands of the docker-style command line."""
import sys

from engine import Engine, parse_reference
from engine.errors import InvalidArgument

from ..fmt import ago, human_size, table


def _split(name: str) -> tuple[str, str]:
    ref = parse_reference(name)
    return ref.repository_familiar(), ref.tag or "<none>"


def _repo(repo_digest: str) -> str:
    return parse_reference(repo_digest.partition("@")[0]).repository_familiar()


def _digest(img, repo: str) -> str:
    """The digest the image was pulled by from this repository, else its manifest's."""
    return next((d.partition("@")[2] for d in img.repo_digests if _repo(d) == repo), img.digest)


def images(eng: Engine, args) -> int:
    rows = []
    for img in eng.images(all=args.all):
        named = [_split(n) for n in img.names]
        # pulled by digest only: the repository with no tag, as docker lists it
        named += [(r, "<none>") for r in dict.fromkeys(_repo(d) for d in img.repo_digests)
                  if r not in {n[0] for n in named}]
        for repo, tag in named or [("<none>", "<none>")]:
            rows.append((repo, tag, img))
    if args.filter_ref:
        want = args.filter_ref
        rows = [r for r in rows if r[0] == want or f"{r[0]}:{r[1]}" == want or r[0].endswith("/" + want)]
    if args.quiet:
        seen = []
        for _, _, img in rows:
            if img.short_id not in seen:
                seen.append(img.short_id)
        print("\n".join(seen)) if seen else None
        return 0
    from .format import IMAGE_HEADERS, is_custom, print_objects
    if is_custom(args.format):
        from .containers import docker_time
        print_objects([{"Containers": str(img.containers), "CreatedAt": docker_time(img.created_ts),
                        "CreatedSince": ago(img.created_ts), "Digest": img.digest, "ID": img.short_id,
                        "Repository": repo, "SharedSize": human_size(img.shared_size),
                        "Size": human_size(img.size), "Tag": tag,
                        "UniqueSize": human_size(img.size - img.shared_size),
                        "VirtualSize": human_size(img.size)} for repo, tag, img in rows], args.format, IMAGE_HEADERS)
        return 0
    headers = ["REPOSITORY", "TAG"] + (["DIGEST"] if args.digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    out = []
    for repo, tag, img in rows:
        out.append([repo, tag] + ([_digest(img, repo)] if args.digests else []) +
                   [img.short_id, ago(img.created_ts), human_size(img.size)])
    print(table(headers, out))
    return 0


def import_(eng: Engine, args) -> int:
    if args.file == "-":
        iid = eng.import_image(sys.stdin.buffer, args.ref, source_name="-", message=args.message)
    else:
        try:
            f = open(args.file, "rb")
        except OSError as e:
            raise InvalidArgument(f"cannot open {args.file}: {e.strerror}") from None
        with f:
            iid = eng.import_image(f, args.ref, source_name=args.file, message=args.message)
    print(iid)
    return 0


def load(eng: Engine, args) -> int:
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr) if not msg.startswith("Loaded") else None)
    if args.input in (None, "-"):
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty: use -i FILE or pipe an archive in")
        src = sys.stdin.buffer
    else:
        src = args.input
        import os
        if not os.path.exists(src):
            raise InvalidArgument(f"open {src}: no such file or directory")
    for iid, tags in eng.load(src, progress):
        if tags:
            for t in tags:
                print(f"Loaded image: {parse_reference(t).familiar()}")
        else:
            print(f"Loaded image ID: {iid}")
    return 0


def save(eng: Engine, args) -> int:
    fmt = args.format
    if args.output in (None, "-"):
        if sys.stdout.isatty():
            raise InvalidArgument("cowardly refusing to save to a terminal: use -o FILE or redirect")
        eng.save(args.images, sys.stdout.buffer, fmt)
        sys.stdout.buffer.flush()
        return 0
    import os
    tmp = f"{args.output}.dockyard-tmp"
    try:
        with open(tmp, "wb") as f:
            eng.save(args.images, f, fmt)
        os.replace(tmp, args.output)  # no half-written archive under the asked name
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


def tag(eng: Engine, args) -> int:
    eng.tag(args.source, args.target)
    return 0


def rmi(eng: Engine, args) -> int:
    rc = 0
    for ref in args.images:
        try:
            for what, name in eng.remove_image(ref, force=args.force):
                print(f"{what}: {parse_reference(name).familiar() if what == 'Untagged' else name}")
        except Exception as e:  # docker goes on with the other names and fails at the end
            from engine.errors import DockyardError
            if not isinstance(e, DockyardError):
                raise
            print(f"Error: {e}", file=sys.stderr)
            rc = 1
    return rc


def prune(eng: Engine, args) -> int:
    if not args.force and sys.stdin.isatty():
        what = "all images without at least one container associated to them" if args.all else "all dangling images"
        ans = input(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        if ans.strip().lower() not in ("y", "yes"):
            return 0
    removed, reclaimed = eng.prune_images(all_unused=args.all)
    if removed:
        print("Deleted Images:")
        for what, name in removed:
            print(f"{what.lower()}: {parse_reference(name).familiar() if what == 'Untagged' else name}")
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def history(eng: Engine, args) -> int:
    rows = []
    for h in eng.history(args.image):
        from engine import parse_time
        iid = h.id if h.id == "<missing>" or args.no_trunc else h.id[7:19]
        by = h.created_by if args.no_trunc or len(h.created_by) <= 45 else h.created_by[:44] + "…"
        rows.append([iid, ago(parse_time(h.created)), by, human_size(h.size), h.comment])
    if args.quiet:
        print("\n".join(r[0] for r in rows))
        return 0
    print(table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows))
    return 0


def inspect(eng: Engine, args) -> int:
    from .format import print_inspect
    print_inspect([eng.inspect_image(ref) for ref in args.names], args.format)
    return 0


def system_df(eng: Engine, args) -> int:
    du = eng.disk_usage()
    pct = f" ({100 * du.images_reclaimable // du.images_size}%)" if du.images_size else ""
    rows = [["Images", str(du.images), str(du.images_active), human_size(du.images_size),
             human_size(du.images_reclaimable) + pct],
            ["Containers", str(du.containers), "0", human_size(du.containers_size), human_size(0)],
            ["Local Volumes", str(du.volumes), "0", human_size(0), human_size(0)],
            ["Build Cache", "0", "0", human_size(du.build_cache), human_size(0)]]
    print(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows))
    if args.verbose:
        print("\nImages space usage:\n")
        print(table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"],
                    [[*(_split(i.names[0]) if i.names else ("<none>", "<none>")), i.short_id, ago(i.created_ts),
                      human_size(i.size), human_size(i.shared_size), human_size(i.size - i.shared_size),
                      str(i.containers)] for i in du.details]))
    return 0


def info(eng: Engine, args) -> int:
    i = eng.info()
    if args.format and args.format != "text":
        from .format import print_objects
        print_objects([i], args.format, {})
        return 0
    lines = ["Server:",
             f" Containers: {i['Containers']}",
             f"  Running: {i['ContainersRunning']}",
             f"  Paused: {i['ContainersPaused']}",
             f"  Stopped: {i['ContainersStopped']}",
             f" Images: {i['Images']}",
             f" Server Version: {i['ServerVersion']}",
             f" Storage Driver: {i['Driver']}"]
    lines += [f"  {k}: {v}" for k, v in i["DriverStatus"]]
    lines += [f" Logging Driver: {i['LoggingDriver']}",
              f" Cgroup Driver: {i['CgroupDriver']}",
              f" Cgroup Version: {i['CgroupVersion']} ({i['CgroupMode']})",
              f" Default Runtime: {i['DefaultRuntime']}",
              " Security Options:"]
    lines += [f"  {o.split(',')[0].removeprefix('name=')}" + "".join(
        f"\n   {p.split('=')[0].capitalize()}: {p.split('=', 1)[1]}" for p in o.split(",")[1:])
        for o in i["SecurityOptions"]]
    lines += [f" Kernel Version: {i['KernelVersion']}",
              f" Operating System: {i['OperatingSystem']}",
              f" OSType: {i['OSType']}",
              f" Architecture: {i['Architecture']}",
              f" CPUs: {i['NCPU']}",
              f" Total Memory: {i['MemTotal'] / 2 ** 30:.4g}GiB",
              f" Docker Root Dir: {i['DockerRootDir']}",
              f" Monitor Zygote: {'pid ' + str(i['Zygote']['Pid']) if i['Zygote'] else 'not running'}"]
    print("\n".join(lines))
    for w in i["Warnings"]:
        print(w, file=sys.stderr)
    return 0


def version(eng: Engine, args) -> int:
    import platform

    from engine import version as v
    print(f"Client: dockyard\n Version: {v()}\n Python: {platform.python_version()}\n"
          f" OS/Arch: linux/{platform.machine()}\n\nServer: dockyard engine (in-process)\n Version: {v()}\n"
          f" Kernel: {platform.release()}")
    return 0


def check(eng: Engine, args) -> int:
    rep = eng.check(repair=args.repair)
    for p in rep.problems:
        print(f"problem: {p}")
    for n in rep.notes:
        print(f"note: {n}")
    for r in rep.repaired:
        print(f"repaired: {r}")
    state = "consistent" if rep.ok else ("repaired" if args.repair else "NOT consistent")
    print(f"store {eng.root}: {rep.images} images, {rep.layers} layers, {rep.blobs} blobs checked: {state}")
    if rep.ok or args.repair:
        return 0
    print("run `dockyard check --repair` to remove what cannot be trusted", file=sys.stderr)
    return 1
