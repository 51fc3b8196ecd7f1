#!/usr/bin/env bash
# The main job, on a built-in workspace, in a fresh temporary directory.
set -euo pipefail
otxgen="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/otxgen"
demo_dir=$(mktemp -d)
cd "$demo_dir"
echo "== otxgen find --backbone mmdet (in $demo_dir)"
"$otxgen" find --backbone mmdet
