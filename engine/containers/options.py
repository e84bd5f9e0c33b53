"""What a user asks of a container: docker run's flags, as one dataclass."""
from dataclasses import dataclass, field


@dataclass
class RunOptions:
    image: str
    command: list[str] | None = None        # replaces the image's CMD
    entrypoint: list[str] | None = None     # replaces ENTRYPOINT; [""] clears it
    name: str | None = None
    env: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    tty: bool = False
    interactive: bool = False
    autoremove: bool = False
    volumes: list[str] = field(default_factory=list)       # -v SRC:DST[:ro|rw]
    tmpfs: list[str] = field(default_factory=list)         # --tmpfs DST[:opts]
    read_only: bool = False
    init: bool = False
    network: str = "none"                                  # none | host | bridge | a user network (engine/network)
    publish: list[str] = field(default_factory=list)       # -p [ip:][hostport:]containerport[/proto]
    publish_all: bool = False                              # -P: every EXPOSEd port, host ports chosen at start
    ip: str | None = None                                  # --ip on the --network (a user network)
    mac_address: str | None = None
    network_alias: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)      # HOST:IP, IP may be host-gateway
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    # the networks attached at start, [{name, ip, aliases, mac}], --network's first (set by create,
    # changed by network connect/disconnect); None in containers made before user networks
    networks: list[dict] | None = None
    memory: int | None = None                              # bytes
    cpus: float | None = None
    pids_limit: int | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    privileged: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    log_max_size: int = 10 * 1024 * 1024
    log_max_files: int = 3
