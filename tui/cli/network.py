"""`network create|ls|inspect|rm|prune|connect|disconnect` and the network
flags of run/create, as docker's."""
import sys

from engine import Engine
from engine.errors import DockyardError, InvalidArgument


def add_run_flags(p) -> None:
    p.add_argument("--network", "--net", default="none",
                   help="none (the default for now), host, bridge (the default bridge, with NAT) or a network "
                        "made by `network create`")
    p.add_argument("-p", "--publish", action="append", default=[],
                   help="[ip:][hostport:]containerport[/tcp|udp], ranges as 8000-8010 (needs a bridge network)")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish every EXPOSEd port to a free host port")
    p.add_argument("--ip", help="the IPv4 address on a user network")
    p.add_argument("--mac-address")
    p.add_argument("--network-alias", "--net-alias", action="append", default=[])
    p.add_argument("--add-host", action="append", default=[], help="HOST:IP (IP may be host-gateway)")
    p.add_argument("--dns", action="append", default=[])
    p.add_argument("--dns-search", action="append", default=[])
    p.add_argument("--dns-option", "--dns-opt", action="append", default=[])


def run_options(args) -> dict:
    return {"network": args.network, "publish": args.publish, "publish_all": args.publish_all, "ip": args.ip,
            "mac_address": args.mac_address, "network_alias": args.network_alias, "add_host": args.add_host,
            "dns": args.dns, "dns_search": args.dns_search, "dns_option": args.dns_option}


def add_parsers(sub) -> None:
    net = sub.add_parser("network", help="manage networks")
    ns = net.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    p = ns.add_parser("create", help="create a bridge network")
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet")
    p.add_argument("--gateway")
    p.add_argument("--internal", action="store_true", help="no way out of the network, no published ports")
    p.add_argument("--label", action="append", default=[])
    p.set_defaults(func=create)
    p = ns.add_parser("ls", aliases=["list"], help="list networks")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[], help="name=, id=, driver=")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", help="json, table TEMPLATE, or a Go template: '{{.Name}}'")
    p.set_defaults(func=ls)
    p = ns.add_parser("inspect", help="show networks as JSON")
    p.add_argument("names", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--format")
    p.set_defaults(func=inspect)
    p = ns.add_parser("rm", aliases=["remove"], help="remove networks")
    p.add_argument("names", nargs="+", metavar="NETWORK")
    p.set_defaults(func=rm)
    p = ns.add_parser("prune", help="remove the networks no container uses")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(func=prune)
    p = ns.add_parser("connect", help="connect a container to a network")
    p.add_argument("--ip")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=connect)
    p = ns.add_parser("disconnect", help="disconnect a container from a network")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=disconnect)


def create(eng: Engine, args) -> int:
    labels = dict(lbl.partition("=")[::2] for lbl in args.label)
    net = eng.network_create(args.name, subnet=args.subnet, gateway=args.gateway, internal=args.internal,
                             driver=args.driver, labels=labels)
    print(net.id)
    return 0


def _filters(specs: list[str]):
    out = []
    for f in specs:
        key, sep, value = f.partition("=")
        if not sep or key not in ("name", "id", "driver"):
            raise InvalidArgument(f"invalid filter {f!r}: name=, id= or driver=")
        out.append((key, value))
    return lambda r: all((value in r["name"]) if key == "name" else r[key].startswith(value) if key == "id"
                         else r["driver"] == value for key, value in out)


def ls(eng: Engine, args) -> int:
    keep = _filters(args.filter)
    rows = [r for r in eng.networks() if keep(r)]
    ident = (lambda r: r["id"]) if args.no_trunc else (lambda r: r["id"][:12])
    if args.quiet:
        if rows:
            print("\n".join(ident(r) for r in rows))
        return 0
    if args.format and args.format.strip() != "table":
        from .format import print_objects
        print_objects([{"ID": ident(r), "Name": r["name"], "Driver": r["driver"], "Scope": r["scope"],
                        "Internal": str(r["internal"]).lower(), "IPv6": "false", "Labels": ""} for r in rows],
                      args.format, {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"})
        return 0
    from ..fmt import table
    print(table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                [[ident(r), r["name"], r["driver"], r["scope"]] for r in rows]))
    return 0


def inspect(eng: Engine, args) -> int:
    from .format import print_inspect
    docs = []
    for ref in args.names:
        try:
            docs.append(eng.network_inspect(ref))
        except DockyardError:
            print_inspect(docs, args.format)   # docker: what was found, then the error
            raise
    print_inspect(docs, args.format)
    return 0


def rm(eng: Engine, args) -> int:
    code = 0
    for ref in args.names:
        try:
            eng.network_remove(ref)
            print(ref)
        except DockyardError as e:
            print(f"Error: {e}", file=sys.stderr)
            code = 1
    return code


def prune(eng: Engine, args) -> int:
    if not args.force and sys.stdin.isatty():
        answer = input("WARNING! This will remove all custom networks not used by at least one container.\n"
                       "Are you sure you want to continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    gone = eng.network_prune()
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))
    return 0


def connect(eng: Engine, args) -> int:
    eng.network_connect(args.network, args.container, ip=args.ip, aliases=args.alias)
    return 0


def disconnect(eng: Engine, args) -> int:
    eng.network_disconnect(args.network, args.container, force=args.force)
    return 0
