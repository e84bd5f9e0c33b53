#!/usr/bin/env bash
# Set up what is missing, then run the whole test suite. As root the
# integration tests run for real (namespaces, mounts, podman, skopeo); under
# CI=true nothing may skip.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
exec .venv/bin/python -m pytest -q -ra "$@" tests
