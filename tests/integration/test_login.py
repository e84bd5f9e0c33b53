"""`dockyard login` / `logout` as a user runs them, against Debian's
docker-registry with htpasswd auth on 127.0.0.1 (started here, killed by its
pid at the end). DOCKER_CONFIG points into the test's tmp dir: the real
~/.docker is never touched."""
import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys

import pytest

from tests.conftest import ROOT, need_tool, run_cli, wait_for

USER, PASSWORD = "tester", "c0rrect-h0rse"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """host:port of a docker-registry asking for htpasswd basic auth."""
    exe = need_tool("docker-registry")
    need_tool("htpasswd")
    d = tmp_path_factory.mktemp("registry")
    hashed = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True).stdout
    (d / "htpasswd").write_bytes(hashed)
    port = _free_port()
    (d / "config.yml").write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {d / 'data'}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd:
    realm: dockyard-test
    path: {d / 'htpasswd'}
""")
    log = open(d / "registry.log", "wb")
    proc = subprocess.Popen([exe, "serve", str(d / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is not None or _answers(port), "the registry")
        assert proc.poll() is None, (d / "registry.log").read_text()
        yield f"127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """DOCKER_CONFIG in tmp_path (run_cli passes os.environ on); returns config.json's path."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "dockyard.yaml"))
    return tmp_path / "docker" / "config.json"


def _cli(tmp_path, *args, input=None):
    return run_cli(*args, root=str(tmp_path / "root"), input=input, check=False)


def _out(p):
    return p.stdout.decode() + p.stderr.decode()


def test_login_with_the_right_password(registry, env, tmp_path):
    p = _cli(tmp_path, "login", "-u", USER, "--password-stdin", registry, input=PASSWORD.encode() + b"\n")
    assert p.returncode == 0, _out(p)
    assert p.stdout.decode().splitlines()[-1] == "Login Succeeded"
    assert f"stored unencrypted in {env}" in p.stderr.decode()
    assert PASSWORD not in _out(p)
    entry = json.loads(env.read_text())["auths"][registry]
    assert base64.b64decode(entry["auth"]).decode() == f"{USER}:{PASSWORD}"
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o600

    # again with no flags: docker's "existing credentials" check, no prompt needed
    p = _cli(tmp_path, "login", registry, input=b"")
    assert p.returncode == 0, _out(p)
    assert p.stdout.decode().splitlines() == ["Authenticating with existing credentials...", "Login Succeeded"]

    p = _cli(tmp_path, "logout", registry)
    assert p.returncode == 0 and p.stdout.decode() == f"Removing login credentials for {registry}\n"
    assert registry not in json.loads(env.read_text())["auths"]
    p = _cli(tmp_path, "logout", registry)
    assert p.returncode == 0 and p.stdout.decode() == f"Not logged in to {registry}\n"


def test_login_with_a_wrong_password(registry, env, tmp_path):
    env.parent.mkdir()
    env.write_text(json.dumps({"auths": {"other.example": {"auth": "b3RoZXI6cHc="}}, "psFormat": "x"}))
    p = _cli(tmp_path, "login", "-u", USER, "--password-stdin", registry, input=b"not-the-password\n")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert f"login attempt to http://{registry}/v2/ failed with status: 401 Unauthorized" in err
    assert "incorrect username or password" in err and "not-the-password" not in _out(p)
    assert "Login Succeeded" not in p.stdout.decode()
    assert json.loads(env.read_text()) == {"auths": {"other.example": {"auth": "b3RoZXI6cHc="}}, "psFormat": "x"}


def test_password_flag_warns(registry, env, tmp_path):
    p = _cli(tmp_path, "login", "-u", USER, "-p", PASSWORD, registry)
    assert p.returncode == 0, _out(p)
    assert "WARNING! Using --password via the CLI is insecure. Use --password-stdin." in p.stderr.decode()
    assert PASSWORD not in _out(p)


def test_usage_errors(registry, env, tmp_path):
    p = _cli(tmp_path, "login", "--password-stdin", registry, input=b"x\n")
    assert p.returncode == 1 and "Must provide --username with --password-stdin" in p.stderr.decode()
    p = _cli(tmp_path, "login", "-p", "x", "--password-stdin", "-u", USER, registry, input=b"x\n")
    assert p.returncode == 1 and "--password and --password-stdin are mutually exclusive" in p.stderr.decode()
    p = _cli(tmp_path, "login", registry, input=b"")
    assert p.returncode == 1 and "Cannot perform an interactive login from a non TTY device" in p.stderr.decode()
    assert not env.exists()


def test_prompts_on_a_terminal_without_echo(registry, env, tmp_path):
    """Username and Password asked on the terminal; the password is not echoed."""
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(DOCKYARD_ROOT=str(tmp_path / "root"), PYTHONPATH=ROOT)
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "tui.cli", "login", registry])
    seen = b""

    def read_until(word: bytes) -> None:
        nonlocal seen
        while word not in seen:
            chunk = os.read(fd, 1024)
            assert chunk, seen
            seen += chunk

    try:
        read_until(b"Username: ")
        os.write(fd, USER.encode() + b"\n")
        read_until(b"Password: ")
        os.write(fd, PASSWORD.encode() + b"\n")
        read_until(b"Login Succeeded")
    finally:
        try:
            while os.read(fd, 1024):
                pass
        except OSError:
            pass
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert PASSWORD.encode() not in seen
    assert USER.encode() in seen  # the username is echoed, as docker's prompt does
    assert registry in json.loads(env.read_text())["auths"]
