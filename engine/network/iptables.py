"""Our packet filter rules, through iptables (the nft backend here; no nft
binary needed). Everything of ours is in chains of our own, jumped to once
from the built-in chains, and every rule carries a comment naming its owner
("dockyard net BRIDGE", "dockyard ctr ID"), so removing ours never touches
anyone else's rules and a leftover can be found after a crash.

filter DOCKYARD-FORWARD      (FORWARD jumps here first)
nat    DOCKYARD-POSTROUTING  (POSTROUTING): MASQUERADE of a subnet going out,
                             and of 127.0.0.0/8 going to a bridge (published
                             ports reached from the host's loopback)
nat    DOCKYARD-DNAT         (PREROUTING and OUTPUT, for the host's own
                             addresses): a published port to its container
"""
import subprocess

from ..errors import DockyardError

FORWARD = "DOCKYARD-FORWARD"
POSTROUTING = "DOCKYARD-POSTROUTING"
DNAT = "DOCKYARD-DNAT"
CHAINS = {"filter": [FORWARD], "nat": [POSTROUTING, DNAT]}
# (table, built-in chain, the rule that jumps to ours)
JUMPS = [("filter", "FORWARD", ["-j", FORWARD]),
         ("nat", "POSTROUTING", ["-j", POSTROUTING]),
         ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", DNAT]),
         ("nat", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", DNAT])]


def _run(argv: list[str], input: str | None = None) -> str:
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True)
    except FileNotFoundError:
        raise DockyardError(f"{argv[0]} is not installed: bridge networking needs iptables") from None
    if p.returncode != 0:
        raise DockyardError(f"{' '.join(argv[:4])} failed: {p.stderr.strip() or p.returncode}")
    return p.stdout


def net_tag(bridge: str) -> str:
    return f"dockyard net {bridge}"


def ctr_tag(cid: str) -> str:
    return f"dockyard ctr {cid}"


def save() -> dict[str, list[str]]:
    """{table: its rule lines (-A …) and chain lines (:NAME …)} of filter and nat."""
    out: dict[str, list[str]] = {"filter": [], "nat": []}
    table = None
    for line in _run(["iptables-save"]).splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif table in out and (line.startswith("-A ") or line.startswith(":")):
            out[table].append(line)
    return out


def _line(chain: str, spec: list[str], op: str = "-A") -> str:
    return " ".join([op, chain] + [f'"{a}"' if " " in a else a for a in spec])


def restore(tables: dict[str, list[str]]) -> None:
    """Adds (or deletes) lines atomically per table, leaving the rest alone."""
    text = ""
    for table, lines in tables.items():
        if lines:
            text += f"*{table}\n" + "\n".join(lines) + "\nCOMMIT\n"
    if text:
        _run(["iptables-restore", "-w", "--noflush"], input=text)


def _base(current: dict[str, list[str]]) -> dict[str, list[str]]:
    """What is missing of our chains and the jumps to them."""
    add: dict[str, list[str]] = {"filter": [], "nat": []}
    for table, chains in CHAINS.items():
        for chain in chains:
            if not any(line.startswith(f":{chain} ") for line in current[table]):
                add[table].append(f":{chain} - [0:0]")
    for table, chain, spec in JUMPS:
        want = _line(chain, spec)
        if want not in current[table]:
            add[table].append(_line(chain, spec, "-I"))
    return add


def network_rules(bridge: str, subnet: str, internal: bool) -> dict[str, list[list[str]]]:
    """{table: [[chain, args…]]} of a network."""
    c = ["-m", "comment", "--comment", net_tag(bridge)]
    if internal:  # no way out, no way in, but between its own containers
        return {"filter": [[FORWARD, "-i", bridge, "!", "-o", bridge, *c, "-j", "DROP"],
                           [FORWARD, "-o", bridge, "!", "-i", bridge, *c, "-j", "DROP"],
                           [FORWARD, "-i", bridge, "-o", bridge, *c, "-j", "ACCEPT"]],
                "nat": []}
    return {"filter": [[FORWARD, "-i", bridge, *c, "-j", "ACCEPT"],
                       [FORWARD, "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", *c,
                        "-j", "ACCEPT"],
                       [FORWARD, "-o", bridge, "-m", "conntrack", "--ctstate", "DNAT", *c, "-j", "ACCEPT"]],
            "nat": [[POSTROUTING, "-s", subnet, "!", "-o", bridge, *c, "-j", "MASQUERADE"],
                    [POSTROUTING, "-s", "127.0.0.0/8", "-o", bridge, *c, "-j", "MASQUERADE"]]}


def ensure_network(bridge: str, subnet: str, internal: bool = False) -> None:
    """Our chains, the jumps and the network's rules, each added once: one
    iptables-save and at most one iptables-restore."""
    current = save()
    add = _base(current)
    tag = f'--comment "{net_tag(bridge)}"'
    for table, rules in network_rules(bridge, subnet, internal).items():
        if not any(tag in line for line in current[table]):
            add[table] += [_line(r[0], r[1:]) for r in rules]
    restore(add)


def remove_tagged(tag: str) -> int:
    """Deletes every rule of ours whose comment is `tag`; returns how many."""
    current = save()
    want = f'--comment "{tag}"'
    dels = {t: ["-D" + line[2:] for line in lines if line.startswith("-A ") and want in line]
            for t, lines in current.items()}
    restore(dels)
    return sum(len(v) for v in dels.values())


def tagged(prefix: str = "dockyard ") -> list[str]:
    """Rule lines whose comment starts with `prefix` (the leak check's question)."""
    want = f'--comment "{prefix}'
    return [line for lines in save().values() for line in lines if want in line]


def port_rules(cid: str, ip: str, ports: list[dict]) -> list[list[str]]:
    """[table, chain, args…] DNAT rules of a container's published ports."""
    out = []
    for p in ports:
        spec = ["-p", p["proto"]]
        if p["host_ip"] not in ("", "0.0.0.0"):
            spec += ["-d", p["host_ip"]]
        spec += ["--dport", str(p["host_port"]), "-m", "comment", "--comment", ctr_tag(cid),
                 "-j", "DNAT", "--to-destination", f"{ip}:{p['container_port']}"]
        out.append(["nat", DNAT, *spec])
    return out


def add_rules(rules: list[list[str]]) -> None:
    tables: dict[str, list[str]] = {}
    for table, chain, *spec in rules:
        tables.setdefault(table, []).append(_line(chain, spec))
    restore(tables)


def delete_argvs(rules: list[list[str]]) -> list[list[str]]:
    """One `iptables -D` per rule: each stands alone, so one already gone does
    not keep the others (what the monitor runs when the container ends)."""
    return [["iptables", "-w", "-t", table, "-D", chain, *spec] for table, chain, *spec in rules]
