#!/usr/bin/env bash
# dockyard's image benchmark: load and save of a ~200 MB image against podman and
# skopeo, in the same run, on this machine. Run by hand, as root; not part of
# the test suite. Installs the peers if missing and uses the repo's .venv
# (made by scripts/setup.sh when missing).
#
#   bench/run.sh                      # 5 runs each, median; prints the table
#   bench/run.sh --runs 3 --keep      # options go to bench/bench_images.py (--help)
#
# Environment: DOCKYARD_BENCH_DIR (work dir, default /var/tmp/dockyard-bench,
# removed at the end), BENCH_RUNS, BENCH_SETTLE (seconds to wait after a delete).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "$(id -u)" != 0 ]; then
    echo "bench: run as root (sudo $0): podman's rootful storage and fresh roots need it" >&2
    exit 1
fi

pkgs="podman skopeo runc busybox-static hyperfine time"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "bench: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    scripts/setup.sh
fi

exec .venv/bin/python bench/bench_images.py "$@"
