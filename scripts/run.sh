#!/usr/bin/env bash
# Set up what is missing, then open the TUI (it makes the starter image
# localhost/busybox:latest on the first start).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
exec "$here/.venv/bin/dockyard" "$@"
