#!/usr/bin/env bash
# Everything dockyard needs on a fresh Debian 12 machine: Debian packages, a
# venv at .venv with the project installed. Safe to run again: it only does
# what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "setup: run as root (sudo $0): containers need namespaces, mounts and cgroups" >&2
        exit 1
    fi
}

# Debian packages: the engine's needs (busybox-static for the starter image)
# and the peers the tests and benchmarks compare against; docker-registry and
# apache2-utils (htpasswd) for the registry tests on 127.0.0.1; iptables for
# the bridge network's NAT and published ports.
pkgs="python3 python3-venv python3-dev busybox-static skopeo podman runc tmux docker-registry apache2-utils iptables"
if [ "${DOCKYARD_SETUP_EXTRA:-}" != "" ]; then pkgs="$pkgs $DOCKYARD_SETUP_EXTRA"; fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    need_root
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# A Python >= 3.11 for the venv: the one on PATH if new enough, else Debian's.
py=""
for cand in python3.13 python3.12 python3.11 python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        py=$(command -v "$cand"); break
    fi
done
[ -n "$py" ] || { echo "setup: no Python >= 3.11 found" >&2; exit 1; }

stamp=.venv/.dockyard-setup
# The stamp changes with pyproject.toml and with how we install (below).
want=$( (cat pyproject.toml; echo "editable_mode=compat") | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: making .venv with $py"
    [ -x .venv/bin/python ] || "$py" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    # compat: a plain path entry; the default editable finder imports pathlib,
    # urllib and more at every interpreter start (11 ms of each dockyard command)
    .venv/bin/python -m pip install -q -e ".[test]" --config-settings editable_mode=compat
    echo "$want" > "$stamp"
fi
