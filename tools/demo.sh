#!/usr/bin/env bash
# The main job, as a user runs it, in a fresh temporary folder: create a detection workspace, swap its
# backbone for mmdet.RegNet (diff first), try mmseg.HRNet (which needs user input), fill that input in,
# build again, and show that a second build changes nothing.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$root/.venv/bin:$PATH"
demo_dir=$(mktemp -d)
cd "$demo_dir" || exit 2

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
expect() {  # expect CODE COMMAND...: run it, fail the demo if the exit code differs
    local want=$1; shift
    step "$*"
    "$@"
    local got=$?
    if [ "$got" != "$want" ]; then echo "demo: '$*' exited $got, expected $want" >&2; exit 1; fi
}

echo "demo folder: $demo_dir"
expect 0 otxgen find --backbone mmdet
expect 0 otxgen build --task detection
cd otx-workspace-DETECTION || exit 2
expect 0 otxgen build --backbone mmdet.RegNet --diff
expect 0 otxgen build --backbone mmdet.RegNet
expect 1 otxgen build --backbone mmseg.HRNet
step "edit backbone.yaml (fill in HRNet-W18's 'extra', keeping its \$schema line)"
cat backbone.yaml
{ head -n 1 backbone.yaml; cat <<'YAML'
backbone:
  type: mmseg.HRNet
  extra:
    stage1: {num_modules: 1, num_branches: 1, block: BOTTLENECK, num_blocks: [4], num_channels: [64]}
    stage2: {num_modules: 1, num_branches: 2, block: BASIC, num_blocks: [4, 4], num_channels: [18, 36]}
    stage3: {num_modules: 4, num_branches: 3, block: BASIC, num_blocks: [4, 4, 4], num_channels: [18, 36, 72]}
    stage4: {num_modules: 3, num_branches: 4, block: BASIC, num_blocks: [4, 4, 4, 4], num_channels: [18, 36, 72, 144]}
YAML
} >backbone.yaml.new && mv backbone.yaml.new backbone.yaml
cat backbone.yaml
expect 0 otxgen validate backbone.yaml
expect 0 otxgen build --backbone backbone.yaml
expect 0 otxgen build --backbone backbone.yaml --check
echo
echo "demo: done (workspace in $demo_dir/otx-workspace-DETECTION)"
