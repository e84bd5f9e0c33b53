"""dockyard build for real: multi-stage with COPY --from, ARG/ENV expansion,
WORKDIR, USER, CMD; the image runs; the cache (all CACHED, mtime-only change,
one changed file, an ARG change, --no-cache); a failing RUN; broken
Dockerfiles; .dockerignore; --check --format json; config-only steps."""
import json
import os
import re
import tarfile

import pytest

from tests.conftest import run_cli

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE=localhost/busybox:latest
FROM ${BASE} AS build
ARG GREETING=hi
ENV APP=/app NAME=${GREETING:-x}
WORKDIR $APP
COPY src/ ./src/
RUN echo "$GREETING from $(pwd) as $NAME" > out.txt && cat out.txt
RUN <<EOF
echo heredoc > /app/here.txt
EOF

FROM localhost/busybox:latest
COPY --from=build /app/out.txt /app/here.txt /srv/
COPY src/*.txt /srv/
COPY --chown=1000:1000 --chmod=600 src/a.txt /srv/owned
RUN adduser -D -u 1000 app 2>/dev/null || echo 'app:x:1000:1000::/srv:/bin/sh' >> /etc/passwd
USER app
WORKDIR /srv
LABEL org.example.k="v 1"
EXPOSE 8080/tcp 53/udp
ENV FILE=archive.tar.gz
ENV EXT=${FILE##*.}
STOPSIGNAL SIGINT
CMD ["sh", "-c", "cat /srv/out.txt /srv/here.txt /srv/a.txt; id -u; echo $EXT"]
"""


@pytest.fixture
def ctx(tmp_path):
    c = tmp_path / "ctx"
    (c / "src").mkdir(parents=True)
    (c / "src" / "a.txt").write_text("hello\n")
    (c / "src" / "b.txt").write_text("world\n")
    (c / "secret.log").write_text("no\n")
    (c / ".dockerignore").write_text("*.log\n")
    (c / "Dockerfile").write_text(DOCKERFILE)
    return c


def build(root, ctx, *extra, check=True):
    return run_cli("build", *extra, str(ctx), root=root, check=check)


def steps(stderr: bytes) -> dict:
    """#N -> (title, cached)."""
    out, cached = {}, set()
    for line in stderr.decode().splitlines():
        m = re.match(r"#(\d+) (\[.*)$", line)
        if m:
            out[int(m.group(1))] = m.group(2)
        m = re.match(r"#(\d+) CACHED$", line)
        if m:
            cached.add(int(m.group(1)))
    return {n: (t, n in cached) for n, t in out.items()}


def test_build_runs_and_caches(root, ctx):
    p = build(root, ctx, "-t", "demo:1", "-t", "demo:2")
    iid = p.stdout.decode().strip().splitlines()[-1]
    assert iid.startswith("sha256:")
    err = p.stderr.decode()
    assert "hi from /app as hi" in err
    assert re.search(r"#\d+ DONE \d+\.\d+s", err)
    out = run_cli("run", "--rm", "demo:1", root=root).stdout.decode().split("\n")
    assert out[:6] == ["hi from /app as hi", "heredoc", "hello", "1000", "gz", ""]
    # The build cache's intermediate images: only with -a, and image prune keeps them.
    listed = run_cli("images", root=root).stdout.decode()
    assert "<none>" not in listed
    assert "<none>" in run_cli("images", "-a", root=root).stdout.decode()
    run_cli("image", "prune", "-f", root=root)
    assert "<none>" in run_cli("images", "-a", root=root).stdout.decode()

    cfg = json.loads(run_cli("inspect", "demo:2", root=root).stdout)[0]
    c = cfg["Config"]
    assert c["WorkingDir"] == "/srv" and c["User"] == "app"
    assert c["Labels"] == {"org.example.k": "v 1"}
    assert set(c["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    assert c["StopSignal"] == "SIGINT"
    assert "EXT=gz" in c["Env"] and not any(e.startswith(("APP=", "GREETING=")) for e in c["Env"])
    owned = run_cli("run", "--rm", "-u", "0", "demo:1", "stat", "-c", "%u:%g %a", "/srv/owned",
                    root=root).stdout.decode().strip()
    assert owned == "1000:1000 600"
    assert run_cli("run", "--rm", "demo:1", "ls", "/srv", root=root).stdout.decode().split() == \
        ["a.txt", "b.txt", "here.txt", "out.txt", "owned"]

    # layers == diff ids == non-empty history
    from engine import Engine
    eng = Engine(root)
    try:
        img = eng.inspect_image("demo:1")
        hist = [h for h in eng.history("demo:1")]
        n_layers = len(img["RootFS"]["Layers"])
        assert n_layers == sum(1 for h in hist if not h.empty_layer) == 1 + 4  # base + COPY x3 + RUN
        assert any(h.created_by.startswith("LABEL") and h.empty_layer for h in hist)
        assert eng.containers() == []
    finally:
        eng.close()

    # everything cached the second time
    p2 = build(root, ctx, "-t", "demo:1")
    assert p2.stdout.decode().strip().splitlines()[-1] == iid
    st = steps(p2.stderr)
    work = {n: v for n, v in st.items() if " FROM " not in v[0] and " ARG " not in v[0]}
    assert work and all(cached for _, cached in work.values()), p2.stderr.decode()

    # an mtime-only change keeps the cache
    os.utime(ctx / "src" / "a.txt", (1, 1))
    p3 = build(root, ctx)
    assert p3.stdout.decode().strip().splitlines()[-1] == iid

    # changing one copied file rebuilds from its COPY on, nothing earlier
    (ctx / "src" / "b.txt").write_text("changed\n")
    p4 = build(root, ctx)
    assert p4.stdout.decode().strip().splitlines()[-1] != iid
    st = steps(p4.stderr)
    rebuilt = [t for t, cached in st.values() if not cached and " FROM " not in t and " ARG " not in t]
    first = next(t for t in st.values() if "COPY src/ ./src/" in t[0])
    assert not first[1]  # the first stage's COPY src/ copies b.txt too
    assert all("stage-1" in t or "build" in t for t in rebuilt)
    envs = [t for t in st.values() if "ENV APP" in t[0]]
    assert envs and all(c for _, c in envs)  # before the COPY: cached

    # an ARG change misses from its first use
    p5 = build(root, ctx, "--build-arg", "GREETING=yo")
    st = steps(p5.stderr)
    assert [c for t, c in st.values() if "ENV APP" in t] == [False]
    assert "yo from /app as yo" in p5.stderr.decode()

    # --no-cache: nothing CACHED
    p6 = build(root, ctx, "--no-cache", "-q")
    assert p6.stdout.decode().strip().startswith("sha256:") and b"CACHED" not in p6.stderr


def test_target_and_dockerignore(root, ctx):
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:latest AS one\nCOPY . /ctx/\n"
                                    "FROM one AS two\nRUN exit 3\n")
    p = build(root, ctx, "--target", "one", "-t", "one")
    assert b"exit 3" not in p.stderr
    out = run_cli("run", "--rm", "one", "ls", "-a", "/ctx", "/ctx/src", root=root).stdout.decode()
    assert "secret.log" not in out and "a.txt" in out and "Dockerfile" in out


def test_failing_run(root, ctx):
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:latest\nRUN echo before\n"
                                    "RUN echo failing output; exit 7\nRUN echo never\n")
    p = build(root, ctx, "-t", "bad", check=False)
    assert p.returncode == 7, p.stderr.decode()
    err = p.stderr.decode()
    assert "failing output" in err and "exit code: 7" in err and "never" not in err
    from engine import Engine
    eng = Engine(root)
    try:
        assert eng.containers() == []
        assert not any("bad:latest" in " ".join(i.names) for i in eng.images())
        assert os.listdir(os.path.join(root, "containers")) == [] if os.path.isdir(
            os.path.join(root, "containers")) else True
    finally:
        eng.close()


BROKEN = [
    ("FROM localhost/busybox:latest\nRUNN x\n", "Dockerfile:2: unknown instruction: RUNN"),
    ("FROM localhost/busybox:latest\n\nCOPY onlyone\n", "Dockerfile:3: COPY requires at least two arguments"),
    ("ENV x=1\nFROM localhost/busybox:latest\n", "Dockerfile:1: no build stage in current context"),
    ("FROM localhost/busybox:latest\nCOPY missing.txt /x\n", "Dockerfile:2: "),
    ("FROM nosuch/image:1\n", "Dockerfile:1: nosuch/image:1: image not found"),
    ("FROM localhost/busybox:latest\nCOPY src/a.txt src/b.txt /nodir\n", "Dockerfile:2: When using COPY"),
    ("FROM localhost/busybox:latest\nADD http://example.invalid/x /x\n", "Dockerfile:2: ADD http://"),
    ("FROM localhost/busybox:latest\nENV A=${UNSET:?needs_A}\n", "Dockerfile:2: failed to process \"${UNSET:?needs_A}\": UNSET: needs_A"),
]


@pytest.mark.parametrize("text,msg", BROKEN)
def test_broken_dockerfiles(root, ctx, text, msg):
    (ctx / "Dockerfile").write_text(text)
    p = build(root, ctx, check=False)
    assert p.returncode == 125
    assert msg in p.stderr.decode(), p.stderr.decode()


def test_check_json(root, ctx):
    p = build(root, ctx, "--check", "--format", "json")
    doc = json.loads(p.stdout)
    ins = doc["instructions"]
    assert ins[0] == {"instruction": "ARG", "flags": [], "arguments": "BASE=localhost/busybox:latest",
                      "form": "shell", "heredocs": [], "start_line": 2, "end_line": 2}
    run_here = next(i for i in ins if i["heredocs"])
    assert run_here["heredocs"][0]["content"] == "echo heredoc > /app/here.txt\n"
    assert (run_here["start_line"], run_here["end_line"]) == (9, 11)
    assert ins[-1]["form"] == "exec"
    (ctx / "Dockerfile").write_text("FROM a\nRUNN x\n")
    p = build(root, ctx, "--check", check=False)
    assert p.returncode == 125 and b"Dockerfile:2: unknown instruction: RUNN" in p.stderr


CHECK_REFUSES = [
    ("FROM busybox\n\nENV PATH\n", "Dockerfile:3: ENV must have two arguments"),   # issue 11, defect 4
    ("FROM busybox\nLABEL key\n", "Dockerfile:2: LABEL must have two arguments"),
    ("FROM busybox\nARG =x\n", "Dockerfile:2: ARG names can not be blank"),
]


@pytest.mark.parametrize("text,msg", CHECK_REFUSES)
def test_check_refuses_what_buildkit_refuses(root, ctx, text, msg):
    (ctx / "Dockerfile").write_text(text)
    p = build(root, ctx, "--check", check=False)
    assert p.returncode == 125 and p.stdout == b""
    assert p.stderr.decode().strip().endswith(msg), p.stderr.decode()


def test_check_escaped_escape_ends_the_line(root, ctx):
    # issue 11, defect 6: `\\` at the end is an escaped backslash, not a continuation
    (ctx / "Dockerfile").write_text("FROM busybox\nENV C trailing\\\\backslash\\\\\nENV D next\n")
    ins = json.loads(build(root, ctx, "--check", "--format", "json").stdout)["instructions"]
    assert [(i["instruction"], i["arguments"], i["start_line"]) for i in ins] == [
        ("FROM", "busybox", 1), ("ENV", "C trailing\\\\backslash\\\\", 2), ("ENV", "D next", 3)]


def test_other_instructions(root, ctx, tmp_path):
    with tarfile.open(ctx / "files.tar.gz", "w:gz") as tf:
        tf.add(ctx / "src" / "a.txt", "inside/a.txt")
    (ctx / "Dockerfile").write_text(
        "FROM localhost/busybox:latest\n"
        "SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n"
        "ADD files.tar.gz /unpacked/\n"
        "ADD src/a.txt /added.txt\n"
        "COPY <<EOF /etc/motd\nhi $NAME\nEOF\n"
        "ENV NAME=x\n"
        "VOLUME /data\n"
        "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
        "ONBUILD RUN echo triggered > /onbuild.txt\n"
        "ENTRYPOINT [\"sh\", \"-c\"]\n"
        "WORKDIR /made/here\n"
        "RUN pwd > /pwd.txt\n")
    build(root, ctx, "-t", "other")
    out = run_cli("run", "--rm", "other", "cat /unpacked/inside/a.txt /added.txt /pwd.txt; test -d /made/here && echo ok",
                  root=root).stdout.decode().split("\n")
    assert out[:4] == ["hello", "hello", "/made/here", "ok"]
    cfg = json.loads(run_cli("inspect", "other", root=root).stdout)[0]["Config"]
    assert cfg["Shell"] == ["/bin/sh", "-e", "-c"]
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert cfg["OnBuild"] == ["RUN echo triggered > /onbuild.txt"]
    assert cfg["Entrypoint"] == ["sh", "-c"] and not cfg.get("Cmd")
    # ONBUILD runs in a build FROM that image
    (ctx / "Dockerfile").write_text("FROM other\nRUN cat /onbuild.txt\n")
    p = build(root, ctx, "-t", "child")
    assert "triggered" in p.stderr.decode()
    assert not json.loads(run_cli("inspect", "child", root=root).stdout)[0]["Config"].get("OnBuild")


def test_dockerfile_and_context_from_stdin(root, ctx, tmp_path):
    run_cli("build", "-f", "-", "-t", "fromstdin", str(ctx), root=root,
                input=b"FROM localhost/busybox:latest\nCOPY src/a.txt /a\nCMD [\"cat\", \"/a\"]\n")
    assert run_cli("run", "--rm", "fromstdin", root=root).stdout == b"hello\n"
    import io
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(ctx / "src" / "b.txt", "b.txt")
        data = b"FROM localhost/busybox:latest\nCOPY b.txt /b\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    run_cli("build", "-t", "tarctx", "-", root=root, input=buf.getvalue())
    assert run_cli("run", "--rm", "tarctx", "cat", "/b", root=root).stdout == b"world\n"


def test_workdir_made_under_user_belongs_to_that_user(root, ctx):
    """As BuildKit: the directories WORKDIR makes belong to the current USER,
    so the next RUN as that user can write there; existing ones keep theirs."""
    (ctx / "Dockerfile").write_text(
        "FROM localhost/busybox:latest\n"
        "USER nobody\n"
        "WORKDIR /home/app/data\n"
        "RUN touch made-by-nobody && stat -c '%U %a' /home/app /home/app/data /tmp made-by-nobody\n")
    p = build(root, ctx, "-t", "wd")
    assert p.returncode == 0, p.stderr.decode()
    out = run_cli("run", "--rm", "--user", "0", "wd", "stat", "-c", "%U %a %n", "/home/app", "/home/app/data",
                  "/tmp", "/home/app/data/made-by-nobody", root=root).stdout.decode().splitlines()
    assert out[0] == "nobody 755 /home/app" and out[1] == "nobody 755 /home/app/data"
    assert out[2].startswith("root ")
    assert out[3].startswith("nobody ")


def test_builder_prune_forgets_the_cache_and_keeps_tagged_images(root, ctx):
    build(root, ctx, "-t", "demo:1")
    cached_before = build(root, ctx, "-t", "demo:1")
    assert all(c for t, c in steps(cached_before.stderr).values() if " FROM " not in t and " ARG " not in t)
    assert "<none>" in run_cli("images", "-a", root=root).stdout.decode()
    df_before = run_cli("system", "df", root=root).stdout.decode()
    p = run_cli("builder", "prune", "-f", root=root)
    out = p.stdout.decode()
    assert out.startswith("Deleted build cache objects:") and "Total reclaimed space:" in out
    # the intermediate images are gone, the tagged one stays and runs
    assert "<none>" not in run_cli("images", "-a", root=root).stdout.decode()
    assert run_cli("run", "--rm", "demo:1", "true", root=root).returncode == 0
    build_cache_row = [l for l in run_cli("system", "df", root=root).stdout.decode().splitlines()
                       if l.startswith("Build Cache")]
    assert build_cache_row and build_cache_row[0].split()[4] == "0B", (df_before, build_cache_row)
    # and the next build starts from scratch: nothing CACHED
    again = build(root, ctx, "-t", "demo:1")
    work = {n: v for n, v in steps(again.stderr).items() if " FROM " not in v[0] and " ARG " not in v[0]}
    assert work and not any(c for _, c in work.values()), again.stderr.decode()
    assert run_cli("builder", "prune", "-f", root=root).returncode == 0


def test_words_are_expanded_as_buildkit_does(root, ctx):
    """As BuildKit: COPY's line is split on blanks and each item expanded as
    one word (a variable holding "a b" names one file), and WORKDIR's whole
    rest of the line is one path."""
    (ctx / "src" / "two words.txt").write_text("spaced\n")
    (ctx / "Dockerfile").write_text(
        "FROM localhost/busybox:latest\n"
        'ARG S="src/two words.txt"\n'
        "COPY $S /copied\n"
        "WORKDIR /srv/my app\n"
        "RUN pwd > /where\n")
    p = build(root, ctx, "-t", "words")
    assert p.returncode == 0, p.stderr.decode()
    out = run_cli("run", "--rm", "words", "cat", "/copied", "/where", root=root).stdout
    assert out == b"spaced\n/srv/my app\n"
