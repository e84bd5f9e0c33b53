"""`dockyard login` and `dockyard logout`: docker's flags, prompts and
messages (docker/cli cli/command/registry/login.go, logout.go). The
credentials are checked against the registry before they are kept, in
docker's config.json ($DOCKER_CONFIG) or its credential helper; a secret is
never printed."""
import sys

from engine import Engine
from engine.errors import DockyardError


def add_parsers(sub) -> None:
    p = sub.add_parser("login", help="log in to a registry", usage="dockyard login [OPTIONS] [SERVER]",
                       description="Log in to a registry. If no server is specified, the default is Docker Hub.")
    p.add_argument("-u", "--username", default="", help="username")
    p.add_argument("-p", "--password", default="", help="password")
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    p.add_argument("server", nargs="?", metavar="SERVER")
    p.set_defaults(func=login)
    p = sub.add_parser("logout", help="log out from a registry", usage="dockyard logout [SERVER]",
                       description="Log out from a registry. If no server is specified, the default is Docker Hub.")
    p.add_argument("server", nargs="?", metavar="SERVER")
    p.set_defaults(func=logout)


def login(eng: Engine, args) -> int:
    try:
        return _login(args)
    except DockyardError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1


def _login(args) -> int:
    from engine import registry_login
    user, password = args.username.strip(), args.password
    if password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
        if args.password_stdin:
            return _error("--password and --password-stdin are mutually exclusive")
    if args.password_stdin:
        if not user:
            return _error("Must provide --username with --password-stdin")
        password = sys.stdin.read()
        password = password.removesuffix("\n").removesuffix("\r")
    server = args.server or None
    if not user and not password and _existing(server):
        return 0
    if not user or not password:
        if not sys.stdin.isatty():
            return _error("Cannot perform an interactive login from a non TTY device")
        if not user:
            from engine import registry_stored_username
            default = registry_stored_username(server)
            user = _ask(f"Username ({default}): " if default else "Username: ").strip() or (default or "")
            if not user:
                return _error("Non-null Username Required")
        if not password:
            password = _ask_secret("Password: ")
            if not password:
                return _error("Password Required")
    got = registry_login(server, user, password)
    if got.helper is None:
        print(f"WARNING! Your password will be stored unencrypted in {got.path}.\n"
              "Configure a credential helper to remove this warning. See\n"
              "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n", file=sys.stderr)
    print("Login Succeeded")
    return 0


def _existing(server) -> bool:
    """docker's first try, with no -u and no -p: the credentials already kept."""
    from engine import LoginFailed, registry_relogin
    try:
        if not registry_relogin(server, announce=lambda: print("Authenticating with existing credentials...",
                                                               flush=True)):
            return False
    except LoginFailed as e:
        print(f"Login did not succeed, error: {e}", file=sys.stderr)
        return False
    print("Login Succeeded")
    return True


def _error(msg: str) -> int:
    print(f"Error: {msg}", file=sys.stderr)
    return 1


def _ask(prompt: str) -> str:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise KeyboardInterrupt  # end of input at a prompt: as docker, give up
    return line.rstrip("\r\n")


def _ask_secret(prompt: str) -> str:
    """A line from the terminal on stdin, not echoed (getpass would use
    /dev/tty, which a zygote's worker does not have: its stdin is the caller's)."""
    import termios
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~termios.ECHO
    try:
        # echo off before the prompt shows, and no flush: what is typed after it must not be lost or shown
        termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
        sys.stdout.write(prompt)
        sys.stdout.flush()
        line = sys.stdin.readline()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
        sys.stdout.write("\n")
        sys.stdout.flush()
    if not line:
        raise KeyboardInterrupt
    return line.rstrip("\r\n")


def logout(eng: Engine, args) -> int:
    from engine import registry_logout
    try:
        name, had = registry_logout(args.server or None)
    except DockyardError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    if not had:
        print(f"Not logged in to {name}")
    else:
        print(f"Removing login credentials for {name}")
    return 0
