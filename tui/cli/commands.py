"""The command table: every command's parser, with docker's flags, and the
function that runs it. Loaded only when a parser is built (tui/cli/parser.py):
`dockyard` itself hands the command to its worker and never gets here."""

# The commands' modules (loaded by load_commands, when a parser is built):
# `dockyard` first asks the store's zygote to run the command (_remote), and
# must not pay for loading them itself.
cc = ct = cli_cp = im = None


def load_commands() -> None:
    global cc, ct, cli_cp, im
    from . import commit, containers, cp, images
    cc, ct, cli_cp, im = commit, containers, cp, images



def _image_parsers(sub, prefix: bool) -> None:
    """The image commands, both as `dockyard images|rmi|…` and `dockyard image ls|rm|…`."""
    names = {"ls": "images", "rm": "rmi", "import": "import", "load": "load", "save": "save", "tag": "tag",
             "inspect": "inspect", "history": "history", "prune": None}
    def name(n):
        return n if prefix else names[n]

    p = sub.add_parser(name("ls"), help="list images", aliases=["list"] if prefix else [])
    p.add_argument("filter_ref", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image ids")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("--format", help="json, table TEMPLATE, or a Go template: '{{.Repository}}:{{.Tag}}'")
    p.set_defaults(func=im.images)

    p = sub.add_parser(name("rm"), help="remove images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="remove an image with several tags or used by a container")
    p.set_defaults(func=im.rmi)

    p = sub.add_parser(name("import"), help="make a one-layer image from a rootfs tar")
    p.add_argument("file", metavar="FILE|-")
    p.add_argument("ref", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-m", "--message", help="commit message for the imported image")
    p.set_defaults(func=im.import_)

    p = sub.add_parser(name("load"), help="load images from a docker-archive or OCI archive")
    p.add_argument("-i", "--input", help="read from a file instead of standard input")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load progress")
    p.set_defaults(func=im.load)

    p = sub.add_parser(name("save"), help="save images to an archive (docker-archive by default)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="write to a file instead of standard output")
    p.add_argument("--format", default="docker-archive", choices=["docker-archive", "oci", "oci-archive"])
    p.set_defaults(func=im.save)

    p = sub.add_parser(name("tag"), help="give an image another name")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(func=im.tag)

    p = sub.add_parser(name("inspect"), help="show details as JSON" if not prefix else "show an image's details as JSON")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-f", "--format", help="a Go template: '{{.Id}}', '{{json .Config}}'")
    if prefix:
        p.set_defaults(func=ct.inspect, type="image")
    else:
        p.add_argument("--type", choices=["container", "image"])
        p.set_defaults(func=ct.inspect)

    p = sub.add_parser(name("history"), help="show an image's layers and how they were made")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=im.history)

    if prefix:
        p = sub.add_parser("prune", help="remove dangling images (-a: every unused image)")
        p.add_argument("-a", "--all", action="store_true")
        p.add_argument("-f", "--force", action="store_true", help="do not ask")
        p.set_defaults(func=im.prune)


def _container_parsers(sub, prefix: bool) -> None:
    """The container commands, as `dockyard ps|rm|…` and `dockyard container ls|rm|…`."""
    p = sub.add_parser("run", help="create and start a container", add_help=False)
    p.add_argument("--help", action="help")
    ct.add_run_flags(p)
    p.set_defaults(func=ct.run)
    p = sub.add_parser("create", help="create a container", add_help=False)
    p.add_argument("--help", action="help")
    ct.add_run_flags(p)
    p.set_defaults(func=ct.create)

    p = sub.add_parser("ls" if prefix else "ps", help="list containers", aliases=["list", "ps"] if prefix else [])
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-s", "--size", action="store_true", help="show the writable layer's size and the virtual size")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="status=, name=, id=, ancestor=, exited=, before=, since=")
    p.add_argument("--format", help="json, table TEMPLATE, or a Go template: '{{.ID}}\\t{{.Names}}'")
    p.set_defaults(func=ct.ps)

    p = sub.add_parser("rename", help="rename a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")
    p.set_defaults(func=ct.rename)

    p = sub.add_parser("start", help="start stopped containers")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("--detach-keys")
    p.set_defaults(func=ct.start)
    for name, func, help_ in (("stop", ct.stop, "stop running containers (SIGTERM, SIGKILL after -t)"),
                              ("restart", ct.restart, "restart containers")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.add_argument("-t", "--time", "--timeout", type=int, default=None)
        if name == "stop":
            p.add_argument("-s", "--signal")
        p.set_defaults(func=func)
    p = sub.add_parser("kill", help="send a signal (KILL by default)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-s", "--signal", default="KILL")
    p.set_defaults(func=ct.kill)
    for name, func in (("pause", ct.pause), ("unpause", ct.unpause), ("wait", ct.wait)):
        p = sub.add_parser(name, help=f"{name} containers")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(func=func)
    p = sub.add_parser("rm" if prefix else "rm", help="remove containers", aliases=["remove"] if prefix else [])
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("-v", "--volumes", action="store_true")
    p.set_defaults(func=ct.rm)
    p = sub.add_parser("logs", help="show a container's output")
    p.add_argument("container")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail")
    p.add_argument("--since", help="a time (RFC3339, unix seconds) or a duration before now (10m)")
    p.add_argument("--until", help="the same: entries up to then")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.set_defaults(func=ct.logs)
    p = sub.add_parser("attach", help="attach to a running container (detach: ctrl-p ctrl-q)")
    p.add_argument("container")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("--detach-keys")
    p.set_defaults(func=ct.attach)
    p = sub.add_parser("exec", help="run a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("container")
    p.add_argument("cmd", metavar="COMMAND")
    p.add_argument("args", nargs="...", metavar="ARG")
    p.set_defaults(func=ct.exec_)
    cli_cp.add_parser(sub)
    p = sub.add_parser("top", help="show a container's processes")
    p.add_argument("container")
    p.set_defaults(func=ct.top)
    p = sub.add_parser("port", help="list a container's published ports")
    p.add_argument("container")
    p.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    p.set_defaults(func=ct.port)
    p = sub.add_parser("stats", help="show containers' resource use")
    p.add_argument("containers", nargs="*")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.set_defaults(func=ct.stats)
    if prefix:
        p = sub.add_parser("prune", help="remove all stopped containers")
        p.add_argument("-f", "--force", action="store_true")
        p.set_defaults(func=ct.prune)
        p = sub.add_parser("inspect", help="show a container's details as JSON")
        p.add_argument("names", nargs="+")
        p.add_argument("-f", "--format", help="a Go template: '{{.State.Pid}}'")
        p.set_defaults(func=ct.inspect, type="container")



def add_commands(sub) -> None:
    load_commands()
    _image_parsers(sub, prefix=False)
    img = sub.add_parser("image", help="manage images")
    img_sub = img.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    _image_parsers(img_sub, prefix=True)
    cc.add_image_parsers(img_sub)

    _container_parsers(sub, prefix=False)
    cc.add_container_parsers(sub)
    cont = sub.add_parser("container", help="manage containers")
    cont_sub = cont.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    _container_parsers(cont_sub, prefix=True)
    cc.add_container_parsers(cont_sub)

    vol = sub.add_parser("volume", help="manage named volumes")
    vs = vol.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    v = vs.add_parser("create")
    v.add_argument("name", nargs="?")
    v.set_defaults(func=ct.volume_create)
    v = vs.add_parser("ls", aliases=["list"])
    v.add_argument("-q", "--quiet", action="store_true")
    v.set_defaults(func=ct.volume_ls)
    v = vs.add_parser("rm", aliases=["remove"])
    v.add_argument("names", nargs="+")
    v.add_argument("-f", "--force", action="store_true")
    v.set_defaults(func=ct.volume_rm)

    system = sub.add_parser("system", help="manage dockyard")
    ss = system.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    df = ss.add_parser("df", help="show disk usage")
    df.add_argument("-v", "--verbose", action="store_true")
    df.set_defaults(func=im.system_df)

    from . import build, events, network, pull, push
    from . import login as cli_login
    build.add_parsers(sub)
    network.add_parsers(sub)
    events.add_parsers(sub)
    cli_login.add_parsers(sub)  # login, logout
    pull.add_parsers(sub)
    push.add_parsers(sub)

    for s, name in ((sub, "info"), (ss, "info")):
        i = s.add_parser(name, help="show the engine's and the host's set-up")
        i.add_argument("-f", "--format", help="json, or a Go template: '{{.ServerVersion}}'")
        i.set_defaults(func=im.info)
    v = sub.add_parser("version", help="show dockyard's version")
    v.set_defaults(func=im.version)

    c = sub.add_parser("check", help="verify the whole store")
    c.add_argument("--repair", action="store_true", help="remove what cannot be trusted")
    c.set_defaults(func=im.check)

    t = sub.add_parser("tui", help="open the TUI (the default)")
    t.set_defaults(func=None)

