"""The request `dockyard` sends to its worker (tui/cli/worker.py): fields
split by NUL (which no argument or environment entry can hold): the umask,
the number of arguments, the arguments, then the environment as KEY=VALUE.
A module of its own so that the caller loads nothing else."""
import os


def encode_request(argv: list[str], env: dict[str, str], umask: int) -> bytes:
    fields = [str(umask), str(len(argv)), *argv, *(f"{k}={v}" for k, v in env.items())]
    return b"\0".join(os.fsencode(f) for f in fields)


def decode_request(payload: bytes) -> tuple[list[str], dict[str, str], int]:
    fields = [os.fsdecode(f) for f in payload.split(b"\0")]
    umask, n = int(fields[0]), int(fields[1])
    argv = fields[2:2 + n]
    env = dict(f.split("=", 1) for f in fields[2 + n:] if "=" in f)
    return argv, env, umask
